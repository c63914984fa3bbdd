"""RDAP, DNS and the manners, end to end: worker processes on the broker, the
registry played by an HTTPS RDAP server and the resolver by a DNS server, both
on loopback."""

from __future__ import annotations

import pytest

from tests import rdap_documents as docs
from tests.conftest import close_pipeline, open_pipeline
from tests.harness import WorkerConfig, email_event, unique, unique_domain, wait_for
from tests.rdap_server import RdapServer
from tests.tls import certificate_authority

T = 45  # seconds: generous for shared CI machines; every wait ends as soon as its condition holds


def rdap_settings(rdap: RdapServer, **extra: str) -> dict[str, str]:
    return {
        "LAPSEWATCH_STATUS_PROVIDER": "rdap",
        "LAPSEWATCH_RDAP_SERVERS": f"com={rdap.base_url('registry')}",
        "LAPSEWATCH_CA_BUNDLE": str(certificate_authority().ca_pem_path),
        **extra,
    }


@pytest.fixture(scope="module")
async def confirmed(broker_url, fastly, rdap, dns, tmp_path_factory):
    """RDAP finds, DNS confirms one second later."""
    config = WorkerConfig(
        broker_url,
        fastly.url,
        tmp_path_factory.mktemp("rdap"),
        rdap_settings(
            rdap,
            LAPSEWATCH_CONFIRM_PROVIDER="dns",
            LAPSEWATCH_DNS_RESOLVERS=f"{dns.address}:{dns.port}",
            LAPSEWATCH_CONFIRM_AFTER="1s",
        ),
    )
    pipeline = await open_pipeline(broker_url, config)
    yield pipeline
    await close_pipeline(pipeline)


async def test_an_rdap_lapse_confirmed_by_dns_emits_once_with_its_evidence(confirmed, rdap, dns):
    domain = unique_domain("lapsed")
    rdap.set(
        domain,
        {"json": docs.domain_object(domain, ["redemption period"], "2016-02-01T00:00:00Z", "2026-09-01T00:00:00Z")},
    )
    dns.set(domain, "nxdomain")
    account = unique("acct")
    await confirmed.email(
        email_event("email_added", account, f"ann@{domain}", verified=True, verified_at="2020-01-01T00:00:00Z")
    )
    events = await wait_for(
        lambda: confirmed.unverified(domain=domain), T, "the email-unverified event", confirmed.worker.log_tail
    )
    data = events[0]["data"]
    assert data["reason"] == "domain_expired" and data["account_id"] == account
    assert data["provider"] == "dns"  # the confirming provider gave the confirming verdict
    assert data["expires_at"] == "2026-09-01T00:00:00Z" and data["registered_at"] == "2016-02-01T00:00:00Z"
    assert confirmed.transitions(domain)[:3] == ["first_seen", "lapse_suspected", "lapsed"]
    assert rdap.count(domain) >= 1 and dns.queries(domain) >= 1
    assert len(confirmed.unverified(domain=domain)) == 1


async def test_a_lapse_the_confirming_provider_does_not_see_emits_nothing(confirmed, rdap, dns):
    domain = unique_domain("parked")
    rdap.set(
        domain, {"json": docs.domain_object(domain, ["pending delete"], "2016-02-01T00:00:00Z", "2026-09-01T00:00:00Z")}
    )
    dns.set(domain, ["ns1.parking.example", "ns2.parking.example"])
    await confirmed.email(email_event("email_added", unique("acct"), f"bob@{domain}", verified=True))
    await wait_for(
        lambda: "active" in confirmed.transitions(domain),
        T,
        "the confirmation to come back active",
        confirmed.worker.log_tail,
    )
    assert confirmed.transitions(domain)[:3] == ["first_seen", "lapse_suspected", "active"]
    assert confirmed.unverified(domain=domain) == []


async def test_a_reregistered_domain_unverifies_addresses_verified_before_it(confirmed, rdap, dns):
    domain = unique_domain("resold")
    rdap.set(domain, {"json": docs.domain_object(domain, ["active"], "2026-06-01T00:00:00Z", "2027-06-01T00:00:00Z")})
    old, new = unique("old"), unique("new")
    await confirmed.email(
        email_event("email_added", old, f"old@{domain}", verified=True, verified_at="2024-03-01T00:00:00Z")
    )
    await confirmed.email(
        email_event("email_added", new, f"new@{domain}", verified=True, verified_at="2026-07-01T00:00:00Z")
    )
    events = await wait_for(
        lambda: confirmed.unverified(domain=domain), T, "the domain_reregistered event", confirmed.worker.log_tail
    )
    await wait_for(lambda: "active" in confirmed.transitions(domain), T, "the active verdict")
    assert [(e["data"]["account_id"], e["data"]["reason"]) for e in events] == [(old, "domain_reregistered")]
    assert events[0]["data"]["registered_at"] == "2026-06-01T00:00:00Z"
    assert "reregistered" in confirmed.transitions(domain)
    assert dns.queries(domain) == 0  # an active domain needs no confirmation


async def test_a_provider_outage_emits_nothing_and_every_domain_is_checked_after_it(start_pipeline, rdap):
    pipeline = await start_pipeline(
        rdap_settings(
            rdap,
            LAPSEWATCH_BREAKER_FAILURES="3",
            LAPSEWATCH_BREAKER_COOLDOWN="2s",
            LAPSEWATCH_BREAKER_MAX_COOLDOWN="2s",
        )
    )
    domains = [unique_domain("outage") for _ in range(8)]
    for domain in domains:
        rdap.set(domain, {"status": 503})
    for index, domain in enumerate(domains):
        await pipeline.email(email_event("email_added", unique("acct"), f"u{index}@{domain}", verified=True))
    circuit = lambda state: [
        v
        for v in pipeline.bus.values(pipeline.topics["domain_status"])
        if v["type"] == "lapsewatch.provider.circuit" and v["data"]["state"] == state
    ]
    await wait_for(lambda: circuit("open"), T, "the circuit to open", pipeline.worker.log_tail)
    assert "circuit OPEN" in pipeline.worker.log()
    # While it is open, the server hears only the probes, not a storm of retries.
    calls_when_open = sum(rdap.count(d) for d in domains)
    await wait_for(lambda: len(circuit("open")) >= 2, T, "a failed probe to reopen the circuit")
    assert sum(rdap.count(d) for d in domains) <= calls_when_open + 2
    assert pipeline.unverified() == []

    for domain in domains[1:]:
        rdap.set(
            domain, {"json": docs.domain_object(domain, ["active"], "2015-01-01T00:00:00Z", "2030-01-01T00:00:00Z")}
        )
    rdap.set(
        domains[0],
        {"json": docs.domain_object(domains[0], ["pending delete"], "2015-01-01T00:00:00Z", "2026-01-01T00:00:00Z")},
    )
    await wait_for(
        lambda: all(len(pipeline.transitions(d)) >= 2 for d in domains),
        T,
        "every domain to get a verdict after the outage",
        pipeline.worker.log_tail,
    )
    assert circuit("closed")
    assert [t[1] for t in map(pipeline.transitions, domains[1:])] == ["active"] * 7
    await wait_for(lambda: pipeline.unverified(domain=domains[0]), T, "the lapse behind the outage")
    assert {e["data"]["domain"] for e in pipeline.unverified()} == {domains[0]}
