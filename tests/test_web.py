"""The worker's web endpoints, on a real worker: /healthz, /readyz, /metrics, and where they listen."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.core.batches import partition_for
from tests.conftest import close_pipeline, open_pipeline
from tests.harness import Worker, WorkerConfig, email_event, unique, unique_domain, wait_for
from tests.test_two_workers import ALL_PARTITIONS, owned_partitions

T = 60  # seconds; every wait ends as soon as its condition holds


def samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def metric(client: httpx.AsyncClient, url: str, name: str, **labels: str) -> float:
    response = await client.get(url + "/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return samples(response.text).get((name, tuple(sorted(labels.items()))), 0.0)


async def test_health_readiness_and_metrics_of_a_running_worker(shared, fastly):
    url = shared.worker.web_url
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.get(url + "/healthz")).json() == {"status": "ok"}
        deadline = time.monotonic() + 30
        ready = await client.get(url + "/readyz")
        while ready.status_code != 200:
            assert time.monotonic() < deadline, ready.text
            await asyncio.sleep(0.2)
            ready = await client.get(url + "/readyz")
        body = ready.json()
        assert body["status"] == "ready" and body["joined_group"] and body["provider_circuits_closed"]
        assert body["input_reader_running"]

        before = await metric(client, url, "lapsewatch_email_unverified_total", reason="domain_expired")
        checks_before = await metric(client, url, "lapsewatch_checks_total", provider="fastly", verdict="lapsed")
        domain = unique_domain("metrics")
        fastly.scenario.set(domain, "inactive")
        account = unique("acct")
        await shared.email(email_event("email_added", account, f"m@{domain}", verified=True))
        deadline = time.monotonic() + 30
        while not shared.unverified(account=account):
            assert time.monotonic() < deadline, "no email-unverified event"
            await asyncio.sleep(0.1)
        assert await metric(client, url, "lapsewatch_checks_total", provider="fastly", verdict="lapsed") > checks_before
        # Counted after it is sent: wait for the counter, not for a guess.
        while await metric(client, url, "lapsewatch_email_unverified_total", reason="domain_expired") <= before:
            assert time.monotonic() < deadline, "email-unverified not counted"
            await asyncio.sleep(0.1)
        text = (await client.get(url + "/metrics")).text
        for name in (
            "lapsewatch_due_backlog",
            "lapsewatch_check_duration_seconds_bucket",
            "lapsewatch_consumer_lag",
            "lapsewatch_events_in_total",
            "lapsewatch_dead_lettered_total",
        ):
            assert name in text, name
        # The tables' RocksDB memory, which RSS includes: the domain just written sits in a memtable.
        found = samples(text)
        memtables = {
            labels: value
            for (name, labels), value in found.items()
            if name == "lapsewatch_table_memory_bytes" and ("kind", "memtables") in labels
        }
        assert {dict(labels)["table"] for labels in memtables} == {"accounts", "domains"}, memtables
        assert all(value > 0 for value in memtables.values()), memtables
        # lapsewatch_consumer_lag covers both groups: the input reader's partitions beside Faust's.
        lag_topics = {dict(labels)["topic"] for (name, labels) in found if name == "lapsewatch_consumer_lag"}
        app_id = shared.config.app_id
        assert {shared.topics["email_events"], shared.topics["logins"], f"{app_id}-account-commands"} <= lag_topics
        # Changelogs are read to their end, never committed: counted, they would read as the tables' size.
        assert not {topic for topic in lag_topics if topic.endswith("-changelog")}, lag_topics

        def input_lag(found: dict) -> dict:
            topic = ("topic", shared.topics["email_events"])
            return {
                labels: v
                for (name, labels), v in found.items()
                if name == "lapsewatch_consumer_lag" and topic in labels
            }

        # Highwater minus the input group's committed offset: back to 0 once the event's batch is committed.
        while (lags := input_lag(samples((await client.get(url + "/metrics")).text))) and any(lags.values()):
            assert time.monotonic() < deadline, lags
            await asyncio.sleep(0.2)
        assert len(lags) == 4, lags  # one worker owns every partition of the input topic
        assert (await client.get(url + "/readyz")).json()["input_partitions"] == 8  # and of both inputs


async def test_json_logs_are_one_object_per_line_with_the_decisions_and_no_secrets(start_pipeline, fastly):
    import json

    from tests.harness import FASTLY_TEST_KEY

    pipeline = await start_pipeline({"LAPSEWATCH_LOG_FORMAT": "json"})
    domain = unique_domain("jsonlog")
    fastly.scenario.set(domain, "inactive")
    account = unique("acct")
    await pipeline.email(email_event("email_added", account, f"j@{domain}", verified=True))
    deadline = time.monotonic() + 30
    while not any(f"account {account}" in line for line in pipeline.worker.log().splitlines()):
        assert time.monotonic() < deadline, pipeline.worker.log_tail()
        await asyncio.sleep(0.1)
    records = [json.loads(line) for line in pipeline.worker.log().splitlines() if line.startswith("{")]
    assert len(records) > 10 and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    decision = next(r for r in records if f"account {account}" in r["message"])
    assert decision["logger"] == "lapsewatch.domains" and "email-unverified" in decision["message"]
    assert FASTLY_TEST_KEY not in pipeline.worker.log() and f"j@{domain}" not in decision["message"]


async def test_readyz_says_not_ready_while_a_provider_circuit_is_open(start_pipeline, fastly):
    pipeline = await start_pipeline(
        {
            "LAPSEWATCH_BREAKER_FAILURES": "2",
            "LAPSEWATCH_BREAKER_COOLDOWN": "1h",
            "LAPSEWATCH_BREAKER_MAX_COOLDOWN": "1h",
        }
    )
    url = pipeline.worker.web_url
    async with httpx.AsyncClient(timeout=5) as client:
        deadline = time.monotonic() + 30
        while (await client.get(url + "/readyz")).status_code != 200:
            assert time.monotonic() < deadline, "the worker never became ready"
            await asyncio.sleep(0.2)
        for n in range(3):
            domain = unique_domain(f"down{n}")
            fastly.scenario.set(domain, ["http:500"] * 10)
            await pipeline.email(email_event("email_added", unique("d"), f"x@{domain}", verified=True))
        deadline = time.monotonic() + 60
        while (ready := await client.get(url + "/readyz")).status_code != 503:
            assert time.monotonic() < deadline, ready.text
            await asyncio.sleep(0.2)
        body = ready.json()
        assert body["status"] == "not ready" and body["provider_circuits_closed"] is False and body["open_circuits"]
        assert body["tables_recovered"] and body["joined_group"]  # only the circuit keeps it out of rotation
        assert (await client.get(url + "/healthz")).status_code == 200  # alive all the same


# --- where the web server listens -----------------------------------------------------------------------------


def non_loopback_address() -> str | None:
    """An IPv4 address of this machine other than loopback, or None if it has none."""
    candidates = []
    try:
        candidates += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    except OSError:
        pass
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # UDP: picks the outgoing address, sends nothing
            candidates.append(probe.getsockname()[0])
    except OSError:
        pass
    fib_trie = Path("/proc/net/fib_trie")
    if fib_trie.exists():  # Linux: every local address, even without a route
        candidates += re.findall(r"\|-- ([\d.]+)\n\s+/32 host LOCAL", fib_trie.read_text())
    for address in candidates:
        ip = ipaddress.ip_address(address)
        if ip.is_loopback or ip.is_unspecified:
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as check:
                check.bind((address, 0))  # only an address of this machine can be bound
        except OSError:
            continue
        return address
    return None


def web_port(worker: Worker) -> int:
    return int(worker.web_url.rsplit(":", 1)[1])


def one_domain_per_partition(label: str) -> list[str]:
    """Domains that land on every domain partition, so each worker of a split group owns some."""
    found: dict[int, str] = {}
    while len(found) < len(ALL_PARTITIONS):
        domain = unique_domain(label)
        found.setdefault(partition_for(domain, len(ALL_PARTITIONS)), domain)
    return list(found.values())


async def test_a_worker_with_default_settings_listens_on_loopback_only_and_advertises_it(shared, fastly):
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no address but loopback, so none to show the worker does not listen on")
    worker = shared.worker  # started without LAPSEWATCH_WEB_BIND or LAPSEWATCH_WEB_HOST
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.get(worker.web_url + "/healthz")).json() == {"status": "ok"}
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(address, web_port(worker))

        domain = unique_domain("advertised")
        fastly.scenario.set(domain, "active")
        await shared.email(email_event("email_added", unique("acct"), f"a@{domain}", verified=True))
        await wait_for(lambda: shared.transitions(domain), T, "the domain in the table", worker.log_tail)
        answer = await client.get(f"{worker.web_url}/domains/{domain}")
        assert answer.status_code == 200 and answer.json()["worker"] == f"http://127.0.0.1:{web_port(worker)}"


@pytest.fixture(scope="module")
async def workers_on_every_interface(broker_url, fastly, tmp_path_factory):
    """Two workers of one group bound to 0.0.0.0 and advertising 127.0.0.1, each owning half the domains."""
    every_interface = {"LAPSEWATCH_WEB_BIND": "0.0.0.0", "LAPSEWATCH_WEB_HOST": "127.0.0.1"}
    first = WorkerConfig(broker_url, fastly.url, tmp_path_factory.mktemp("bind-first"), every_interface)
    second = WorkerConfig(
        broker_url, fastly.url, tmp_path_factory.mktemp("bind-second"), every_interface, app_id=first.app_id
    )
    pipeline = await open_pipeline(broker_url, first)
    other = Worker(second)
    try:
        await other.start()

        def split() -> bool:
            mine, theirs = owned_partitions(pipeline.worker), owned_partitions(other)
            return bool(mine and theirs and not mine & theirs and mine | theirs == ALL_PARTITIONS)

        await wait_for(
            split,
            T,
            "both workers to own half the domain partitions",
            lambda: pipeline.worker.log_tail(20) + "\n" + other.log_tail(20),
        )
        yield pipeline, other
    finally:
        other.stop()
        await close_pipeline(pipeline)


async def test_a_worker_bound_to_every_interface_answers_on_a_non_loopback_address(workers_on_every_interface):
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no address but loopback to connect to")
    pipeline, other = workers_on_every_interface
    async with httpx.AsyncClient(timeout=5) as client:
        for worker in (pipeline.worker, other):
            answer = await client.get(f"http://{address}:{web_port(worker)}/healthz")
            assert answer.json() == {"status": "ok"}


async def test_workers_bound_to_every_interface_forward_domains_to_the_advertised_host(
    workers_on_every_interface, fastly
):
    pipeline, other = workers_on_every_interface
    domains = one_domain_per_partition("forwarded")
    for domain in domains:
        fastly.scenario.set(domain, "active")
        await pipeline.email(email_event("email_added", unique("acct"), f"f@{domain}", verified=True))
    await wait_for(
        lambda: all(len(pipeline.transitions(d)) >= 2 for d in domains),
        T,
        "a verdict for every domain",
        pipeline.worker.log_tail,
    )
    owners = set()
    async with httpx.AsyncClient(timeout=10) as client:
        for domain in domains:
            answers = [await client.get(f"{worker.web_url}/domains/{domain}") for worker in (pipeline.worker, other)]
            assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
            assert answers[0].json() == answers[1].json()
            owners.add(answers[0].json()["worker"])
    # Each answer names its owner by LAPSEWATCH_WEB_HOST, the address the other worker forwarded to.
    assert owners == {f"http://127.0.0.1:{web_port(worker)}" for worker in (pipeline.worker, other)}
