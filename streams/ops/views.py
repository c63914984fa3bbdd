"""The worker's web endpoints for operators and orchestrators: /healthz, /readyz, /metrics."""

from __future__ import annotations

import time

from faust.web import Request, Response, View

from streams import topics
from streams.app import app
from streams.core import metrics
from streams.domains.due import PRIORITY_NAMES
from streams.domains.scheduler import checker, ready
from streams.domains.table import due

_joined = False


@app.on_partitions_assigned.connect  # type: ignore[arg-type]  # Faust calls it (app, assigned, signal=...); SignalHandlerT wants *args too
async def _assigned(app, assigned, **kwargs) -> None:
    global _joined
    _joined = True


def readiness() -> tuple[bool, dict]:
    """Ready: joined its group, not rebalancing, tables recovered, and no provider circuit open."""
    circuits = checker.breakers.open_servers()
    checks = {"joined_group": _joined, "tables_recovered": ready(), "provider_circuits_closed": not circuits}
    return all(checks.values()), {
        **checks,
        "open_circuits": circuits,
        "partitions": len(app.assignor.assigned_actives()),
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


def refresh_gauges() -> None:
    now = time.time()
    backlog = due.backlog(now)
    metrics.set_gauge_family(metrics.due_backlog, (((name,), backlog[name]) for name in PRIORITY_NAMES))
    metrics.domains_owned.set(len(due))
    metrics.set_gauge_family(metrics.table_memory, table_memory())
    metrics.set_gauge_family(metrics.circuit_open, (((server,), 1.0) for server in checker.breakers.open_servers()))
    metrics.set_gauge_family(
        metrics.failing_alone, (((server,), count) for server, count in checker.failing_alone().items())
    )
    consumer = app.consumer
    lags = []
    for tp in sorted(consumer.assignment()):
        highwater = consumer.highwater(tp)
        # Faust keeps no public accessor for it, and ConsumerT does not declare it (faust_fixes pins the release).
        committed = consumer._committed_offset.get(tp)  # type: ignore[attr-defined]
        if highwater is not None and highwater >= 0:
            lags.append(((tp.topic, str(tp.partition)), max(0, highwater - (committed or 0))))
    metrics.set_gauge_family(metrics.consumer_lag, lags)


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
        return self.bytes(metrics.exposition(refresh_gauges), content_type=metrics.CONTENT_TYPE)
