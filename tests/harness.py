"""Real parts for the tests: broker, Fastly on loopback, worker processes, topic readers.

Nothing here is a mock: workers are `python -m streams worker` processes, the
Fastly API is an HTTP server on loopback, the broker speaks Kafka.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from rocksdict import AccessType, Options, Rdict

from streams.kafka.broker import free_port
from streams.kafka.end_offsets import end_offsets
from streams.ops.lag import measure_lag
from streams.providers.fastly_simulator import serve
from streams.providers.scenario import Scenario

FASTLY_TEST_KEY = "sk-test-9f8e7d6c5b4a-NEVER-LOG-ME"
_counter = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def unique_domain(label: str, tld: str = "com") -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}.{tld}"


async def wait_for(
    predicate: Callable[[], object],
    timeout: float,
    what: str,
    on_fail: Callable[[], str] | None = None,
    every: float = 0.05,
):
    """Poll until `predicate()` is truthy (every `every` seconds); fail with `what` after `timeout` seconds.

    `predicate` may return an awaitable (a check that asks the broker): its result is what counts."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{on_fail()}" if on_fail else ""
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}{extra}")
        await asyncio.sleep(every)


class FastlyServer:
    """The simulator app serving Fastly's Status API on loopback from its own thread."""

    def __init__(self, api_key: str = FASTLY_TEST_KEY):
        self.scenario = Scenario(default="active")
        self.api_key = api_key
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        # A "timeout" answer hangs past the workers' 1 s provider timeout, not longer: shutdown waits for it.
        self._runner = self._loop.run_until_complete(
            serve(self.scenario, "127.0.0.1", self.port, self.api_key, hang_seconds=3)
        )
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> FastlyServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the Fastly simulator did not start")
        return self

    def stop(self) -> None:
        async def shutdown():
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def calls(self, domain: str) -> int:
        return self.scenario.calls[domain]


@dataclass
class WorkerConfig:
    broker_url: str
    fastly_url: str
    tmp: Path
    overrides: dict[str, str] = field(default_factory=dict)
    app_id: str = field(default_factory=lambda: unique("lw-test"))

    def __post_init__(self) -> None:
        prefix = self.app_id
        self.topics = {
            "email_events": f"{prefix}.email-events",
            "logins": f"{prefix}.logins",
            "email_unverified": f"{prefix}.email-unverified",
            "domain_status": f"{prefix}.domains-status",
            "dead_letter": f"{prefix}.dead-letter",
            "control": f"{prefix}.control",
        }
        self.data_dir = self.tmp / f"{self.app_id}-data"

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("LAPSEWATCH_")}
        env.update(
            {
                "LAPSEWATCH_BROKER": self.broker_url,
                "LAPSEWATCH_APP_ID": self.app_id,
                "LAPSEWATCH_DATA_DIR": str(self.data_dir),
                "LAPSEWATCH_WEB_PORT": str(free_port()),
                "LAPSEWATCH_PARTITIONS": "4",
                "LAPSEWATCH_STATUS_PROVIDER": "fastly",
                "LAPSEWATCH_FASTLY_API_URL": self.fastly_url,
                "LAPSEWATCH_FASTLY_API_KEY": FASTLY_TEST_KEY,
                "LAPSEWATCH_PROVIDER_TIMEOUT": "1s",
                "LAPSEWATCH_CONFIRM_AFTER": "0",
                "LAPSEWATCH_TICK": "0.2s",
                "LAPSEWATCH_RETRY_MIN": "0.5s",
                "LAPSEWATCH_RETRY_MAX": "1s",
                "LAPSEWATCH_INCONCLUSIVE_RETRY_MIN": "0.5s",
                "LAPSEWATCH_INCONCLUSIVE_RETRY_MAX": "1s",
                "LAPSEWATCH_LOGIN_FRESHNESS": "1s",
                # One loopback server plays each provider for every test: no politeness limits by default.
                "LAPSEWATCH_PROVIDER_RATE": "100000",
                "LAPSEWATCH_SERVER_RATE": "100000",
                "LAPSEWATCH_BREAKER_FAILURES": "1000",
                "LAPSEWATCH_RDAP_BOOTSTRAP_URL": "off",
                "LAPSEWATCH_BROKER_SESSION_TIMEOUT": "6s",
                "LAPSEWATCH_BROKER_REBALANCE_TIMEOUT": "3s",
                "LAPSEWATCH_BROKER_HEARTBEAT_INTERVAL": "1s",
                **{f"LAPSEWATCH_TOPIC_{name.upper()}": topic for name, topic in self.topics.items()},
            }
        )
        env.update(self.overrides)
        return env


class Worker:
    """One `lapsewatch worker` process."""

    def __init__(self, config: WorkerConfig):
        self.config = config
        self.log_path = config.tmp / f"{config.app_id}-worker-{next(_counter)}.log"
        self.process: subprocess.Popen | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return "worker log tail:\n" + "\n".join(self.log().splitlines()[-lines:])

    def _spawn(self) -> subprocess.Popen:
        self._log_file = self.log_path.open("ab")
        env = self.config.env()
        self.web_url = f"http://127.0.0.1:{env['LAPSEWATCH_WEB_PORT']}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams", "worker", "-l", "info"],
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        return self.process

    async def run_until_exit(self, timeout: float = 60.0) -> int:
        """Starts the worker and waits for it to exit by itself (a failpoint's kill); returns its exit status."""
        self._spawn()
        try:
            return await self.exited(timeout)
        finally:
            self.stop(signal.SIGKILL)  # closes the log; kills it only if it is still running after `timeout`

    async def exited(self, timeout: float) -> int:
        """Waits for a started worker to exit by itself (a failpoint's kill); returns its exit status."""
        assert self.process is not None
        process = self.process
        await wait_for(lambda: process.poll() is not None, timeout, "the worker to exit", self.log_tail)
        return process.returncode

    async def start(self, timeout: float = 60.0) -> Worker:
        self._spawn()
        await wait_for(
            lambda: "Worker ready" in self.log() or self.process.poll() is not None,
            timeout,
            "the worker to be ready",
            self.log_tail,
        )
        if self.process.poll() is not None:
            raise AssertionError(f"the worker exited with {self.process.returncode}\n{self.log_tail()}")
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()
        return self.process.returncode


class Bus:
    """Produces input events and collects every record of the output topics."""

    def __init__(self, bootstrap: str, client_options: dict | None = None):
        self.bootstrap = bootstrap
        self.client_options = client_options or {}  # TLS: BrokerSecurity.client_options()
        self.records: dict[str, list] = defaultdict(list)
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> Bus:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, max_request_size=4 * 1024 * 1024, **self.client_options
        )
        await self._producer.start()
        return self

    async def follow(self, *topics: str) -> None:
        """Read these topics from the beginning, in the background (no consumer group)."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            metadata_max_age_ms=500,
            fetch_max_bytes=8 * 1024 * 1024,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            **self.client_options,
        )
        await consumer.start()
        consumer.subscribe(topics=list(topics))
        self._consumers = [*getattr(self, "_consumers", []), consumer]
        deadline = time.monotonic() + 30
        while {tp.topic for tp in consumer.assignment()} != set(topics):
            assert time.monotonic() < deadline, f"topics {topics} were not all assigned: {consumer.assignment()}"
            self._keep(await consumer.getmany(timeout_ms=100))  # also drives the metadata refresh

        async def pump() -> None:
            while True:
                self._keep(await consumer.getmany(timeout_ms=100))

        self._tasks = [*getattr(self, "_tasks", []), asyncio.ensure_future(pump())]

    def _keep(self, batches: dict) -> None:
        for tp, messages in batches.items():
            self.records[tp.topic].extend(messages)

    async def send(self, topic: str, key: str | bytes | None, value: dict | bytes | None) -> None:
        if isinstance(key, str):
            key = key.encode()
        if isinstance(value, dict):
            value = orjson.dumps(value)
        await self._producer.send_and_wait(topic, key=key, value=value)

    async def send_many(self, topic: str, records: list[tuple[str, dict]]) -> None:
        """Produces without waiting record by record, so a worker sees them in large batches."""
        futures = [
            await self._producer.send(topic, key=key.encode(), value=orjson.dumps(value)) for key, value in records
        ]
        await self._producer.flush()
        for future in futures:
            await future

    def values(self, topic: str, where: Callable[[dict], bool] = lambda v: True) -> list[dict]:
        out = []
        for message in self.records[topic]:
            try:
                value = orjson.loads(message.value)
            except orjson.JSONDecodeError:
                continue
            if where(value):
                out.append(value)
        return out

    async def close(self) -> None:
        for task in getattr(self, "_tasks", []):
            task.cancel()
        for consumer in getattr(self, "_consumers", []):
            await consumer.stop()
        if self._producer:
            await self._producer.stop()


def email_event(
    kind: str, account: str, email: str, *, verified: bool | None = None, event_id: str | None = None, **extra
) -> dict:
    event = {
        "event_id": event_id or unique("ev"),
        "type": kind,
        "account_id": account,
        "email": email,
        "occurred_at": "2026-11-01T10:00:00Z",
    }
    if verified is not None:
        event["verified"] = verified
        event["verified_at"] = "2024-05-01T12:00:00Z" if verified else None
    event.update(extra)
    return event


class Memberships:
    """The domain table as its changelog tells it: memberships per domain, its page rows counted in."""

    def __init__(self, bus: Bus, topic: str):
        self.bus, self.topic = bus, topic

    def rows(self) -> dict[str, dict]:
        latest: dict[bytes, bytes | None] = {}
        for message in self.bus.records[self.topic]:
            latest[message.key] = message.value
        return {orjson.loads(key): orjson.loads(value) for key, value in latest.items() if value is not None}

    def per_domain(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for key, row in self.rows().items():
            counts[key.split("#")[0]] += sum(len(addresses) for addresses in row["members"].values())
        return {domain: count for domain, count in counts.items() if count}

    def total(self) -> int:
        return sum(self.per_domain().values())


def missing_report(missing: set[tuple[str, str]], *workers: Worker) -> str:
    """The missing (account, domain) pairs, and every log line of the workers that names one of them."""
    names = {name for pair in missing for name in pair}
    lines = [f"missing {sorted(missing)}"]
    for worker in workers:
        lines.append(f"--- {worker.log_path.name}")
        lines += [line for line in worker.log().splitlines() if any(name in line for name in names)]
    return "\n".join(lines)


# What must not change across a kill -9, a rebalance and a restart (issue 14): read from the broker, from the
# consumer groups' committed offsets, and from a stopped worker's table files.


async def wait_until(
    check: Callable[[], Awaitable[object]],
    timeout: float,
    what: str,
    on_fail: Callable[[], str] | None = None,
    every: float = 0.25,
):
    """wait_for for a check that asks the broker (a coroutine function), polled less often."""
    return await wait_for(check, timeout, what, on_fail, every)


async def read_topic(bootstrap: str, topic: str, timeout: float = 30.0) -> list:
    """Every record of `topic` up to its end as the broker reports it now (no consumer group)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_bytes=16 * 1024 * 1024,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    try:
        await consumer.topics()  # metadata for partitions_for_topic
        partitions = [TopicPartition(topic, n) for n in sorted(consumer.partitions_for_topic(topic) or ())]
        assert partitions, f"topic {topic} does not exist"
        ends = await end_offsets(consumer, partitions)  # Tansu's listed ends fall short: see that module
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list = []
        todo = set(partitions)
        deadline = time.monotonic() + timeout
        while todo:
            for tp, batch in (await consumer.getmany(*todo, timeout_ms=200)).items():
                records.extend(record for record in batch if record.offset < ends[tp])
            for tp in list(todo):
                if await consumer.position(tp) >= ends[tp]:
                    todo.discard(tp)
            assert time.monotonic() < deadline, f"{topic}: could not read {sorted(todo)} to {ends}"
    finally:
        await consumer.stop()
    return records


def latest_values(records) -> dict[int, dict[bytes, tuple[int, bytes]]]:
    """A changelog's table: per partition, each key's last value and its offset (a tombstone takes the key out)."""
    latest: dict[int, dict[bytes, tuple[int, bytes]]] = defaultdict(dict)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        if record.value is None:
            latest[record.partition].pop(record.key, None)
        else:
            latest[record.partition][record.key] = (record.offset, record.value)
    return dict(latest)


FAUST_OFFSET_KEY = b"__faust\0offset__"  # faust.stores.rocksdb.Store.offset_key: the changelog offset a file holds


def stored_table(data_dir: Path, table: str) -> tuple[dict[int, dict[bytes, bytes]], dict[int, int | None]]:
    """A table as a worker's RocksDB files hold it, read once the worker is gone (stopped or killed).

    Returns partition → key → value bytes, and partition → the changelog offset the file says it holds."""
    rows: dict[int, dict[bytes, bytes]] = {}
    offsets: dict[int, int | None] = {}
    for path in sorted(Path(data_dir).glob(f"v*/tables/{table}-*.db")):
        partition = int(path.name.removeprefix(f"{table}-").removesuffix(".db"))
        db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
        try:
            items = dict(db.items())
        finally:
            db.close()
        held = items.pop(FAUST_OFFSET_KEY, None)
        rows[partition] = items
        offsets[partition] = None if held is None else int(held)
    return rows, offsets


def table_mismatches(
    stored: dict[int, dict[bytes, bytes]], latest: dict[int, dict[bytes, tuple[int, bytes]]], limit: int = 30
) -> list[str]:
    """Each key whose stored value is not its changelog's latest one: missing, extra or different, with offsets."""
    problems = []
    for partition in sorted(set(stored) | set(latest)):
        held, want = stored.get(partition, {}), latest.get(partition, {})
        for key in sorted(set(held) | set(want)):
            if key not in held:
                problems.append(f"partition {partition}: {key!r} missing (changelog offset {want[key][0]})")
            elif key not in want:
                problems.append(f"partition {partition}: {key!r} held, but not in the changelog (or deleted there)")
            elif held[key] != want[key][1]:
                offset, value = want[key]
                problems.append(
                    f"partition {partition}: {key!r} is not the changelog's value at offset {offset}: "
                    f"held {held[key][:300]!r}, changelog {value[:300]!r}"
                )
    if len(problems) > limit:
        problems = [*problems[:limit], f"... and {len(problems) - limit} more"]
    return problems


async def unfinished_offsets(config: WorkerConfig, *, inputs_only: bool = False) -> list[str]:
    """The partitions of the workers' two groups whose committed offset is not yet their end.

    The input reader's group (`<app id>-input`) on the input topics, Faust's (`<app id>`) on the
    repartition topics: both at their ends means every record read was handled and committed."""
    bootstrap = config.broker_url.split("://", 1)[1]
    app = config.app_id
    groups = {f"{app}-input": [config.topics["email_events"], config.topics["logins"]]}
    if not inputs_only:
        groups[app] = [f"{app}-account-commands", f"{app}-domain-commands"]
    behind = []
    for group, topics in groups.items():
        report = await measure_lag(bootstrap, group, topics, ages=False)
        behind += [f"{group}: topic {topic} does not exist" for topic in report.missing]
        behind += [
            f"{group}: {p.topic}[{p.partition}] committed {p.committed}, end {p.end}"
            for p in report.partitions
            if p.end > 0 and p.committed != p.end
        ]
    return behind


async def all_committed(config: WorkerConfig, *, inputs_only: bool = False) -> bool:
    return not await unfinished_offsets(config, inputs_only=inputs_only)


def problems_report(problems: list[str], *workers: Worker, limit: int = 40) -> str:
    """The first problems, every log line of the workers naming an account or domain of those, and the log tails."""
    lines = problems[:limit] + ([f"... and {len(problems) - limit} more"] if len(problems) > limit else [])
    names = set(re.findall(r"[\w.-]+-acct-\d+|[\w.-]+\.com", "\n".join(lines)))
    for worker in workers:
        lines.append(f"--- {worker.log_path.name}")
        lines += [line for line in worker.log().splitlines() if any(name in line for name in names)][:limit]
        lines.append(worker.log_tail(20))
    return "\n".join(lines)


def account_trails(bus: Bus, app_id: str, problems: list[str], limit: int = 5) -> list[str]:
    """For the first accounts named in `problems`: each record of `<app id>-account-commands` that carries one of
    their commands (partition, offset, event ids in order), and each of their account-table changelog records
    (offset, addresses, recent event ids). The order the account stage saw their events, and what it made of it."""
    accounts = list(dict.fromkeys(re.findall(r"account ([\w.-]+-acct-\d+)", "\n".join(problems))))[:limit]
    lines = []
    for account in accounts:
        lines.append(f"--- {account}")
        for message in bus.records[f"{app_id}-account-commands"]:
            ids = [c["event_id"] for c in orjson.loads(message.value) if c.get("account_id") == account]
            if ids:
                lines.append(f"account-commands[{message.partition}]@{message.offset}: {ids}")
        key = orjson.dumps(account)
        for message in bus.records[f"{app_id}-accounts-changelog"]:
            if message.key == key:
                row = orjson.loads(message.value) if message.value is not None else None
                state = None if row is None else (sorted(e["email"] for e in row["addresses"].values()), row["recent"])
                lines.append(f"accounts-changelog[{message.partition}]@{message.offset}: {state}")
    return lines


def commands_by_event(bus: Bus, topic: str) -> dict[str, int]:
    """How many records of an `<app id>-account-commands` topic carry each event's command."""
    counts: dict[str, int] = defaultdict(int)
    for message in bus.records[topic]:
        for command in orjson.loads(message.value):
            counts[command["event_id"]] += 1
    return dict(counts)


@dataclass
class InputWorkload:
    """Accounts added on custom domains, some of them lapsed; every fifth account on a live domain then changes
    its address (no previous_email) to another live domain. Event ids are fixed, so a replay repeats them."""

    prefix: str
    domains: list[str]
    lapsed: list[str]
    events: list[tuple[str, dict]] = field(default_factory=list)
    final: dict[str, str] = field(default_factory=dict)  # account → its one address at the end
    event_ids: dict[str, list[str]] = field(default_factory=dict)  # account → ids of its events, in order

    @classmethod
    def build(cls, prefix: str, accounts: int, domains: int, lapsed: int, fastly: FastlyServer) -> InputWorkload:
        names = [unique_domain(f"{prefix}-d{i}") for i in range(domains)]
        workload = cls(prefix, names, names[:lapsed])
        for index, domain in enumerate(names):
            fastly.scenario.set(domain, "inactive" if index < lapsed else "active")
        changes = []
        for i in range(accounts):
            account = f"{prefix}-acct-{i}"
            home = i % domains
            email = f"u{i}@{names[home]}"
            added = email_event("email_added", account, email, verified=True, event_id=f"{prefix}-add-{i}")
            workload.events.append((account, added))
            workload.final[account] = email
            workload.event_ids[account] = [added["event_id"]]
            if home >= lapsed and i % 5 == 1:  # only live domains lose members: no lapse is seen mid-move
                email = f"v{i}@{names[lapsed + (home * 7 + 3) % (domains - lapsed)]}"
                changed = email_event("email_changed", account, email, verified=True, event_id=f"{prefix}-chg-{i}")
                changes.append((account, changed))
                workload.final[account] = email
                workload.event_ids[account].append(changed["event_id"])
        workload.events += changes
        return workload

    @staticmethod
    def topics(config: WorkerConfig) -> list[str]:
        """The topics `problems` reads: follow them all, or take a snapshot of them."""
        app = config.app_id
        return [
            config.topics["email_unverified"],
            config.topics["dead_letter"],
            f"{app}-accounts-changelog",
            f"{app}-domains-changelog",
            f"{app}-account-commands",
        ]

    def members(self) -> dict[str, int]:
        """Accounts per domain at the end (domains left without any not named)."""
        counts: dict[str, int] = defaultdict(int)
        for email in self.final.values():
            counts[email.split("@", 1)[1]] += 1
        return dict(counts)

    def unverified(self) -> set[tuple[str, str]]:
        lapsed = set(self.lapsed)
        return {(a, e.split("@", 1)[1]) for a, e in self.final.items() if e.split("@", 1)[1] in lapsed}

    def report(self, bus: Bus, topics: dict[str, str], app_id: str, *workers: Worker) -> str:
        """The problems, the log lines about them, and the trail of the accounts they name."""
        problems = self.problems(bus, topics, app_id)
        return "\n".join([problems_report(problems, *workers), *account_trails(bus, app_id, problems)])

    def problems(self, bus: Bus, topics: dict[str, str], app_id: str) -> list[str]:
        """Where the pipeline's outputs differ from each event applied exactly once; [] when they do not."""
        problems: list[str] = []
        ours = set(self.domains)
        members = {d: n for d, n in Memberships(bus, f"{app_id}-domains-changelog").per_domain().items() if d in ours}
        expected = self.members()
        for domain in sorted(set(members) | set(expected)):
            if members.get(domain, 0) != expected.get(domain, 0):
                problems.append(
                    f"domain {domain}: {members.get(domain, 0)} members, expected {expected.get(domain, 0)}"
                )
        unverified = [v for v in bus.values(topics["email_unverified"]) if v["data"]["domain"] in ours]
        received = {(v["data"]["account_id"], v["data"]["domain"]) for v in unverified}
        want = self.unverified()
        problems += [f"no email-unverified event for {pair}" for pair in sorted(want - received)]
        problems += [f"an email-unverified event not expected: {pair}" for pair in sorted(received - want)]
        ids: dict[tuple[str, str], set[str]] = defaultdict(set)
        for v in unverified:
            ids[(v["data"]["account_id"], v["data"]["email"])].add(v["id"])
        problems += [
            f"{pair}: email-unverified under {len(s)} ids {sorted(s)}" for pair, s in ids.items() if len(s) > 1
        ]
        accounts = latest_values(bus.records[f"{app_id}-accounts-changelog"])
        rows = {orjson.loads(k): orjson.loads(v) for part in accounts.values() for k, (_, v) in part.items()}
        for account, email in self.final.items():
            row = rows.get(account)
            if row is None:
                problems.append(f"account {account}: not in the account table")
                continue
            emails = sorted(entry["email"] for entry in row["addresses"].values())
            if emails != [email]:
                problems.append(f"account {account}: addresses {emails}, expected [{email!r}]")
            for event_id in self.event_ids[account]:
                if row["recent"].count(event_id) != 1:
                    problems.append(
                        f"account {account}: event {event_id} applied {row['recent'].count(event_id)} times"
                    )
        problems += [f"dead letter: {v}" for v in bus.values(topics["dead_letter"])]
        return problems


async def snapshot(bootstrap: str, *topics: str) -> Bus:
    """A Bus, never started, holding every record of `topics` up to their ends now: a last look no pump lags."""
    bus = Bus(bootstrap)
    for topic in topics:
        bus.records[topic] = await read_topic(bootstrap, topic)
    return bus


def run_faust_as_lapsewatch_does(monkeypatch) -> None:
    """faust_fixes as streams/app.py installs them, and its default fetch wait (100 ms) for this test's consumer:
    whichever test installed the fixes first chose the process-wide wait, and Faust's 1.5 s doubles the start."""
    from faust.transport.drivers import aiokafka as aiokafka_driver

    from streams.kafka import faust_fixes

    faust_fixes.install()
    thread = aiokafka_driver.AIOKafkaConsumerThread
    monkeypatch.setattr(
        thread, "_create_worker_consumer", faust_fixes._with_fetch_max_wait(thread._create_worker_consumer, 100)
    )


async def faust_app_in_process(broker_url: str, app_id: str, datadir: Path, partitions: int, **settings):
    """A Faust app in the test's own process, its source topic `<app_id>-source` created, with the short group
    timings a fresh join on Tansu needs."""
    import faust
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=broker_url.split("://", 1)[1])
    await admin.start()
    try:
        await admin.create_topics([NewTopic(f"{app_id}-source", partitions, 1)])
    finally:
        await admin.close()
    return faust.App(
        app_id,
        broker=broker_url,
        store="rocksdb://",
        datadir=str(datadir),
        web_enabled=False,
        topic_partitions=partitions,
        broker_session_timeout=6,
        broker_rebalance_timeout=3,
        broker_heartbeat_interval=1,
        consumer_auto_offset_reset="earliest",
        **settings,
    )
