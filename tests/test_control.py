"""lapsewatch recheck / allow / unallow: through the control topic to the owning worker, audited on domains.status."""

from __future__ import annotations

import subprocess
import sys

import httpx

from schemas import first_error
from tests.harness import email_event, unique, unique_domain, wait_for

T = 60


def control(pipeline, command: str, name: str, *extra: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "streams", command, name, "--by", "tester", *extra],
        env=pipeline.config.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done


def audits(pipeline, domain: str) -> list[dict]:
    return [
        v["data"]["control"] | {"time": v["time"]}
        for v in pipeline.bus.values(
            pipeline.topics["domain_status"], lambda v: v["subject"] == domain and v["data"]["transition"] == "control"
        )
    ]


async def test_an_allowed_domain_is_never_unverified_until_unallowed(shared, fastly):
    domain = unique_domain("allowed")
    fastly.scenario.set(domain, "inactive")
    # Allowed before any account uses it: the allow is kept for when one does.
    control(shared, "allow", domain, "--reason", "the platform's own domain")
    await wait_for(lambda: audits(shared, domain), T, "the allow's audit record", shared.worker.log_tail)
    assert audits(shared, domain)[0] | {"time": None, "command_id": None, "requested_at": None} == {
        "command": "allow",
        "requested_by": "tester",
        "reason": "the platform's own domain",
        "applied": True,
        "outcome": None,
        "allowed": True,
        "time": None,
        "command_id": None,
        "requested_at": None,
    }

    account = unique("staff")
    await shared.email(email_event("email_added", account, f"{account}@{domain}", verified=True))
    await wait_for(lambda: "lapsed" in shared.transitions(domain), T, "the lapse", shared.worker.log_tail)
    async with httpx.AsyncClient(timeout=10) as client:
        shown = (await client.get(f"{shared.worker.web_url}/domains/{domain}")).json()
    assert shown["status"] == "lapsed" and shown["allowed"]["by"] == "tester"

    control(shared, "unallow", domain)

    def unallowed():
        return [a for a in audits(shared, domain) if a["command"] == "unallow"]

    await wait_for(
        lambda: shared.unverified(account=account) and unallowed(),
        T,
        "the held-back event and the unallow's audit",
        shared.worker.log_tail,
    )
    events, unallowed = shared.unverified(account=account), unallowed()
    assert len(events) == 1 and len(unallowed) == 1 and not unallowed[0]["allowed"]
    # Sent because of the unallow, not late: the allow held it back while the domain was lapsed.
    assert events[0]["time"] >= unallowed[0]["time"]
    # The audit records follow the published contract.
    for record in shared.bus.values(shared.topics["domain_status"], lambda v: v["subject"] == domain):
        assert first_error("domain-status", record) is None, record


async def test_recheck_asks_the_provider_now_and_bad_commands_are_dead_lettered(shared, fastly):
    domain = unique_domain("recheck")
    fastly.scenario.set(domain, "active")
    account = unique("r")
    await shared.email(email_event("email_added", account, f"{account}@{domain}", verified=True))
    await wait_for(lambda: "active" in shared.transitions(domain), T, "the first check", shared.worker.log_tail)
    before = fastly.calls(domain)
    control(shared, "recheck", f"someone@mail.{domain}", "--reason", "registrar says it renewed")
    await wait_for(
        lambda: fastly.calls(domain) > before and audits(shared, domain),
        T,
        "the recheck's provider call and its audit",
        shared.worker.log_tail,
    )
    assert [a["command"] for a in audits(shared, domain)] == ["recheck"] and audits(shared, domain)[0]["applied"]

    unknown = unique_domain("nobody")
    control(shared, "recheck", unknown)
    await wait_for(lambda: audits(shared, unknown), T, "the audit of a recheck that changed nothing")
    assert audits(shared, unknown)[0]["applied"] is False

    topic = shared.topics["control"]
    await shared.bus.send(topic, "bad-control.com", b"{not json")
    await shared.bus.send(
        topic,
        "bad-control.com",
        {
            "command": "destroy",
            "domain": "bad-control.com",
            "requested_by": "x",
            "requested_at": "2026-11-23T04:00:00Z",
            "command_id": "c1",
        },
    )
    await shared.bus.send(
        topic,
        "other-control.com",
        {
            "command": "allow",
            "domain": "bad-control.com",
            "requested_by": "x",
            "requested_at": "2026-11-23T04:00:00Z",
            "command_id": "c2",
        },
    )

    def rejected():
        return sorted(d["reason"] for d in shared.dead_letters() if d["source_topic"] == topic)

    await wait_for(lambda: len(rejected()) == 3, T, "three dead letters from the control topic", shared.worker.log_tail)
    assert rejected() == ["invalid_event", "invalid_json", "key_mismatch"]
