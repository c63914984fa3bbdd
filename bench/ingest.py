"""Ingest: email and login events per second through the whole pipeline on one worker.

The input: 3 `email_added` (new accounts, 10 per custom domain) to 1 login
with an `emails` snapshot (for one of those accounts), on two 8-partition
topics. Every event is one account-table write; the email events also make a
domain-table write each (new member). Public mailbox addresses, which the
pipeline drops early, are left out: this is the heavier path.

Beside it, on the same topic contents: (b) a Faust agent that only iterates the
raw topics, and (c) a plain aiokafka consumer decoding each value with orjson.
They show how much of the gap is Faust and the broker, and how much is ours.

(a) The worker is ready before the first record is produced; the clock runs
from the first produce until the `<app id>-accounts-changelog` topic holds one
record per event. (b) and (c) then drain the topics (already full); their
progress is timed as they go.
The figure compared across all three is the steady rate, from 10 % to 90 % of
the records, which leaves out start-up and the tail.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench.common import (
    Figure,
    Process,
    Progress,
    TopicReader,
    account_events,
    create_topic,
    embedded_broker,
    env_int,
    lapsewatch_worker,
    owned_partitions,
    produce,
    wait_until,
    workdir,
    worker_env,
    write_scenario,
)
from streams.kafka.broker import EmbeddedBroker

NAME = "ingest"
GOAL = 20_000  # events/s, full pipeline
PARTITIONS = 8  # of the input topic, as a platform might have it
DOMAIN_PARTITIONS = set(range(8))  # LAPSEWATCH_PARTITIONS, default 8


def event_count() -> int:
    return env_int("BENCH_INGEST_N", 20_000)


@dataclass
class PipelineRun:
    workers: int
    events: int
    produce_seconds: float
    overall: float  # events/s, first produce → every event applied
    steady: float  # events/s, 10 % → 90 %


def input_topics(prefix: str) -> tuple[str, str]:
    return f"{prefix}.email-events", f"{prefix}.logins"


def events_for(prefix: str, total: int) -> list[tuple[str, bytes, bytes]]:
    return account_events(prefix.replace(".", "-"), total, max(1, total // 10), *input_topics(prefix))


async def pipeline_rate(
    broker: EmbeddedBroker, scratch: Path, prefix: str, events: list[tuple[str, bytes, bytes]], workers: int = 1
) -> PipelineRun:
    """Produces `events` (see `events_for(prefix)`) to fresh 8-partition input topics read by `workers`
    lapsewatch workers in one group."""
    email_topic, login_topic = input_topics(prefix)
    for topic in (email_topic, login_topic):
        await create_topic(broker.bootstrap, topic, PARTITIONS)
    scenario = write_scenario(scratch / "scenario.json")
    app_id = f"bench-{uuid.uuid4().hex[:8]}"
    processes = [
        lapsewatch_worker(
            worker_env(
                broker,
                app_id,
                scratch / f"{app_id}-{i}-data",
                scenario,
                LAPSEWATCH_TOPIC_EMAIL_EVENTS=email_topic,
                LAPSEWATCH_TOPIC_LOGINS=login_topic,
            ),
            scratch,
            f"{app_id}-{i}",
        )
        for i in range(workers)
    ]
    reader = TopicReader(broker.bootstrap, f"{app_id}-accounts-changelog")
    try:
        for process in processes:
            await process.start()
        if workers > 1:
            await wait_until(
                lambda: _split(processes),
                120,
                "the workers to split the domain partitions",
                lambda: "\n".join(p.tail(10) for p in processes),
            )
        await reader.start()
        first, acknowledged = await produce(broker.bootstrap, None, events)
        await reader.wait_count(len(events), timeout=60 + len(events) / 100, on_fail=processes[0].tail)
    finally:
        await reader.stop()
        for process in processes:
            process.stop()
    total = len(events)
    return PipelineRun(
        workers,
        total,
        acknowledged - first,
        total / (reader.progress.reached(total) - first),
        reader.progress.steady_rate(total),
    )


def _split(processes: list[Process]) -> bool:
    """Every worker owns some domain partitions, none twice, all of them together."""
    owned = [owned_partitions(p) for p in processes]
    return all(owned) and sum(map(len, owned)) == len(DOMAIN_PARTITIONS) and set().union(*owned) == DOMAIN_PARTITIONS


async def trivial_faust_progress(
    broker: EmbeddedBroker, scratch: Path, topics: tuple[str, ...], total: int
) -> Progress:
    """(b): the Faust app of bench/trivial_app.py drains the topics; its log says when it got how far."""
    env = {
        **os.environ,
        "BENCH_TRIVIAL_N": str(total),
        "BENCH_TRIVIAL_BROKER": broker.url,
        "BENCH_TRIVIAL_TOPICS": ",".join(topics),
        "BENCH_TRIVIAL_APP_ID": f"bench-trivial-{uuid.uuid4().hex[:8]}",
    }
    app = Process(
        [sys.executable, "-m", "faust", "-A", "bench.trivial_app", "worker", "-l", "info"], env, scratch / "trivial.log"
    )
    try:
        await app.start(ready=rf"progress {total} ", timeout=120 + total / 1000)
    finally:
        app.stop()
    progress = Progress()
    for count, at in re.findall(r"progress (\d+) ([\d.]+)", app.log()):
        progress.add(float(at), int(count))
    return progress


async def raw_consumer_progress(bootstrap: str, topics: tuple[str, ...], total: int) -> Progress:
    """(c): an aiokafka consumer without a group reads the topics and decodes every value."""
    reader = TopicReader(bootstrap, *topics, on_record=lambda message, _at: orjson.loads(message.value))
    try:
        await reader.start()
        await reader.wait_count(total, timeout=120)
    finally:
        await reader.stop()
    return reader.progress


def drain_rate(progress: Progress, total: int) -> float:
    """Records per second from the first record seen to the last."""
    return (total - progress.points[0][1]) / max(progress.reached(total) - progress.points[0][0], 1e-9)


async def run() -> list[Figure]:
    total = event_count()
    prefix = "accounts"
    events = events_for(prefix, total)
    with embedded_broker() as broker, workdir(NAME) as scratch:
        full = await pipeline_rate(broker, scratch, prefix, events)
        trivial = await trivial_faust_progress(broker, scratch, input_topics(prefix), total)
        raw = await raw_consumer_progress(broker.bootstrap, input_topics(prefix), total)
    goal = f"≥ {GOAL:,} events/s"
    return [
        Figure(
            NAME,
            f"(a) full pipeline, first produce → {total:,} applied",
            full.overall,
            "events/s",
            goal,
            full.overall >= GOAL,
            f"{total:,} events (3 email_added : 1 login); produced in "
            f"{full.produce_seconds:.2f} s; worker started before",
        ),
        Figure(NAME, "(a) full pipeline, steady 10 → 90 %", full.steady, "events/s", goal, full.steady >= GOAL),
        Figure(
            NAME,
            "(b) Faust agent iterating the raw topics, steady 10 → 90 %",
            trivial.steady_rate(total),
            "events/s",
            note=f"drains the filled topics; first → last record {drain_rate(trivial, total):,.0f}/s",
        ),
        Figure(
            NAME,
            "(c) aiokafka consumer + orjson, steady 10 → 90 %",
            raw.steady_rate(total),
            "events/s",
            note=f"drains the filled topics; first → last record {drain_rate(raw, total):,.0f}/s",
        ),
    ]
