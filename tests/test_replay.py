"""`lapsewatch replay-dead-letters` on the real broker and a real worker."""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import UTC, datetime

from click.testing import CliRunner

from streams.cli import main
from tests.harness import email_event, unique


async def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


def run_cli(pipeline, monkeypatch, *args: str):
    monkeypatch.setenv("LAPSEWATCH_BROKER", pipeline.config.broker_url)
    monkeypatch.setenv("LAPSEWATCH_APP_ID", pipeline.config.app_id)
    for name, topic in pipeline.topics.items():
        monkeypatch.setenv(f"LAPSEWATCH_TOPIC_{name.upper()}", topic)
    return CliRunner().invoke(main, ["replay-dead-letters", *args])


async def test_a_dead_letter_goes_back_to_its_source_topic_and_filters_apply(shared, monkeypatch):
    marker = unique("replay")
    # Only this test's dead letters: the shared worker's topic holds other tests' too.
    since = datetime.now(UTC).isoformat()
    await shared.bus.send(shared.topics["email_events"], marker, b"{not json " + marker.encode())
    bad_address = email_event("email_added", marker, "no-at-sign", verified=True)
    await shared.email(bad_address)

    def letters():
        return [
            d for d in shared.dead_letters() if d.get("key_b64") and base64.b64decode(d["key_b64"]) == marker.encode()
        ]

    await wait_until(lambda: len(letters()) == 2, 30, "both inputs dead-lettered")
    dry = await asyncio.to_thread(
        run_cli, shared, monkeypatch, "--reason", "invalid_json", "--since", since, "--dry-run"
    )
    assert dry.exit_code == 0, dry.output
    assert f"would replay to {shared.topics['email_events']}: 1" in dry.output
    assert len(letters()) == 2  # a dry run produces nothing

    replayed = await asyncio.to_thread(run_cli, shared, monkeypatch, "--reason", "invalid_json", "--since", since)
    assert replayed.exit_code == 0, replayed.output
    # The malformed value reached its topic again, failed again, and was dead-lettered again: only it.
    await wait_until(lambda: len(letters()) == 3, 30, "the replayed input dead-lettered again")
    assert sorted(d["reason"] for d in letters()) == ["invalid_address", "invalid_json", "invalid_json"]
