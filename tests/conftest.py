from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from streams.kafka.broker import EmbeddedBroker
from tests.dns_server import DnsServer
from tests.harness import Bus, FastlyServer, Worker, WorkerConfig
from tests.rdap_server import RdapServer


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A process environment with no LAPSEWATCH_ setting of the caller's, a data dir of the test's own and
    no bootstrap refresh: commands see only what the test sets."""
    for key in [k for k in os.environ if k.startswith("LAPSEWATCH_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("LAPSEWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LAPSEWATCH_RDAP_BOOTSTRAP_URL", "off")
    return monkeypatch


@pytest.fixture(scope="session")
def broker_url():
    """LAPSEWATCH_TEST_BROKER (e.g. an Apache Kafka) or an embedded Tansu broker."""
    url = os.environ.get("LAPSEWATCH_TEST_BROKER")
    if url:
        yield url if "://" in url else f"kafka://{url}"
        return
    broker = EmbeddedBroker().start()
    yield broker.url
    broker.stop()


@pytest.fixture(scope="session")
def fastly():
    server = FastlyServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def rdap():
    """An HTTPS RDAP server on loopback, trusted through tests/tls.py's CA."""
    server = RdapServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dns():
    """A DNS server on loopback (UDP and TCP)."""
    server = DnsServer().start()
    yield server
    server.stop()


@dataclass
class Pipeline:
    """A running worker with its own topics and a bus that reads all of its outputs."""

    config: WorkerConfig
    worker: Worker
    bus: Bus

    @property
    def topics(self) -> dict[str, str]:
        return self.config.topics

    async def email(self, event: dict, key: str | None = None) -> None:
        await self.bus.send(self.topics["email_events"], key or event["account_id"], event)

    async def login(self, event: dict) -> None:
        await self.bus.send(self.topics["logins"], event["account_id"], event)

    def unverified(self, account: str | None = None, domain: str | None = None) -> list[dict]:
        return self.bus.values(
            self.topics["email_unverified"],
            lambda v: (
                (account is None or v["data"]["account_id"] == account)
                and (domain is None or v["data"]["domain"] == domain)
            ),
        )

    def transitions(self, domain: str) -> list[str]:
        return [
            v["data"]["transition"]
            for v in self.bus.values(self.topics["domain_status"], lambda v: v["subject"] == domain)
        ]

    def dead_letters(self) -> list[dict]:
        return self.bus.values(self.topics["dead_letter"])


async def open_pipeline(broker_url: str, config: WorkerConfig) -> Pipeline:
    """Start a worker with `config` and a bus that follows its output topics."""
    worker = await Worker(config).start()
    bus = await Bus(broker_url.split("://", 1)[1]).start()
    await bus.follow(config.topics["email_unverified"], config.topics["domain_status"], config.topics["dead_letter"])
    return Pipeline(config, worker, bus)


async def close_pipeline(pipeline: Pipeline) -> None:
    pipeline.worker.stop()
    await pipeline.bus.close()


@pytest.fixture
async def start_pipeline(broker_url, fastly, tmp_path_factory):
    """Factory: start a worker (settings overridable) and follow its output topics."""
    started: list[Pipeline] = []

    async def start(overrides: dict[str, str] | None = None, config: WorkerConfig | None = None) -> Pipeline:
        config = config or WorkerConfig(broker_url, fastly.url, tmp_path_factory.mktemp("worker"), overrides or {})
        started.append(await open_pipeline(broker_url, config))
        return started[-1]

    yield start
    for pipeline in started:
        await close_pipeline(pipeline)


@pytest.fixture(scope="session")
async def shared(broker_url, fastly, tmp_path_factory):
    """One worker shared by the tests that need no special settings (each uses its own domains)."""
    pipeline = await open_pipeline(broker_url, WorkerConfig(broker_url, fastly.url, tmp_path_factory.mktemp("shared")))
    yield pipeline
    await close_pipeline(pipeline)
