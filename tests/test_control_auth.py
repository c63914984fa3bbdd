"""Signed control commands on the broker: a worker with LAPSEWATCH_CONTROL_KEY_FILE applies what the CLI signs
with the same key and dead-letters the rest as `unauthenticated`."""

from __future__ import annotations

import asyncio
import base64
import secrets
import subprocess
import sys
import time
import urllib.request

import orjson

from schemas import first_error
from streams.core.control_auth import ControlKeys
from streams.core.times import iso_utc
from tests.harness import unique_domain, wait_for
from tests.test_control import audits

T = 60


def command(domain: str, requested_at: float) -> dict:
    return {
        "command": "allow",
        "domain": domain,
        "requested_by": "intruder",
        "reason": None,
        "requested_at": iso_utc(requested_at),
        "command_id": f"cmd-{domain}",
    }


async def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "streams", *args, "--by", "tester"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done


async def test_only_commands_signed_with_the_workers_key_are_applied(start_pipeline, tmp_path):
    key, other = secrets.token_hex(32), secrets.token_hex(32)
    key_file, other_file = tmp_path / "control-key", tmp_path / "other-key"
    key_file.write_text(key + "\n")
    other_file.write_text(other + "\n")
    pipeline = await start_pipeline({"LAPSEWATCH_CONTROL_KEY_FILE": str(key_file)})
    log, topic = pipeline.worker.log_tail, pipeline.topics["control"]

    # Signed by the CLI with the same key: applied and audited.
    signed = unique_domain("signed")
    done = await cli(pipeline.config.env(), "allow", signed, "--reason", "ours")
    assert " sent signed as " in done.stdout
    await wait_for(lambda: audits(pipeline, signed), T, "the signed allow's audit", log)
    [audit] = audits(pipeline, signed)
    assert audit["applied"] and audit["allowed"] and audit["requested_by"] == "tester"

    # Signed by the CLI with another key.
    wrong_key = unique_domain("wrong-key")
    await cli(pipeline.config.env() | {"LAPSEWATCH_CONTROL_KEY_FILE": str(other_file)}, "allow", wrong_key)
    # Unsigned, as anyone who can produce to the topic would send it.
    unsigned = unique_domain("unsigned")
    await pipeline.bus.send(topic, unsigned, command(unsigned, time.time()))
    # Signed for one domain, then moved to another (record key and value).
    mine, victim = unique_domain("mine"), unique_domain("victim")
    moved = ControlKeys((key.encode(),)).sign(mine.encode(), command(mine, time.time())) | {"domain": victim}
    await pipeline.bus.send(topic, victim, moved)
    # Signed with the right key two hours ago: older than LAPSEWATCH_CONTROL_MAX_AGE (1h), a replay.
    stale = unique_domain("stale")
    await pipeline.bus.send(
        topic, stale, ControlKeys((key.encode(),)).sign(stale.encode(), command(stale, time.time() - 7200))
    )

    refused = {wrong_key, unsigned, victim, stale}

    def dead_letters() -> dict[str, dict]:
        return {
            base64.b64decode(d["key_b64"]).decode(): d
            for d in pipeline.dead_letters()
            if d["source_topic"] == topic and d["key_b64"]
        }

    await wait_for(lambda: set(dead_letters()) == refused, T, "four dead letters from the control topic", log)
    letters = dead_letters()
    assert {name: d["reason"] for name, d in letters.items()} == dict.fromkeys(refused, "unauthenticated")
    assert letters[unsigned]["error"].startswith("unsigned")
    assert "does not match" in letters[wrong_key]["error"] and "does not match" in letters[victim]["error"]
    assert letters[stale]["error"].startswith("stale")
    for letter in letters.values():
        assert first_error("dead-letter", letter) is None, letter
        # The value is kept as sent (signature included) for whoever looks into it; the key appears nowhere.
        assert key not in orjson.dumps(letter).decode()
    # Refused before forwarding: nothing reached the domains.
    for name in refused:
        assert audits(pipeline, name) == [], name

    metrics = await asyncio.to_thread(
        lambda: urllib.request.urlopen(f"{pipeline.worker.web_url}/metrics", timeout=10).read().decode()
    )
    assert 'lapsewatch_dead_lettered_total{reason="unauthenticated"} 4.0' in metrics
    assert key not in pipeline.worker.log_path.read_text()


async def test_a_worker_without_a_key_takes_signed_and_unsigned_commands(shared):
    # As before keys existed; the CLI signs nothing without one.
    signed, unsigned = unique_domain("nokey-signed"), unique_domain("nokey-unsigned")
    value = ControlKeys((secrets.token_hex(32).encode(),)).sign(signed.encode(), command(signed, time.time()))
    await shared.bus.send(shared.topics["control"], signed, value)
    done = await cli(shared.config.env(), "allow", unsigned)
    assert " sent as " in done.stdout
    await wait_for(
        lambda: audits(shared, signed) and audits(shared, unsigned), T, "both audits", shared.worker.log_tail
    )
    assert "control commands are not authenticated" in shared.worker.log_path.read_text()
