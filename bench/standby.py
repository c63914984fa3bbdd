"""Standby replicas: a worker killed with -9, and how long its partner takes to hold everything again.

Two workers in one group hold N accounts on N/5 domains, written straight
into the two changelogs (bench/changelog.py, as bench/footprint.py does).
Worker A starts alone and restores everything; then worker B joins and the
group splits the partitions. With `LAPSEWATCH_STANDBY_REPLICAS=1` B restores
A's partitions too, as standbys, and Faust keeps them current; with 0 it
holds only its own. Once both are ready (their /readyz 200, the domain
partitions split between them, and with standbys B's RocksDB holding every
changelog partition to its end), A is killed with SIGKILL and B, the
survivor, is timed until it is ready again holding every partition: its
/readyz answers 200 with the partition count the two held together, and its
due index holds every domain of all 8 domain partitions. A is the one killed
because it held everything once: its files would make the other direction
a restart, not a takeover.

The survivor's log splits that time:
- kill → rebalance noticed (aiokafka's "(Re-)joining group"): the broker
  drops the dead member after its session timeout (6 s here,
  bench.common.BROKER_TIMING), and the survivor hears of it at its next
  heartbeat;
- → joined: Tansu answers the join after the rebalance timeout (3 s here),
  though the survivor is the only member left;
- → group synced with the new assignment;
- → Faust's "Worker ready": the fast restore (streams/kafka/fast_restore.py)
  of whatever the survivor's stores do not yet hold, then Faust's recovery;
- the due index rebuilt with every domain (the first tick after recovery
  reads the whole domain table).
Records restored are the fast restore's own count after the kill.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from rocksdict import AccessType, Options, Rdict

from bench.changelog import PARTITIONS, Population, write
from bench.common import (
    COMPACT,
    Figure,
    Process,
    create_topic,
    embedded_broker,
    env_int,
    lapsewatch_worker,
    owned_partitions,
    wait_until,
    workdir,
    worker_env,
    write_scenario,
)
from streams.kafka.broker import EmbeddedBroker
from streams.kafka.end_offsets import end_offsets
from streams.settings import load_settings

NAME = "standby"
TABLES = ("accounts", "domains")
INPUTS = ("accounts.email-events", "accounts.logins")
ALL_DOMAIN_PARTITIONS = set(range(PARTITIONS))
FAUST_OFFSET_KEY = b"__faust\0offset__"  # faust.stores.rocksdb.Store.offset_key
LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]", re.MULTILINE)
RESTORED = re.compile(r"restored (\d+) changelog records of (\d+) partitions in ([\d.]+) s \((\d+)/s\)")
TIMEOUT = 600.0
SETTLE = 3.0  # seconds between "both ready" and the kill


@dataclass
class Takeover:
    replicas: int
    killed_at: float  # wall clock, as the log's timestamps
    noticed: float | None = None  # seconds after the kill, from the survivor's log
    joined: float | None = None
    synced: float | None = None
    faust_ready: float | None = None
    due: float | None = None
    ready: float | None = None  # /readyz 200 with every partition, polled
    inputs: float | None = None  # the input reader holds every input partition, polled
    slowest_answer: float = 0.0  # the longest /readyz took to answer after the kill: the event loop's longest stall
    restored: int = 0
    restored_partitions: int = 0
    restore_seconds: float = 0.0
    held_before: dict[str, int] = field(default_factory=dict)  # records of A's partitions in B's stores
    dead_records: int = 0  # changelog records of the dead worker's partitions
    partitions: int = 0  # Faust's partitions the two held together (/readyz "partitions")
    session_timeout: str = ""
    rebalance_timeout: str = ""


def log_lines_after(worker: Process, since: float) -> list[tuple[float, str]]:
    """(wall-clock time, line) of the worker's log lines stamped at or after `since` (the log's local time)."""
    found = []
    text = worker.log()
    stamps = list(LOG_TIME.finditer(text))
    for stamp, following in zip(stamps, [*stamps[1:], None], strict=True):
        at = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if at >= since - 0.001:  # the log has milliseconds
            found.append((at, text[stamp.end() : following.start() if following else len(text)]))
    return found


def first_after(lines: list[tuple[float, str]], pattern: str, after: float) -> tuple[float, re.Match] | None:
    for at, line in lines:
        if at >= after and (match := re.search(pattern, line)):
            return at, match
    return None


def held_offsets(data_dir: Path, table: str) -> dict[int, int | None]:
    """Partition → the changelog offset the worker's RocksDB file for it holds (read-only, beside the worker)."""
    held: dict[int, int | None] = {}
    for path in sorted(data_dir.glob(f"**/tables/{table}-*.db")):
        partition = int(path.name.removeprefix(f"{table}-").removesuffix(".db"))
        try:
            db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
        except Exception:  # not yet a database (the worker is creating it)
            continue
        try:
            raw = db.get(FAUST_OFFSET_KEY)
        finally:
            db.close()
        held[partition] = None if raw is None else int(raw)
    return held


async def changelog_ends(bootstrap: str, app_id: str) -> dict[tuple[str, int], int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = [TopicPartition(f"{app_id}-{t}-changelog", p) for t in TABLES for p in range(PARTITIONS)]
        ends = await end_offsets(consumer, partitions)
    finally:
        await consumer.stop()
    return {(t, p): ends[TopicPartition(f"{app_id}-{t}-changelog", p)] for t in TABLES for p in range(PARTITIONS)}


def records_held(data_dir: Path, ends: dict[tuple[str, int], int], partitions: set[int]) -> dict[str, int]:
    """Per table, how many of the changelog records of `partitions` the stores hold (offset + 1; written in one go)."""
    counts = {}
    for table in TABLES:
        held = held_offsets(data_dir, table)
        counts[table] = sum(min(_next(held.get(p)), ends[(table, p)]) for p in partitions)
    return counts


def _next(offset: int | None) -> int:
    return 0 if offset is None else offset + 1


async def readyz(client: httpx.AsyncClient, worker: Process) -> dict | None:
    """The worker's /readyz body when it answers 200, else None."""
    status, body = await readyz_answer(client, worker)
    return body if status == 200 else None


async def readyz_answer(client: httpx.AsyncClient, worker: Process, timeout: float = 1.0) -> tuple[int, dict | None]:
    """The status and body of the worker's /readyz (503 and its reasons while not ready); 0 when it did not answer."""
    try:
        response = await client.get(f"http://127.0.0.1:{worker.env['LAPSEWATCH_WEB_PORT']}/readyz", timeout=timeout)
    except httpx.HTTPError:
        return 0, None
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, None


async def ready_partitions(client: httpx.AsyncClient, worker: Process, timeout: float) -> int:
    found: list[int] = []

    async def check() -> None:
        while not found:
            body = await readyz(client, worker)
            if body is not None:
                found.append(body["partitions"])
                return
            await asyncio.sleep(0.1)

    try:
        await asyncio.wait_for(check(), timeout)
    except TimeoutError:
        raise TimeoutError(f"{worker.log_path.name}: /readyz not 200 within {timeout:g} s\n{worker.tail()}") from None
    return found[0]


async def one_takeover(
    broker: EmbeddedBroker, scratch: Path, scenario: Path, population: Population, replicas: int
) -> Takeover:
    app_id = f"bench-standby{replicas}-{uuid.uuid4().hex[:6]}"

    def worker(name: str) -> Process:
        env = worker_env(broker, app_id, scratch / f"{app_id}-{name}", scenario, LAPSEWATCH_TICK="0.1s")
        # The comparison is the point: a BENCH_WORKER_ setting must not make both runs the same.
        env["LAPSEWATCH_STANDBY_REPLICAS"] = str(replicas)
        return lapsewatch_worker(env, scratch, f"{app_id}-{name}")

    for table in TABLES:
        await create_topic(broker.bootstrap, f"{app_id}-{table}-changelog", PARTITIONS, COMPACT)
    first, survivor = worker("a"), worker("b")
    await write(broker.bootstrap, app_id, population, load_settings(first.env).policy)
    ends = await changelog_ends(broker.bootstrap, app_id)
    domains = population.domains
    async with httpx.AsyncClient() as client:
        try:
            await first.start(timeout=TIMEOUT)
            await first.wait_log(rf"due index rebuilt: {domains} domains", TIMEOUT)
            total = await ready_partitions(client, first, 60)  # alone, it holds every partition
            await survivor.start(timeout=TIMEOUT)
            await wait_until(
                lambda: split(first, survivor), TIMEOUT, "the workers to split the domain partitions", survivor.tail
            )
            theirs = owned_partitions(first)
            if replicas:
                # Standbys: the survivor's files hold the other's partitions too, to the changelogs' ends.
                await wait_until(
                    lambda: records_held(survivor_dir(survivor), ends, theirs) == partition_records(ends, theirs),
                    TIMEOUT,
                    "the survivor's standbys to hold the other's partitions",
                    survivor.tail,
                    poll=0.5,
                )
            together = await ready_partitions(client, first, 60) + await ready_partitions(client, survivor, 60)
            if together != total:
                raise RuntimeError(f"the two workers hold {together} partitions together, one alone held {total}")
            held_before = records_held(survivor_dir(survivor), ends, theirs)
            await asyncio.sleep(SETTLE)  # start-up's last steps (topic declarations) out of the way

            killed_at = time.time()
            first.process.kill()
            first.process.wait()
            result = Takeover(
                replicas,
                killed_at,
                held_before=held_before,
                dead_records=sum(partition_records(ends, theirs).values()),
                partitions=total,
                session_timeout=survivor.env["LAPSEWATCH_BROKER_SESSION_TIMEOUT"],
                rebalance_timeout=survivor.env["LAPSEWATCH_BROKER_REBALANCE_TIMEOUT"],
            )
            await watch(client, survivor, result, total, domains)
            analyse(survivor, result, app_id)
            return result
        finally:
            first.stop()
            survivor.stop()


def survivor_dir(worker: Process) -> Path:
    return Path(worker.env["LAPSEWATCH_DATA_DIR"])


def partition_records(ends: dict[tuple[str, int], int], partitions: set[int]) -> dict[str, int]:
    return {table: sum(ends[(table, p)] for p in partitions) for table in TABLES}


def split(a: Process, b: Process) -> bool:
    mine, theirs = owned_partitions(a), owned_partitions(b)
    return bool(mine) and bool(theirs) and not mine & theirs and mine | theirs == ALL_DOMAIN_PARTITIONS


async def watch(client: httpx.AsyncClient, survivor: Process, result: Takeover, total: int, domains: int) -> None:
    """Polls the survivor's /readyz until it holds every partition again, and its log for the full due index."""
    due = rf"due index rebuilt: {domains} domains in domain partitions \[{', '.join(map(str, range(PARTITIONS)))}\]"
    deadline = time.monotonic() + TIMEOUT
    while result.ready is None or result.due is None or result.inputs is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the survivor did not take everything over in {TIMEOUT:g} s\n{survivor.tail()}")
        if survivor.process.poll() is not None:
            raise RuntimeError(f"the survivor exited with {survivor.process.returncode}\n{survivor.tail()}")
        asked = time.monotonic()
        status, body = await readyz_answer(client, survivor, timeout=30.0)
        result.slowest_answer = max(result.slowest_answer, time.monotonic() - asked)
        now = time.time() - result.killed_at
        if status == 200 and body is not None and body["partitions"] == total and result.ready is None:
            result.ready = now
        # Answered with 503 too: the input reader's group rebalances on its own.
        if body is not None and result.inputs is None and body["input_partitions"] == PARTITIONS * len(INPUTS):
            result.inputs = now
        if result.due is None and (found := first_after(log_lines_after(survivor, result.killed_at), due, 0)):
            result.due = found[0] - result.killed_at
        await asyncio.sleep(0.05)


def analyse(survivor: Process, result: Takeover, app_id: str) -> None:
    """The phases of the takeover, from the survivor's log lines after the kill."""
    lines = log_lines_after(survivor, result.killed_at)
    group = re.escape(app_id)
    since = lambda found: None if found is None else found[0] - result.killed_at
    noticed = first_after(lines, rf"\(Re-\)joining group {group}\s*$", 0)
    result.noticed = since(noticed)
    joined = first_after(lines, rf"Joined group '{group}' \(generation", noticed[0] if noticed else 0)
    result.joined = since(joined)
    synced = first_after(lines, rf"Successfully synced group {group} with generation", noticed[0] if noticed else 0)
    result.synced = since(synced)
    after = synced[0] if synced else 0
    result.faust_ready = since(first_after(lines, r"\[\^-+\w*Recovery\]: Worker ready", after))
    for at, line in lines:
        if at >= after and (match := RESTORED.search(line)):
            result.restored += int(match.group(1))
            result.restored_partitions += int(match.group(2))
            records, rate = int(match.group(1)), int(match.group(4))
            # The log gives seconds to 0.1 s; its rate keeps the precision.
            result.restore_seconds += records / rate if rate else float(match.group(3))
    missing = [name for name in ("noticed", "joined", "synced", "faust_ready") if getattr(result, name) is None]
    if missing:
        raise RuntimeError(f"the survivor's log after the kill lacks {', '.join(missing)}\n{survivor.tail(80)}")


def rate(case: Takeover) -> float:
    return case.restored / max(case.restore_seconds, 1e-9)


async def run() -> list[Figure]:
    accounts = env_int("BENCH_STANDBY_ACCOUNTS", 200_000)
    domains = env_int("BENCH_STANDBY_DOMAINS", max(1, accounts // 5))
    population = Population(accounts, domains, tag="sb")
    with embedded_broker() as broker, workdir(NAME) as scratch:
        scenario = write_scenario(scratch / "scenario.json")
        for topic in INPUTS:
            await create_topic(broker.bootstrap, topic, PARTITIONS)
        runs = [await one_takeover(broker, scratch, scenario, population, replicas) for replicas in (1, 0)]
    held = f"{accounts:,} accounts on {domains:,} domains"
    figures = []
    for case in runs:
        label = f"standby replicas {case.replicas}"
        before = case.held_before["accounts"] + case.held_before["domains"]
        figures += [
            Figure(
                NAME,
                f"{label}: kill -9 → survivor's /readyz 200 with every partition",
                case.ready,
                "s",
                note=f"the two workers' {case.partitions} partitions; input reader with all "
                f"{PARTITIONS * len(INPUTS)} input partitions at {case.inputs:.1f} s; longest /readyz answer "
                f"{case.slowest_answer:.2f} s; {held}",
                digits=1,
            ),
            Figure(
                NAME,
                f"{label}: kill -9 → survivor's due index holds every domain",
                case.due,
                "s",
                note=f"all {domains:,} domains of the {PARTITIONS} domain partitions (its log)",
                digits=1,
            ),
            Figure(
                NAME,
                f"{label}: kill -9 → group synced (the broker's part)",
                case.synced,
                "s",
                note=f"rebalance noticed {case.noticed:.1f} s after the kill (session timeout "
                f"{case.session_timeout}); join held {case.joined - case.noticed:.1f} s (rebalance timeout "
                f"{case.rebalance_timeout}); synced {case.synced - case.joined:.1f} s after the join",
                digits=1,
            ),
            Figure(
                NAME,
                f"{label}: group synced → Worker ready (restore and recovery)",
                case.faust_ready - case.synced,
                "s",
                note=(f"fast restore {case.restore_seconds:.2f} s" if case.restored else "nothing to restore")
                + f"; Worker ready {case.faust_ready:.1f} s after the kill",
                digits=1,
            ),
            Figure(
                NAME,
                f"{label}: changelog records restored after the kill",
                case.restored,
                "records",
                note=f"{case.restored_partitions} partitions"
                + (f" in {case.restore_seconds:.2f} s, {rate(case):,.0f}/s" if case.restored else "")
                + f"; before the kill the survivor's stores held {before:,} of the {case.dead_records:,} "
                "changelog records of the dead worker's partitions",
            ),
        ]
    return figures
