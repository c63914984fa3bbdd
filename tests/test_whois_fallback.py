"""A worker on the default provider reaches a TLD with no RDAP service through WHOIS: a real
WHOIS server on loopback answers, the lapse is unverified, and the checks are counted as WHOIS's."""

from __future__ import annotations

import httpx
import pytest

from tests import whois_answers as answers
from tests.conftest import close_pipeline, open_pipeline
from tests.harness import WorkerConfig, email_event, unique, unique_domain, wait_for
from tests.whois_server import WhoisServer

T = 45


@pytest.fixture(scope="module")
def whois():
    server = WhoisServer().start()
    yield server
    server.stop()


async def test_a_lapse_on_a_whois_only_tld_is_caught_and_counted_as_whois(broker_url, fastly, whois, tmp_path_factory):
    config = WorkerConfig(
        broker_url,
        fastly.url,
        tmp_path_factory.mktemp("whois"),
        {
            "LAPSEWATCH_STATUS_PROVIDER": "rdap",
            "LAPSEWATCH_WHOIS_SERVERS": f"eu={whois.server}",
            "LAPSEWATCH_WHOIS_SERVER_RATE": "1000",
        },
    )
    pipeline = await open_pipeline(broker_url, config)
    try:
        free, held = unique_domain("libre", "eu"), unique_domain("atelier", "eu")
        whois.set(free, {"bytes": answers.eurid_status(free, "AVAILABLE")})
        whois.set(held, {"bytes": answers.eurid(held)})
        gone, kept = unique("acct"), unique("acct")
        await pipeline.email(email_event("email_added", gone, f"ana@{free}", verified=True))
        await pipeline.email(email_event("email_added", kept, f"bo@{held}", verified=True))

        await wait_for(
            lambda: pipeline.unverified(account=gone), T, "the WHOIS lapse to be unverified", pipeline.worker.log_tail
        )
        await wait_for(
            lambda: "active" in pipeline.transitions(held),
            T,
            "the registered .eu domain's verdict",
            pipeline.worker.log_tail,
        )
        [event] = pipeline.unverified(account=gone)
        assert event["data"]["domain"] == free and event["data"]["reason"] == "domain_expired"
        assert event["data"]["provider"] == "whois" and event["data"]["domain_status"] == ["not found"]
        assert pipeline.unverified(account=kept) == []
        assert all(query.line == f"{free}\r\n".encode() for query in whois.queries_for(free))  # the name alone

        async with httpx.AsyncClient(timeout=10) as client:
            text = (await client.get(pipeline.worker.web_url + "/metrics")).text
        assert 'lapsewatch_checks_total{provider="whois",verdict="lapsed"}' in text
        assert 'lapsewatch_checks_total{provider="whois",verdict="active"}' in text
    finally:
        await close_pipeline(pipeline)
