"""What every benchmark shares: figures, the broker, worker processes, producing and counting records."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.kafka.broker import EmbeddedBroker, free_port

ROOT = Path(__file__).resolve().parent.parent
LAPSEWATCH_WORKER = [sys.executable, "-m", "streams", "worker", "-l", "info"]
# Short group timings, as the tests and the demo use on a private broker: a join costs seconds, not a minute.
BROKER_TIMING = {
    "LAPSEWATCH_BROKER_SESSION_TIMEOUT": "6s",
    "LAPSEWATCH_BROKER_REBALANCE_TIMEOUT": "3s",
    "LAPSEWATCH_BROKER_HEARTBEAT_INTERVAL": "1s",
}
COMPACT = {"cleanup.policy": "compact"}  # topic config of Faust's changelogs


@dataclass
class Figure:
    """One measured number, with the goal it is held against (if any)."""

    benchmark: str
    name: str
    value: float
    unit: str
    goal: str = ""
    met: bool | None = None  # None: context only, no goal
    note: str = ""
    digits: int = 0

    def shown(self) -> str:
        return f"{self.value:,.{self.digits}f} {self.unit}".strip()


def env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    return int(text) if text else default


# ---------------------------------------------------------------- places


@contextlib.contextmanager
def embedded_broker() -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker().start()
    try:
        yield broker
    finally:
        broker.stop()


@contextlib.contextmanager
def workdir(name: str) -> Iterator[Path]:
    """A scratch directory for data dirs and logs; kept (and named) when the benchmark fails."""
    path = Path(tempfile.mkdtemp(prefix=f"lapsewatch-bench-{name}-"))
    try:
        yield path
    except BaseException:
        print(f"  worker logs kept in {path}", file=sys.stderr)
        raise
    shutil.rmtree(path, ignore_errors=True)


def write_scenario(path: Path, *, latency_ms: float = 50, domains: dict[str, str] | None = None) -> Path:
    path.write_bytes(orjson.dumps({"default": "active", "latency_ms": latency_ms, "domains": domains or {}}))
    return path


def worker_env(broker: EmbeddedBroker, app_id: str, data_dir: Path, scenario: Path, **overrides: str) -> dict:
    """A lapsewatch worker on the embedded broker with the simulated provider and no politeness limits."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LAPSEWATCH_")}
    env.update(
        {
            "LAPSEWATCH_BROKER": broker.url,
            "LAPSEWATCH_APP_ID": app_id,
            "LAPSEWATCH_DATA_DIR": str(data_dir),
            "LAPSEWATCH_WEB_PORT": str(free_port()),
            "LAPSEWATCH_STATUS_PROVIDER": "simulated",
            "LAPSEWATCH_SIMULATED_SCENARIO": str(scenario),
            "LAPSEWATCH_CONFIRM_AFTER": "0",
            "LAPSEWATCH_PROVIDER_RATE": "100000",
            "LAPSEWATCH_SERVER_RATE": "100000",
            "LAPSEWATCH_RDAP_BOOTSTRAP_URL": "off",
            **BROKER_TIMING,
        }
    )
    env.update(overrides)
    # BENCH_WORKER_LAPSEWATCH_X=v sets LAPSEWATCH_X=v in every worker: a setting tried without an edit.
    env.update(
        {key.removeprefix("BENCH_WORKER_"): value for key, value in os.environ.items() if key.startswith(WORKER_PREFIX)}
    )
    return env


WORKER_PREFIX = "BENCH_WORKER_LAPSEWATCH_"


# ---------------------------------------------------------------- processes


async def wait_until(
    predicate: Callable[[], object],
    timeout: float,
    what: str,
    on_fail: Callable[[], str] | None = None,
    poll: float = 0.02,
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"timed out after {timeout:g}s waiting for {what}" + (f"\n{on_fail()}" if on_fail else "")
            )
        await asyncio.sleep(poll)


class Process:
    """A worker process (lapsewatch, or a small Faust app of the benchmarks) logging to its own file."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path):
        self.command = command
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 40) -> str:
        return f"{self.log_path}:\n" + "\n".join(self.log().splitlines()[-lines:])

    async def start(self, ready: str = "Worker ready", timeout: float = 120.0) -> float:
        """Starts the process; returns the seconds until `ready` appeared in its log."""
        with self.log_path.open("ab") as log:
            self.started_at = time.monotonic()
            self.process = subprocess.Popen(
                self.command, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        await self.wait_log(ready, timeout)
        return time.monotonic() - self.started_at

    async def wait_log(self, pattern: str, timeout: float) -> re.Match:
        """Waits for a regular expression in the log; fails early if the process exits."""
        found: list[re.Match] = []

        def seen() -> bool:
            match = re.search(pattern, self.log())
            if match:
                found.append(match)
            return bool(match) or self.process.poll() is not None

        await wait_until(seen, timeout, f"{pattern!r} in the log", self.tail, poll=0.02)
        if not found:
            raise RuntimeError(f"the process exited with {self.process.returncode}\n{self.tail()}")
        return found[0]

    def rss_mib(self, field_name: str = "VmRSS") -> float:
        """Resident memory from /proc (VmRSS now, VmHWM the peak), in MiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no {field_name} for pid {self.process.pid}")

    def stop(self, timeout: float = 30.0) -> float:
        """SIGTERM, then wait; returns the seconds it took to exit."""
        started = time.monotonic()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return time.monotonic() - started


def lapsewatch_worker(env: dict[str, str], log_dir: Path, name: str) -> Process:
    return Process(LAPSEWATCH_WORKER, env, log_dir / f"{name}.log")


def owned_partitions(worker: Process) -> set[int]:
    """The domain partitions a lapsewatch worker owned at its last due-index rebuild."""
    found = re.findall(r"due index rebuilt: \d+ domains in domain partitions \[([\d, ]*)\]", worker.log())
    return {int(p) for p in found[-1].split(",") if p.strip()} if found else set()


# ---------------------------------------------------------------- topics


async def create_topic(bootstrap: str, name: str, partitions: int, config: dict[str, str] | None = None) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1, topic_configs=config or {})]
        )
    except TopicAlreadyExistsError:
        pass
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str | None, records: Iterable[tuple]) -> tuple[float, float]:
    """Sends (key, value) records to `topic`, or (topic, key, value) ones with topic None, as fast as the
    producer batches them; returns (first send, all acknowledged) times."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=64 * 1024)
    await producer.start()
    try:
        first = time.monotonic()
        for record in records:
            to, key, value = (topic, *record) if topic is not None else record
            await producer.send(to, key=key, value=value)  # waits only when the buffer is full
        await producer.flush()
        return first, time.monotonic()
    finally:
        await producer.stop()


async def cancel(task: asyncio.Task | None) -> None:
    """Cancels a polling task and waits until it has stopped."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@dataclass
class Progress:
    """(time, count) points as a count grows, to find when it reached a share of the total."""

    points: list[tuple[float, int]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return self.points[-1][1] if self.points else 0

    def add(self, at: float, count: int) -> None:
        self.points.append((at, count))

    def reached(self, count: int) -> float:
        for at, seen in self.points:
            if seen >= count:
                return at
        raise ValueError(f"the count never reached {count}")

    def steady_rate(self, total: int, low: float = 0.1, high: float = 0.9) -> float:
        """Records per second between `low` and `high` of the total: start-up and the tail left out."""
        first, last = round(total * low), round(total * high)
        seconds = self.reached(last) - self.reached(first)
        # Both seen at one sample (a run too small for its polling): no rate, rather than a huge one.
        return (last - first) / seconds if seconds > 0 else math.nan


class TopicReader:
    """Reads whole topics from the beginning without a consumer group, counting records as they arrive."""

    def __init__(
        self,
        bootstrap: str,
        *topics: str,
        on_record: Callable[[object, float], None] | None = None,
        max_records: int = 500,
    ):
        self.bootstrap = bootstrap
        self.topics = topics
        self.on_record = on_record
        self.max_records = max_records  # small batches: fine-grained progress points
        self.progress = Progress()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None

    async def start(self, timeout: float = 30.0) -> TopicReader:
        # A short fetch wait: the reader's own delay must not show up in latencies.
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            metadata_max_age_ms=500,
            fetch_max_wait_ms=20,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        await self._consumer.start()
        self._consumer.subscribe(topics=list(self.topics))
        deadline = time.monotonic() + timeout
        while {tp.topic for tp in self._consumer.assignment()} != set(self.topics):
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics {self.topics} were not all assigned")
            # getmany also drives the metadata refresh that brings the assignment
            self._keep(await self._consumer.getmany(timeout_ms=50, max_records=self.max_records))
        self._task = asyncio.ensure_future(self._pump())
        return self

    async def _pump(self) -> None:
        while True:
            self._keep(await self._consumer.getmany(timeout_ms=100, max_records=self.max_records))

    def _keep(self, batches: dict) -> None:
        if not batches:
            return
        now = time.monotonic()
        count = self.progress.count
        for messages in batches.values():
            count += len(messages)
            if self.on_record is not None:
                for message in messages:
                    self.on_record(message, now)
        self.progress.add(now, count)

    async def wait_count(self, count: int, timeout: float, on_fail: Callable[[], str] | None = None) -> None:
        await wait_until(
            lambda: self.progress.count >= count,
            timeout,
            f"{count:,} records on {', '.join(self.topics)} (have {self.progress.count:,})",
            on_fail,
        )

    async def stop(self) -> None:
        await cancel(self._task)
        if self._consumer is not None:
            await self._consumer.stop()


# ---------------------------------------------------------------- events


def email_added(account: str, email: str, event_id: str) -> tuple[bytes, bytes]:
    """An `email_added` record of the event contract, keyed by account id."""
    return account.encode(), orjson.dumps(
        {
            "event_id": event_id,
            "type": "email_added",
            "account_id": account,
            "email": email,
            "verified": True,
            "verified_at": "2024-05-01T12:00:00Z",
            "occurred_at": "2026-11-01T10:00:00Z",
        }
    )


def login(account: str, email: str, event_id: str) -> tuple[bytes, bytes]:
    """A login record of the event contract with the account's `emails` snapshot, keyed by account id."""
    return account.encode(), orjson.dumps(
        {
            "event_id": event_id,
            "account_id": account,
            "occurred_at": "2026-11-01T10:05:00Z",
            "emails": [{"email": email, "verified": True, "verified_at": "2024-05-01T12:00:00Z"}],
        }
    )


def account_events(
    tag: str, count: int, domains: int, email_topic: str, login_topic: str
) -> list[tuple[str, bytes, bytes]]:
    """`count` (topic, key, value) input records: three `email_added` of new accounts, spread round-robin
    over `domains` custom domains, then a login with a snapshot for one of them, and so on. Every record
    is one account-table write (a new event id), so the accounts changelog counts them."""
    records = []
    account = 0
    while len(records) < count:
        if len(records) % 4 == 3:
            i = account - 2
            records.append(
                (login_topic, *login(f"{tag}-{i}", f"user{i}@shop{i % domains}-{tag}.com", f"{tag}-login-{i}"))
            )
        else:
            records.append(
                (
                    email_topic,
                    *email_added(
                        f"{tag}-{account}", f"user{account}@shop{account % domains}-{tag}.com", f"{tag}-ev-{account}"
                    ),
                )
            )
            account += 1
    return records


def new_accounts(tag: str, count: int, domains: int) -> list[tuple[bytes, bytes]]:
    """`count` distinct accounts spread round-robin over `domains` custom domains."""
    return [email_added(f"{tag}-{i}", f"user{i}@shop{i % domains}-{tag}.com", f"{tag}-ev-{i}") for i in range(count)]
