"""The worker's web endpoints for operators and orchestrators: /healthz, /readyz, /metrics."""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import TopicPartition
from aiokafka.errors import ConsumerStoppedError, KafkaError
from faust.web import Request, Response, View

from streams import topics
from streams.accounts import intake
from streams.app import app, broker_url, settings
from streams.core import metrics
from streams.domains.due import PRIORITY_NAMES
from streams.domains.scheduler import checker, ready
from streams.domains.table import due
from streams.ops import lag
from streams.settings import bootstrap_servers

_joined = False


@app.on_partitions_assigned.connect  # type: ignore[arg-type]  # Faust calls it (app, assigned, signal=...); SignalHandlerT wants *args too
async def _assigned(app, assigned, **kwargs) -> None:
    global _joined
    _joined = True


def input_reader() -> intake.Intake | None:
    """The input reader (streams/accounts/intake.py), once it has started its consumer and until it stops; else None.

    A read loop that fails crashes the service, and a crashed service stops: neither counts as running.
    """
    reader = intake.running[0] if intake.running else None
    if reader is None or reader.consumer is None or not reader.started or reader.should_stop:
        return None
    return reader


def readiness() -> tuple[bool, dict]:
    """Ready: joined Faust's group, not rebalancing, tables recovered, input reader running, no provider circuit open.

    `joined_group` is Faust's group (the app id). The input reader's group (`<app id>-input`) is not waited for: with
    more workers than input partitions a worker rightly owns none of them.
    """
    circuits = checker.breakers.open_servers()
    reader = input_reader()
    checks = {
        "joined_group": _joined,
        "tables_recovered": ready(),
        "input_reader_running": reader is not None,
        "provider_circuits_closed": not circuits,
    }
    return all(checks.values()), {
        **checks,
        "open_circuits": circuits,
        "partitions": len(app.assignor.assigned_actives()),
        "input_partitions": len(reader.consumer.assignment()) if reader is not None and reader.consumer else 0,
    }


# RocksDB properties behind lapsewatch_table_memory_bytes: bounded per partition by topics.STORE_OPTIONS.
TABLE_MEMORY = {"memtables": "rocksdb.cur-size-all-mem-tables", "block_cache": "rocksdb.block-cache-usage"}


def table_memory() -> list[tuple[tuple[str, str], float]]:
    """Bytes of RocksDB memory per table and kind, summed over this worker's open partitions."""
    samples = []
    for table in (topics.accounts, topics.domains):
        databases = list(getattr(table.data, "_dbs", {}).values())  # Faust keeps no public accessor
        for kind, prop in TABLE_MEMORY.items():
            total = sum(db.property_int_value(prop) or 0 for db in databases if hasattr(db, "property_int_value"))
            samples.append(((table.name, kind), float(total)))
    return samples


log = logging.getLogger("lapsewatch.web")
# The input group's offsets as last measured (input_lags), for a scrape the coordinator does not answer in time.
_input_committed: dict[TopicPartition, int | None] = {}
_input_offsets_failing = False
INPUT_OFFSETS_TIMEOUT = 2.0


async def input_lags(timeout: float = INPUT_OFFSETS_TIMEOUT) -> list[tuple[tuple[str, str], float]]:
    """The input reader's lag on each input partition it owns: highwater − the input group's committed offset.

    aiokafka keeps no committed offsets, so they are asked of the group coordinator (one OffsetFetch per partition,
    as `lapsewatch lag` does). A partition the group never committed counts from the reader's position: where it
    started (on an upgrade, where Faust's group stopped).
    """
    global _input_offsets_failing
    reader = input_reader()
    if reader is None or reader.consumer is None:
        _input_committed.clear()
        _input_waiting.clear()  # else the ages of partitions no longer read would go on growing
        return []
    consumer = reader.consumer
    owned = sorted(consumer.assignment())
    try:
        found = await asyncio.wait_for(asyncio.gather(*(consumer.committed(tp) for tp in owned)), timeout)
    except (TimeoutError, KafkaError, ConsumerStoppedError) as exc:
        if not _input_offsets_failing:
            log.warning(
                "input offsets not read (%s): lapsewatch_consumer_lag keeps their last values", exc or "timeout"
            )
        _input_offsets_failing = True
    else:
        _input_offsets_failing = False
        _input_committed.clear()
        _input_committed.update(zip(owned, found, strict=True))
    owned = [tp for tp in owned if tp in consumer.assignment() and tp in _input_committed]  # not revoked meanwhile
    # Never committed: the position where the reader started, asked all at once so a scrape waits `timeout` at most.
    fresh = [tp for tp in owned if _input_committed[tp] is None]
    positions: dict[TopicPartition, int] = {}
    if fresh:
        try:
            started = await asyncio.wait_for(asyncio.gather(*(consumer.position(tp) for tp in fresh)), timeout)
        except (TimeoutError, KafkaError, ConsumerStoppedError):
            pass  # assigned just now, or revoked meanwhile: measured next scrape
        else:
            positions.update(zip(fresh, started, strict=True))
    lags = []
    _input_waiting.clear()
    for tp in owned:
        highwater = consumer.highwater(tp) if tp in consumer.assignment() else None
        committed = _input_committed[tp]
        if committed is None:
            committed = positions.get(tp)
        if committed is not None and highwater is not None and highwater >= 0:
            lags.append(((tp.topic, str(tp.partition)), float(max(0, highwater - committed))))
            _input_waiting[tp] = committed if highwater > committed else None
    return lags


# Per input partition measured by input_lags: the offset of its oldest unprocessed record, None when none waits.
_input_waiting: dict[TopicPartition, int | None] = {}
# The write time of the record at that offset, kept while the offset stays: a stuck partition is read once.
_written_at: dict[TopicPartition, tuple[int, float]] = {}


async def input_ages(timeout: float = INPUT_OFFSETS_TIMEOUT) -> list[tuple[tuple[str, str], float]]:
    """Seconds the oldest unprocessed record of each input partition measured by input_lags has waited (0: none).

    As `lapsewatch lag` does: the age of the record at the committed offset. Read only for a partition that is
    behind and whose offset moved since the last scrape: a stuck partition is read once, a caught-up one never,
    and under steady input one short-lived client per scrape reads one record per lagging partition.
    """
    wanted = {
        tp: offset
        for tp, offset in _input_waiting.items()
        if offset is not None and _written_at.get(tp, (None, 0.0))[0] != offset
    }
    for tp in list(_written_at):
        if _input_waiting.get(tp) is None:
            del _written_at[tp]
    if wanted:
        read = await lag.record_timestamps(
            bootstrap_servers(broker_url), wanted, timeout, settings.broker_security.client_options()
        )
        _written_at.update((tp, (wanted[tp], written)) for tp, written in read.items())
    now = time.time()
    ages = []
    for tp, offset in sorted(_input_waiting.items()):
        if offset is None:
            ages.append(((tp.topic, str(tp.partition)), 0.0))
        elif tp in _written_at and _written_at[tp][0] == offset:
            ages.append(((tp.topic, str(tp.partition)), max(0.0, now - _written_at[tp][1])))
    return ages


def refresh_gauges(
    input_lag: list[tuple[tuple[str, str], float]] | None = None,
    input_age: list[tuple[tuple[str, str], float]] | None = None,
) -> None:
    """Reads the state gauges; `input_lag` (input_lags) joins Faust's partitions in lapsewatch_consumer_lag,
    `input_age` (input_ages) is lapsewatch_input_oldest_unprocessed_age_seconds."""
    now = time.time()
    ok, details = readiness()
    metrics.ready.set(1.0 if ok else 0.0)
    metrics.set_gauge_family(
        metrics.readiness_check, (((name,), float(value)) for name, value in details.items() if isinstance(value, bool))
    )
    metrics.last_verdict.set(checker.last_verdict_at)
    metrics.circuit_max_cooldown.set(checker.breakers.max_cooldown)
    open_for = checker.breakers.open_for(now)
    metrics.set_gauge_family(
        metrics.circuit_open_seconds, (((server,), seconds) for server, seconds in open_for.items())
    )
    metrics.set_gauge_family(metrics.input_oldest_age, input_age or ())
    backlog = due.backlog(now)
    metrics.set_gauge_family(metrics.due_backlog, (((name,), backlog[name]) for name in PRIORITY_NAMES))
    metrics.domains_owned.set(len(due))
    metrics.set_gauge_family(metrics.table_memory, table_memory())
    metrics.set_gauge_family(metrics.circuit_open, (((server,), 1.0) for server in checker.breakers.open_servers()))
    metrics.set_gauge_family(
        metrics.failing_alone, (((server,), count) for server, count in checker.failing_alone().items())
    )
    consumer = app.consumer
    changelogs = app.tables.changelog_topics  # standby copies: read to the end, never committed
    lags = []
    for tp in sorted(tp for tp in consumer.assignment() if tp.topic not in changelogs):
        highwater = consumer.highwater(tp)
        # Faust keeps no public accessor for it, and ConsumerT does not declare it (faust_fixes pins the release).
        committed = consumer._committed_offset.get(tp)  # type: ignore[attr-defined]
        if highwater is not None and highwater >= 0:
            lags.append(((tp.topic, str(tp.partition)), max(0, highwater - (committed or 0))))
    # The two groups read different topics (settings.groups), so topic and partition still name one series.
    metrics.set_gauge_family(metrics.consumer_lag, [*lags, *(input_lag or ())])


@app.page("/healthz")
class Healthz(View):
    """The process is alive and its event loop answers."""

    async def get(self, request: Request) -> Response:
        return self.json({"status": "ok"})


@app.page("/readyz")
class Readyz(View):
    async def get(self, request: Request) -> Response:
        ok, details = readiness()
        return self.json({"status": "ready" if ok else "not ready", **details}, status=200 if ok else 503)


@app.page("/metrics")
class Metrics(View):
    async def get(self, request: Request) -> Response:
        input_lag = await input_lags()
        input_age = await input_ages()
        return self.bytes(
            metrics.exposition(lambda: refresh_gauges(input_lag, input_age)), content_type=metrics.CONTENT_TYPE
        )
