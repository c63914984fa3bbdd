"""/domains/{name} and `lapsewatch domain NAME` on a running worker."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import httpx
import orjson

from streams.core import batches
from tests.harness import email_event, unique, unique_domain, wait_for

T = 60


async def test_a_domain_is_shown_with_counts_and_evidence_never_addresses(shared, fastly):
    domain = unique_domain("view")
    fastly.scenario.set(domain, "active")
    a, b = unique("va"), unique("vb")
    await shared.email(email_event("email_added", a, f"Alice@Mail.{domain.upper()}", verified=True))
    await shared.email(email_event("email_added", b, f"bob@{domain}", verified=False))
    await wait_for(lambda: "active" in shared.transitions(domain), T, "the domain's check", shared.worker.log_tail)
    url = shared.worker.web_url
    async with httpx.AsyncClient(timeout=5) as client:
        # The table write follows the status event: poll until both members are there.
        deadline = time.monotonic() + T
        while (response := await client.get(f"{url}/domains/{domain}")).status_code != 200 or response.json()[
            "members"
        ]["addresses"] < 2:
            assert time.monotonic() < deadline, response.text
            await asyncio.sleep(0.2)
        # Any spelling of the domain, or a host under it, finds the registrable domain.
        response = await client.get(f"{url}/domains/mail.{domain.upper()}")
        assert response.status_code == 200
        shown = response.json()
        assert shown["domain"] == domain and shown["status"] == "active" and shown["provider"] == "fastly"
        assert shown["members"] == {"accounts": 2, "addresses": 2, "verified": 1}
        assert shown["partition"] == batches.partition_for(domain, 4)
        assert shown["last_success_at"] and shown["next_check_at"] > shown["last_check_at"]
        assert "alice" not in response.text.lower() and "bob" not in response.text.lower()

        unknown = await client.get(f"{url}/domains/{unique_domain('never-seen')}")
        assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_domain"
        invalid = await client.get(f"{url}/domains/not a domain")
        assert invalid.status_code == 400 and invalid.json()["error"] == "invalid_domain"

    cli = [sys.executable, "-m", "streams", "domain", "--worker", url]
    shown_json = subprocess.run([*cli, f"someone@{domain}", "--json"], capture_output=True, text=True, timeout=60)
    assert shown_json.returncode == 0, shown_json.stderr
    assert orjson.loads(shown_json.stdout)["members"]["accounts"] == 2
    text = subprocess.run([*cli, domain], capture_output=True, text=True, timeout=60)
    assert text.returncode == 0 and f"{domain}: active" in text.stdout and "2 accounts" in text.stdout
    with_history = subprocess.run(
        [*cli, domain, "--history", "--json"], env=shared.config.env(), capture_output=True, text=True, timeout=60
    )
    assert with_history.returncode == 0, with_history.stderr
    history = orjson.loads(with_history.stdout)["history"]
    assert [entry["transition"] for entry in history][:2] == ["first_seen", "active"]
    assert history[1]["provider"] == "fastly" and history[1]["time"] >= history[0]["time"]
    missing = subprocess.run([*cli, unique_domain("never-seen")], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 3 and "no account uses this domain" in missing.stderr
    down = subprocess.run(
        [sys.executable, "-m", "streams", "domain", "--worker", "http://127.0.0.1:9", domain],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert down.returncode == 1 and "cannot reach the worker" in down.stderr
