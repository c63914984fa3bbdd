"""Real parts for the tests: broker, Fastly on loopback, worker processes, topic readers.

Nothing here is a mock: workers are `python -m streams worker` processes, the
Fastly API is an HTTP server on loopback, the broker speaks Kafka.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.kafka.broker import free_port
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
    """Poll until `predicate()` is truthy (every `every` seconds); fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
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

    async def start(self, timeout: float = 60.0) -> Worker:
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

    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap
        self.records: dict[str, list] = defaultdict(list)
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> Bus:
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, max_request_size=4 * 1024 * 1024)
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
