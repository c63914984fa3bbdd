"""Consumer-group lag of lapsewatch's groups: committed offset against end offset.

A worker commits under two groups (settings.groups): the input reader's,
`<app id>-input`, on the two input topics, and Faust's, `<app id>`, on the
control and repartition topics. Each group's committed offsets are read with
OffsetFetch through a consumer that never joins the group (so asking does not
trigger a rebalance); the oldest unprocessed record's age comes from the
timestamp of the record at the committed offset.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from streams.kafka.end_offsets import end_offsets


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None  # None: never committed here (nor by inherit_from): counted from the first record
    end: int
    lag: int
    oldest_age: float | None  # seconds since the oldest unprocessed record was written; None if none or unknown
    # The group whose offset `committed` is, where this group never committed (measure_lag's inherit_from).
    inherited_from: str | None = None


@dataclass(frozen=True, slots=True)
class LagReport:
    group: str
    measured_at: float
    partitions: list[PartitionLag]
    missing: list[str]  # topics the group would read that do not exist (yet)

    @property
    def total(self) -> int:
        return sum(p.lag for p in self.partitions)

    def by_topic(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for p in self.partitions:
            totals[p.topic] = totals.get(p.topic, 0) + p.lag
        return totals

    def oldest_age(self) -> float | None:
        return max((p.oldest_age for p in self.partitions if p.oldest_age is not None), default=None)

    def to_dict(self) -> dict:
        return {
            "group": self.group,
            "measured_at": self.measured_at,
            "total_lag": self.total,
            "oldest_unprocessed_age_seconds": self.oldest_age(),
            "topics": self.by_topic(),
            "missing_topics": self.missing,
            "partitions": [asdict(p) for p in self.partitions],
        }


async def measure_lag(
    bootstrap: str,
    group: str,
    topics: list[str],
    *,
    ages: bool = True,
    timeout: float = 10.0,
    client_options: dict | None = None,
    inherit_from: str | None = None,
) -> LagReport:
    """Lag of `group` on each partition of `topics`. Raises aiokafka's KafkaError when the broker is unreachable.

    A partition `group` never committed counts from `inherit_from`'s committed offset when that group has one
    (the input reader starts where Faust's group of earlier versions stopped), else from its first retained record.
    """
    consumer = _reader(bootstrap, group, timeout, client_options)
    try:
        await asyncio.wait_for(consumer.start(), timeout)
        await consumer.topics()  # refreshes metadata for partitions_for_topic
        partitions: list[TopicPartition] = []
        missing: list[str] = []
        for topic in topics:
            numbers = consumer.partitions_for_topic(topic)
            if not numbers:
                missing.append(topic)
                continue
            partitions.extend(TopicPartition(topic, n) for n in sorted(numbers))
        if not partitions:
            return LagReport(group, time.time(), [], missing)
        ends = await end_offsets(consumer, partitions)
        starts = await consumer.beginning_offsets(partitions)
        committed = {tp: await consumer.committed(tp) for tp in partitions}
        inherited: dict[TopicPartition, int] = {}
        never = [tp for tp, offset in committed.items() if offset is None]
        if inherit_from is not None and never:
            inherited = await _committed(bootstrap, inherit_from, never, timeout, client_options)
        rows = []
        for tp in partitions:
            offset = committed[tp] if committed[tp] is not None else inherited.get(tp)
            # An offset the retention has passed resumes at the first retained record, as a reader does.
            position = starts[tp] if offset is None else max(offset, starts[tp])
            lag = max(0, ends[tp] - position)
            age = await _age_at(consumer, tp, position, timeout) if ages and lag else None
            source = inherit_from if tp in inherited else None
            rows.append(PartitionLag(tp.topic, tp.partition, offset, ends[tp], lag, age, source))
        return LagReport(group, time.time(), rows, missing)
    finally:
        await consumer.stop()


@dataclass(frozen=True, slots=True)
class DeploymentLag:
    """The lag of every consumer group of a deployment, each on its own topics."""

    reports: list[LagReport]

    @property
    def measured_at(self) -> float:
        return max((report.measured_at for report in self.reports), default=0.0)

    @property
    def total(self) -> int:
        return sum(report.total for report in self.reports)

    @property
    def missing(self) -> list[str]:
        return [topic for report in self.reports for topic in report.missing]

    def by_topic(self) -> dict[str, int]:
        return {topic: lag for report in self.reports for topic, lag in report.by_topic().items()}

    def oldest_age(self) -> float | None:
        return max((age for report in self.reports if (age := report.oldest_age()) is not None), default=None)

    def to_dict(self) -> dict:
        """The fields of one group's report, summed over all groups (each partition naming its group), and `groups`."""
        return {
            "measured_at": self.measured_at,
            "total_lag": self.total,
            "oldest_unprocessed_age_seconds": self.oldest_age(),
            "topics": self.by_topic(),
            "missing_topics": self.missing,
            "partitions": [{"group": report.group, **asdict(p)} for report in self.reports for p in report.partitions],
            "groups": [report.to_dict() for report in self.reports],
        }


async def measure_groups(
    bootstrap: str,
    groups: Mapping[str, Sequence[str]],
    *,
    inherit: Mapping[str, str] | None = None,
    ages: bool = True,
    timeout: float = 10.0,
    client_options: dict | None = None,
) -> DeploymentLag:
    """measure_lag for each group on its topics (settings.groups), side by side; `inherit` maps a group to its
    measure_lag `inherit_from`."""
    reports = await asyncio.gather(
        *(
            measure_lag(
                bootstrap,
                group,
                list(topics),
                ages=ages,
                timeout=timeout,
                client_options=client_options,
                inherit_from=(inherit or {}).get(group),
            )
            for group, topics in groups.items()
        )
    )
    return DeploymentLag(list(reports))


def _reader(bootstrap: str, group: str | None, timeout: float, client_options: dict | None) -> AIOKafkaConsumer:
    """A consumer that reads `group`'s offsets (None: no group) and never joins it (it never subscribes)."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        request_timeout_ms=int(timeout * 1000),
        **(client_options or {}),
    )


async def _committed(
    bootstrap: str, group: str, partitions: list[TopicPartition], timeout: float, client_options: dict | None
) -> dict[TopicPartition, int]:
    """`group`'s committed offsets on those of `partitions` where it has one."""
    consumer = _reader(bootstrap, group, timeout, client_options)
    try:
        await asyncio.wait_for(consumer.start(), timeout)
        found = {tp: await consumer.committed(tp) for tp in partitions}
    finally:
        await consumer.stop()
    return {tp: offset for tp, offset in found.items() if offset is not None}


async def _age_at(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int, timeout: float) -> float | None:
    """Seconds since the record at `offset` was written (None if it cannot be read in time)."""
    consumer.assign([tp])
    consumer.seek(tp, offset)
    try:
        batch = await consumer.getmany(tp, timeout_ms=int(min(timeout, 2.0) * 1000), max_records=1)
    finally:
        consumer.unsubscribe()
    records = batch.get(tp) or []
    written = _written_at(records[0]) if records else None
    return None if written is None else max(0.0, time.time() - written)


def _written_at(record) -> float | None:
    """The record's write time in Unix seconds; None where the broker kept none."""
    return None if record.timestamp is None or record.timestamp < 0 else record.timestamp / 1000.0


async def record_timestamps(
    bootstrap: str, offsets: Mapping[TopicPartition, int], timeout: float, client_options: dict | None = None
) -> dict[TopicPartition, float]:
    """The write time (Unix seconds) of the record at each partition's offset, where it can be read in `timeout`.

    Without a group, so reading never disturbs anyone's offsets; a partition with no such record is left out.
    """
    found: dict[TopicPartition, float] = {}
    if not offsets:
        return found
    consumer = _reader(bootstrap, None, timeout, client_options)

    async def read() -> None:
        await consumer.start()
        consumer.assign(list(offsets))
        for tp, offset in offsets.items():
            consumer.seek(tp, offset)
        while len(found) < len(offsets):
            for tp, records in (await consumer.getmany(timeout_ms=200, max_records=len(offsets))).items():
                written = _written_at(records[0]) if tp not in found and records else None
                if written is not None:
                    found[tp] = written
                    consumer.pause(tp)  # the first record is the one wanted

    try:
        await asyncio.wait_for(read(), timeout)
    except (TimeoutError, KafkaError):
        pass  # what was read in time is kept; the rest is asked again next time
    finally:
        await consumer.stop()
    return found


def humanise_age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.1f}s"
