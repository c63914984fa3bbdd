"""The worker's web endpoints, on a real worker: /healthz, /readyz, /metrics."""

from __future__ import annotations

import asyncio
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import email_event, unique, unique_domain


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
        assert await metric(client, url, "lapsewatch_checks_total", provider="fastly",
                            verdict="lapsed") > checks_before
        # Counted after it is sent: wait for the counter, not for a guess.
        while await metric(client, url, "lapsewatch_email_unverified_total", reason="domain_expired") <= before:
            assert time.monotonic() < deadline, "email-unverified not counted"
            await asyncio.sleep(0.1)
        text = (await client.get(url + "/metrics")).text
        for name in ("lapsewatch_due_backlog", "lapsewatch_check_duration_seconds_bucket", "lapsewatch_consumer_lag",
                     "lapsewatch_events_in_total", "lapsewatch_dead_lettered_total"):
            assert name in text, name


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
    pipeline = await start_pipeline({"LAPSEWATCH_BREAKER_FAILURES": "2", "LAPSEWATCH_BREAKER_COOLDOWN": "1h",
                                     "LAPSEWATCH_BREAKER_MAX_COOLDOWN": "1h"})
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
