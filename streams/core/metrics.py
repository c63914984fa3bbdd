"""Prometheus metrics: one registry for the worker, counted where things happen.

Counters and the latency histogram are updated inline; gauges that describe
state (due backlog, circuits, consumer lag, readiness) are read when Prometheus scrapes,
through `refresh`, so nothing is kept current on the hot path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

events_in = Counter(
    "lapsewatch_events_in_total", "Input events read, by topic and event type", ["topic", "type"], registry=REGISTRY
)
dead_lettered = Counter(
    "lapsewatch_dead_lettered_total", "Records sent to the dead-letter topic, by reason", ["reason"], registry=REGISTRY
)
checks = Counter(
    "lapsewatch_checks_total",
    "Provider checks, by provider and verdict (failed: no verdict)",
    ["provider", "verdict"],
    registry=REGISTRY,
)
check_seconds = Histogram(
    "lapsewatch_check_duration_seconds",
    "Time a provider took to answer one check",
    ["provider"],
    registry=REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
provider_errors = Counter(
    "lapsewatch_provider_errors_total", "Checks that got no verdict, by provider", ["provider"], registry=REGISTRY
)
unverified = Counter(
    "lapsewatch_email_unverified_total", "email-unverified events emitted, by reason", ["reason"], registry=REGISTRY
)
circuit_open = Gauge(
    "lapsewatch_provider_circuit_open",
    "1 while a provider server's circuit is not closed",
    ["server"],
    registry=REGISTRY,
)
circuit_changes = Counter(
    "lapsewatch_provider_circuit_changes_total",
    "Circuit breaker changes, by server and the state entered (open, half_open, closed)",
    ["server", "state"],
    registry=REGISTRY,
)
failing_alone = Gauge(
    "lapsewatch_domains_failing_alone",
    "Domains whose last check failed on their own while their server answers others, by server",
    ["server"],
    registry=REGISTRY,
)
table_memory = Gauge(
    "lapsewatch_table_memory_bytes",
    "RocksDB memory of the tables' partitions on this worker, by table and kind "
    "(memtables: writes not yet flushed; block_cache: blocks read)",
    ["table", "kind"],
    registry=REGISTRY,
)
due_backlog = Gauge(
    "lapsewatch_due_backlog", "Domains due for a check now, by priority", ["priority"], registry=REGISTRY
)
domains_owned = Gauge("lapsewatch_domains", "Domains in this worker's partitions", registry=REGISTRY)
consumer_lag = Gauge(
    "lapsewatch_consumer_lag",
    "Records not yet processed, by topic and partition",
    ["topic", "partition"],
    registry=REGISTRY,
)

# Read at scrape time too (streams/ops/views.py), for the alert rules in deploy/prometheus/alerts.yml.
input_oldest_age = Gauge(
    "lapsewatch_input_oldest_unprocessed_age_seconds",
    "Age of the oldest input record not yet processed (the one at the input group's committed offset), "
    "by input topic and partition this worker reads; 0 when none is waiting",
    ["topic", "partition"],
    registry=REGISTRY,
)
last_verdict = Gauge(
    "lapsewatch_last_verdict_timestamp_seconds",
    "Unix time this worker's last provider check got a verdict (the worker's start until one does)",
    registry=REGISTRY,
)
circuit_open_seconds = Gauge(
    "lapsewatch_provider_circuit_open_seconds",
    "Seconds since a provider server's circuit left closed, across its half-open probes and reopenings",
    ["server"],
    registry=REGISTRY,
)
circuit_max_cooldown = Gauge(
    "lapsewatch_provider_circuit_max_cooldown_seconds",
    "The longest cooldown between a circuit's probes (LAPSEWATCH_BREAKER_MAX_COOLDOWN)",
    registry=REGISTRY,
)
ready = Gauge("lapsewatch_ready", "1 while /readyz would answer 200, else 0", registry=REGISTRY)
readiness_check = Gauge(
    "lapsewatch_readiness_check", "Each condition of /readyz: 1 holds, 0 does not", ["check"], registry=REGISTRY
)

# aiohttp refuses a charset inside content_type; UTF-8 is the exposition format's default anyway.
CONTENT_TYPE = "text/plain; version=0.0.4"


def set_gauge_family(gauge: Gauge, values: Iterable[tuple[tuple[str, ...], float]]) -> None:
    """Replace every sample of a labelled gauge, so labels that went away (a revoked partition) go too."""
    gauge.clear()
    for labels, value in values:
        gauge.labels(*labels).set(value)


def exposition(refresh: Callable[[], None] | None = None) -> bytes:
    """The text Prometheus scrapes, after reading the state gauges."""
    if refresh is not None:
        refresh()
    return generate_latest(REGISTRY)
