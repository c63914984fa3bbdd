"""Footprint: resident memory of one worker holding 1M accounts on 200k domains, and its start-up times.

Filling that state through the pipeline would take far longer than the whole
suite may run, so the state is written straight into the two changelog topics
(bench/changelog.py: values from lapsewatch's own pure code, bytes from
Faust's codec, partitions from Faust's partitioner). First a format check
proves that on a small population: a real worker fills it through the
pipeline, and its changelogs must match the built ones record for record.

Then, on the full-size changelogs:
- takeover: a worker with an empty data dir recovers every table from the
  changelogs (a new machine, or a pod without a persistent volume);
- restart: SIGTERM, and a worker on the same data dir starts again (RocksDB
  already holds the state; Faust reads only what is newer).
Each is timed from launch to "Worker ready" (Faust logs it once the tables are
recovered) and to "due index rebuilt: D domains" (the worker's first tick,
with every domain scheduled: the worker is then doing its job). RSS is read
from /proc/<pid>/status a few seconds after that; VmHWM is the peak.

Restore rate: before the takeover, a plain aiokafka consumer (no group, every
changelog partition assigned, large `getmany` batches) reads both changelogs
from the beginning to their true end offsets: the ceiling of reading those
bytes at all. The takeover's restore rate is the same records divided by the
time from launch to "Worker ready", shown beside it with their ratio.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.changelog import Population, compare, encode, read_latest, records, sample_matches_parser, write
from bench.common import (
    COMPACT,
    Figure,
    Process,
    TopicReader,
    create_topic,
    embedded_broker,
    env_int,
    lapsewatch_worker,
    produce,
    wait_until,
    workdir,
    worker_env,
    write_scenario,
)
from streams.kafka.broker import EmbeddedBroker
from streams.kafka.end_offsets import end_offsets
from streams.settings import load_settings

NAME = "footprint"
GOAL_ACCOUNTS, GOAL_DOMAINS = 1_000_000, 200_000
GOAL_MB = 500
GOAL_SECONDS = 30.0
INPUT = "accounts.email-events"
SETTLE = 5.0  # seconds after the due index is complete before RSS is read
PLAIN_MAX_RECORDS = 50_000  # per getmany: the plain reader's batches, as large as it will take


@dataclass
class PlainRead:
    records: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.records / max(self.seconds, 1e-9)


def disk_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


async def timed_start(worker: Process, domains: int) -> tuple[float, float]:
    """Seconds from launch to "Worker ready", and to the due index holding every domain."""
    ready = await worker.start(timeout=600)
    await worker.wait_log(rf"due index rebuilt: {domains} domains", timeout=600)
    return ready, time.monotonic() - worker.started_at


async def plain_changelog_read(bootstrap: str, topics: list[str]) -> PlainRead:
    """Every record of `topics`, from the beginning to the true end offsets, by a consumer without a group:
    what reading the changelogs costs before anything is done with them. Timed from the consumer's start
    (connection and metadata included, as the worker's time includes its own) to the last record."""
    started = time.monotonic()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        await consumer.topics()  # metadata for partitions_for_topic
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        if {tp.topic for tp in partitions} != set(topics):
            raise RuntimeError(f"the changelog topics {topics} are not all known to the broker")
        consumer.assign(partitions)
        ends = await end_offsets(consumer, partitions)  # ListOffsets alone under-reports on Tansu
        await consumer.seek_to_beginning(*partitions)
        left = {tp for tp in partitions if ends[tp] > 0}
        records = 0
        while left:
            for tp, messages in (await consumer.getmany(timeout_ms=1000, max_records=PLAIN_MAX_RECORDS)).items():
                records += len(messages)
                if messages and messages[-1].offset + 1 >= ends[tp]:
                    left.discard(tp)
                    consumer.pause(tp)
        return PlainRead(records, time.monotonic() - started)
    finally:
        await consumer.stop()


def without_check_id(value: bytes) -> bytes:
    """A worker's domain row without the id of its last check: a random id the worker's checker gives each
    check, which the built rows (a verdict with no check behind it) leave null; about 20 bytes a row."""
    row = orjson.loads(value)
    if isinstance(row, dict) and row.get("last_check_id") is not None:
        row["last_check_id"] = None
    return encode(row)


async def format_check(broker: EmbeddedBroker, scratch: Path, scenario: Path) -> list[str]:
    """A real worker fills a small population through the pipeline; its changelogs against the built ones."""
    population = Population(400, 40, tag=f"fmt{uuid.uuid4().hex[:6]}")
    app_id = f"bench-format-{population.tag}"
    topic = f"{app_id}.email-events"  # its own: the full-size workers must not pick these events up
    await create_topic(broker.bootstrap, topic, 8)
    env = worker_env(
        broker,
        app_id,
        scratch / f"{app_id}-data",
        scenario,
        LAPSEWATCH_TICK="0.1s",
        LAPSEWATCH_TOPIC_EMAIL_EVENTS=topic,
    )
    worker = lapsewatch_worker(env, scratch, app_id)
    checked: set[str] = set()

    def on_status(message, _at: float) -> None:
        data = orjson.loads(message.value)["data"]
        if data.get("transition") == "active" and data["domain"].endswith(f"-{population.tag}.com"):
            checked.add(data["domain"])

    changelog = TopicReader(broker.bootstrap, f"{app_id}-accounts-changelog")
    status = TopicReader(broker.bootstrap, "domains.status", on_record=on_status)
    try:
        await worker.start()
        await changelog.start()
        await status.start()
        await produce(broker.bootstrap, topic, (population.event(a, e) for a, e, _d in population.members()))
        await changelog.wait_count(population.accounts, timeout=120, on_fail=worker.tail)
        await wait_until(
            lambda: len(checked) >= population.domains, 120, "the format-check domains checked", worker.tail
        )
        await asyncio.sleep(2)  # a member added after the check writes once more
    finally:
        await changelog.stop()
        await status.stop()
        worker.stop()
    built: dict[str, dict[bytes, tuple[int, bytes]]] = {"accounts": {}, "domains": {}}
    for table, partition, key, value in records(population, load_settings(env).policy, time.time()):
        built[table][key] = (partition, value)
    problems = [
        f"{wrong} of 200 sampled accounts differ from parse_email_event's"
        for wrong in [sample_matches_parser(population)]
        if wrong
    ]
    for table in ("accounts", "domains"):
        written = await read_latest(broker.bootstrap, f"{app_id}-{table}-changelog")
        if table == "domains":
            written = {key: (partition, without_check_id(value)) for key, (partition, value) in written.items()}
        problems += compare(table, written, built[table])
    return problems


async def run() -> list[Figure]:
    accounts = env_int("BENCH_FOOTPRINT_ACCOUNTS", GOAL_ACCOUNTS)
    domains = env_int("BENCH_FOOTPRINT_DOMAINS", GOAL_DOMAINS)
    population = Population(accounts, domains, tag="fp")
    sizes = population.sizes()
    app_id = f"bench-footprint-{uuid.uuid4().hex[:8]}"

    with embedded_broker() as broker, workdir(NAME) as scratch:
        scenario = write_scenario(scratch / "scenario.json")
        await create_topic(broker.bootstrap, INPUT, 8)
        problems = await format_check(broker, scratch, scenario)
        if problems:
            raise RuntimeError(
                "the built changelog records differ from the worker's, so the footprint figures "
                "would not be about lapsewatch's state:\n" + "\n".join(problems[:10])
            )

        def worker(name: str, data_dir: Path) -> Process:
            # A short tick: the due-index line (our "doing its job" signal) follows recovery closely.
            env = worker_env(broker, app_id, data_dir, scenario, LAPSEWATCH_TICK="0.1s")
            return lapsewatch_worker(env, scratch, name)

        for table in ("accounts", "domains"):
            await create_topic(broker.bootstrap, f"{app_id}-{table}-changelog", 8, COMPACT)
        began = time.monotonic()
        policy = load_settings(worker("policy", scratch).env).policy
        counts = await write(broker.bootstrap, app_id, population, policy)
        written_in = time.monotonic() - began
        plain = await plain_changelog_read(
            broker.bootstrap, [f"{app_id}-{table}-changelog" for table in ("accounts", "domains")]
        )

        takeover = worker("takeover", scratch / "data")
        try:
            cold_ready, cold_due = await timed_start(takeover, domains)
            await asyncio.sleep(SETTLE)
            cold_rss, cold_peak = takeover.rss_mib(), takeover.rss_mib("VmHWM")
        finally:
            stopped_in = takeover.stop()
        on_disk = disk_mib(scratch / "data")

        restart = worker("restart", scratch / "data")
        try:
            warm_ready, warm_due = await timed_start(restart, domains)
            await asyncio.sleep(SETTLE)
            warm_rss, warm_peak = restart.rss_mib(), restart.rss_mib("VmHWM")
        finally:
            restart.stop()

    full = accounts >= GOAL_ACCOUNTS and domains >= GOAL_DOMAINS
    held = f"{counts['accounts']:,} accounts on {counts['domains']:,} domains"
    scope = "" if full else f" (goal is for {GOAL_ACCOUNTS:,} / {GOAL_DOMAINS:,}: smaller run, goal not judged)"
    mb = lambda mib: mib * 2**20 / 1e6  # the goal is in MB, /proc in KiB
    judged = lambda ok: ok if full else None
    setup = (
        f"changelogs written directly in {written_in:.0f} s (format checked against a worker's); "
        f"largest domain {max(sizes):,} accounts"
    )
    return [
        Figure(
            NAME,
            f"RSS after takeover, holding {held}",
            mb(cold_rss),
            "MB",
            f"< {GOAL_MB} MB",
            judged(mb(cold_rss) < GOAL_MB),
            f"peak (VmHWM) {mb(cold_peak):.0f} MB during recovery; RocksDB {on_disk:.0f} MiB on disk{scope}",
        ),
        Figure(
            NAME,
            "RSS after restart on the same data dir",
            mb(warm_rss),
            "MB",
            f"< {GOAL_MB} MB",
            judged(mb(warm_rss) < GOAL_MB),
            f"peak {mb(warm_peak):.0f} MB; {setup}",
        ),
        Figure(
            NAME,
            "restart (SIGTERM, same data dir) → Worker ready",
            warm_ready,
            "s",
            f"< {GOAL_SECONDS:g} s",
            judged(warm_ready < GOAL_SECONDS),
            f"previous worker took {stopped_in:.1f} s to stop",
            digits=1,
        ),
        Figure(
            NAME,
            "restart (same data dir) → due index holds every domain",
            warm_due,
            "s",
            f"< {GOAL_SECONDS:g} s",
            judged(warm_due < GOAL_SECONDS),
            held,
            digits=1,
        ),
        Figure(
            NAME,
            "takeover (empty data dir) → Worker ready",
            cold_ready,
            "s",
            f"< {GOAL_SECONDS:g} s",
            judged(cold_ready < GOAL_SECONDS),
            f"replays {counts['accounts'] + counts['domains']:,} changelog records",
            digits=1,
        ),
        Figure(
            NAME,
            "takeover (empty data dir) → due index holds every domain",
            cold_due,
            "s",
            f"< {GOAL_SECONDS:g} s",
            judged(cold_due < GOAL_SECONDS),
            digits=1,
        ),
        *restore_figures(plain, cold_ready, warm_ready, counts),
    ]


def restore_figures(plain: PlainRead, cold_ready: float, warm_ready: float, counts: dict[str, int]) -> list[Figure]:
    """The takeover's restore as records/s beside a plain consumer reading the same changelogs."""
    replayed = counts["accounts"] + counts["domains"]
    restore = replayed / max(cold_ready, 1e-9)
    # The restart's launch → ready is start-up with next to nothing to restore: taken off, what is left is
    # about the replay alone (a rough figure: the two starts need not cost the same).
    replay = cold_ready - warm_ready
    return [
        Figure(
            NAME,
            "restore: plain aiokafka consumer reading both changelogs",
            plain.rate,
            "records/s",
            note=f"{plain.records:,} records in {plain.seconds:.1f} s; no group, every partition assigned, "
            f"getmany of up to {PLAIN_MAX_RECORDS:,}, to the true end offsets",
        ),
        Figure(
            NAME,
            "restore: takeover (empty data dir), changelog records ÷ launch → Worker ready",
            restore,
            "records/s",
            note=f"{replayed:,} records ({counts['accounts']:,} accounts + {counts['domains']:,} domains) "
            f"in {cold_ready:.1f} s, start-up included"
            + (
                f"; less the restart's {warm_ready:.1f} s of start-up, {replayed / replay:,.0f} records/s"
                if replay > 1
                else ""
            ),
        ),
        Figure(
            NAME,
            "restore: takeover ÷ plain read",
            100 * restore / max(plain.rate, 1e-9),
            "%",
            note="share of the reading ceiling the worker's restore reaches",
            digits=1,
        ),
    ]
