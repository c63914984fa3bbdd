"""Consumer-group lag of lapsewatch's own group: committed offset against end offset.

The group's committed offsets are read with OffsetFetch through a consumer
that never joins the group (so asking does not trigger a rebalance); the
oldest unprocessed record's age comes from the timestamp of the record at
the committed offset.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.kafka.end_offsets import end_offsets


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None  # None: the group never committed here (it starts from the beginning)
    end: int
    lag: int
    oldest_age: float | None  # seconds since the oldest unprocessed record was written; None if none or unknown


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
) -> LagReport:
    """Lag of `group` on each partition of `topics`. Raises aiokafka's KafkaError when the broker is unreachable."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        request_timeout_ms=int(timeout * 1000),
        **(client_options or {}),
    )
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
        rows = []
        for tp in partitions:
            committed = await consumer.committed(tp)
            position = committed if committed is not None else starts[tp]
            lag = max(0, ends[tp] - position)
            age = await _age_at(consumer, tp, position, timeout) if ages and lag else None
            rows.append(PartitionLag(tp.topic, tp.partition, committed, ends[tp], lag, age))
        return LagReport(group, time.time(), rows, missing)
    finally:
        await consumer.stop()


async def _age_at(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int, timeout: float) -> float | None:
    """Seconds since the record at `offset` was written (None if it cannot be read in time)."""
    consumer.assign([tp])
    consumer.seek(tp, offset)
    try:
        batch = await consumer.getmany(tp, timeout_ms=int(min(timeout, 2.0) * 1000), max_records=1)
    finally:
        consumer.unsubscribe()
    records = batch.get(tp) or []
    if not records or records[0].timestamp is None or records[0].timestamp < 0:
        return None
    return max(0.0, time.time() - records[0].timestamp / 1000.0)


def humanise_age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.1f}s"
