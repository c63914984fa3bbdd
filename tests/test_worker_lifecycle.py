"""Settings that change behaviour, restarts, and refusing to start on bad settings."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from datetime import datetime

import pytest

from tests.harness import (
    FASTLY_TEST_KEY,
    InputWorkload,
    Worker,
    WorkerConfig,
    all_committed,
    commands_by_event,
    email_event,
    problems_report,
    snapshot,
    unfinished_offsets,
    unique,
    unique_domain,
    wait_for,
    wait_until,
)

T = 30
KILL_T = 90  # a kill costs a session timeout (6 s) before the group moves on, then a restore


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def test_a_lapse_is_confirmed_before_anything_is_emitted(start_pipeline, fastly):
    pipeline = await start_pipeline({"LAPSEWATCH_CONFIRM_AFTER": "3s"})
    lapsed, blip = unique_domain("confirm"), unique_domain("blip")
    fastly.scenario.set(lapsed, "inactive")
    fastly.scenario.set(blip, ["inactive", "active"])  # a one-off lapsed answer
    account = unique("acct")
    await pipeline.email(email_event("email_added", account, f"a@{blip}", verified=True))
    await pipeline.email(email_event("email_added", account, f"a@{lapsed}", verified=True))
    await wait_for(
        lambda: "lapse_suspected" in pipeline.transitions(lapsed), T, "the suspected lapse", pipeline.worker.log_tail
    )
    assert pipeline.unverified(account=account) == []
    events = await wait_for(lambda: pipeline.unverified(account=account), T, "the confirmed lapse's event")
    data = events[0]["data"]
    assert _seconds(data["confirmed_at"]) - _seconds(data["lapse_first_seen_at"]) >= 3
    assert fastly.calls(lapsed) == 2
    await wait_for(lambda: "active" in pipeline.transitions(blip), T, "the blip to clear")
    assert pipeline.transitions(blip) == ["first_seen", "lapse_suspected", "active"]
    assert [e["data"]["domain"] for e in pipeline.unverified(account=account)] == [lapsed]


async def test_a_restarted_worker_keeps_its_tables(start_pipeline, fastly):
    first = await start_pipeline()
    lapsed, kept = unique_domain("restart-lapsed"), unique_domain("restart-kept")
    fastly.scenario.set(lapsed, "inactive")
    fastly.scenario.set(kept, "active")
    a, b, u = unique("a"), unique("b"), unique("u")
    await first.email(email_event("email_added", a, f"a@{lapsed}", verified=True))
    await first.email(email_event("email_added", u, f"u@{lapsed}", verified=False))
    await first.email(email_event("email_added", a, f"a@{kept}", verified=True))
    await first.email(email_event("email_added", b, f"b@{kept}", verified=True))
    await wait_for(lambda: first.unverified(account=a), T, "the first event", first.worker.log_tail)
    await wait_for(lambda: "active" in first.transitions(kept), T, "the kept domain's check")
    assert first.worker.stop() == 0

    second = Worker(first.config)
    await second.start()
    first.worker = second  # the fixture stops it
    assert "did not stop cleanly" not in second.log()  # a clean stop keeps the local tables
    # u verifies on the domain known to be lapsed: unverified at once, in the same episode.
    await first.email(email_event("email_verified", u, f"u@{lapsed}"))
    events = await wait_for(lambda: first.unverified(account=u), T, "u's event after the restart", second.log_tail)
    assert events[0]["data"]["lapse_first_seen_at"] == first.unverified(account=a)[0]["data"]["lapse_first_seen_at"]
    # The account table survived: email_changed without previous_email drops a's old address.
    await first.email(email_event("email_changed", a, "a@gmail.com", verified=True))
    await first.email(email_event("email_removed", b, f"b@{kept}"))
    await wait_for(lambda: "removed" in first.transitions(kept), T, "the kept domain to empty", second.log_tail)
    assert first.transitions(lapsed) == ["first_seen", "lapsed"]  # u is still a member
    assert len(first.unverified(account=a)) == 1  # nothing re-emitted
    assert fastly.calls(lapsed) == 1


def _run_worker(env_updates: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LAPSEWATCH_")}
    env.update({"LAPSEWATCH_BROKER": "kafka://127.0.0.1:1", "LAPSEWATCH_DATA_DIR": str(tmp_path)})
    env.update(env_updates)
    return subprocess.run(
        [sys.executable, "-m", "streams", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_a_provider_without_what_it_needs_refuses_to_start_and_names_the_variables(tmp_path):
    for env, names in [
        ({"LAPSEWATCH_STATUS_PROVIDER": "fastly"}, ["LAPSEWATCH_FASTLY_API_KEY"]),
        ({"LAPSEWATCH_CONFIRM_PROVIDER": "simulated"}, ["LAPSEWATCH_SIMULATED_SCENARIO"]),
        ({"LAPSEWATCH_STATUS_PROVIDER": "gopher"}, ["LAPSEWATCH_STATUS_PROVIDER"]),
        ({"LAPSEWATCH_CONFIRM_PROVIDER": "rdap"}, ["LAPSEWATCH_CONFIRM_PROVIDER"]),
    ]:
        result = _run_worker(env, tmp_path)
        assert result.returncode != 0, env
        assert all(name in result.stderr for name in names), (env, result.stderr)
        assert "Traceback" not in result.stderr


def test_a_bad_setting_stops_the_worker_naming_the_variable(tmp_path):
    base = {"LAPSEWATCH_STATUS_PROVIDER": "fastly", "LAPSEWATCH_FASTLY_API_KEY": FASTLY_TEST_KEY}
    for name, value in [
        ("LAPSEWATCH_RECHECK_INTERVAL", "soon"),
        ("LAPSEWATCH_WEB_PORT", "70000"),
        ("LAPSEWATCH_BROKER", "http://x"),
        ("LAPSEWATCH_TOPIC_EMAIL_EVENTS", "bad topic"),
    ]:
        result = _run_worker({**base, name: value}, tmp_path)
        assert result.returncode != 0, name
        assert name in result.stderr, (name, result.stderr)
        assert FASTLY_TEST_KEY not in result.stderr + result.stdout
        assert "Traceback" not in result.stderr


async def test_the_api_key_never_reaches_logs_or_events(shared, fastly, broker_url, tmp_path_factory):
    # A check that fails on a wrong key, on a worker of its own.
    config = WorkerConfig(
        broker_url,
        fastly.url,
        tmp_path_factory.mktemp("badkey"),
        {"LAPSEWATCH_FASTLY_API_KEY": "sk-wrong-key-ALSO-SECRET"},
    )
    worker = await Worker(config).start()
    try:
        from tests.harness import Bus

        bus = await Bus(broker_url.split("://", 1)[1]).start()
        domain = unique_domain("secret")
        await bus.send(
            config.topics["email_events"], "k", email_event("email_added", "k", f"k@{domain}", verified=True)
        )
        await wait_for(lambda: "HTTP 401" in worker.log(), T, "the failed check in the log", worker.log_tail)
        await bus.close()
    finally:
        worker.stop()
    assert "sk-wrong-key-ALSO-SECRET" not in worker.log()
    assert FASTLY_TEST_KEY not in shared.worker.log()
    for topic in ("email_unverified", "domain_status", "dead_letter"):
        for message in shared.bus.records[shared.topics[topic]]:
            assert FASTLY_TEST_KEY.encode() not in (message.value or b"")


async def test_a_second_worker_on_a_data_directory_in_use_stops_and_says_why(shared):
    intruder = Worker(shared.config)
    with pytest.raises(AssertionError, match="exited"):
        await intruder.start()
    assert "LAPSEWATCH_DATA_DIR" in intruder.log() and "in use by another running worker" in intruder.log()
    assert shared.worker.process.poll() is None


# What must not change across a kill -9 and a restart (issue 14). Failpoints (streams/kafka/failpoints.py) kill the
# worker inside windows of milliseconds no outside kill could hit on purpose.


async def test_a_worker_killed_after_sending_a_batch_and_before_committing_it_applies_each_event_once(
    start_pipeline, fastly
):
    # Killed on its second input batch: the batch's commands are acknowledged, its offsets not committed.
    pipeline = await start_pipeline({"LAPSEWATCH_FAILPOINTS": "intake-sent=2"})
    config, bus, app = pipeline.config, pipeline.bus, pipeline.config.app_id
    await bus.follow(*InputWorkload.topics(config)[2:])
    workload = InputWorkload.build(app, accounts=3000, domains=100, lapsed=10, fastly=fastly)
    # One event is one batch: committed, so the kill leaves a committed offset to start again from.
    first_key, first_event = workload.events[0]
    await bus.send(config.topics["email_events"], first_key, first_event)
    await wait_until(
        lambda: all_committed(config, inputs_only=True), KILL_T, "the first batch committed", pipeline.worker.log_tail
    )
    await bus.send_many(config.topics["email_events"], workload.events[1:])
    killed = pipeline.worker
    assert await killed.exited(KILL_T) == -signal.SIGKILL
    killed.stop()  # closes its log
    behind = await unfinished_offsets(config)
    assert any(line.startswith(f"{app}-input:") for line in behind), f"the killed batch was committed: {behind}"

    restarted = Worker(dataclasses.replace(config, overrides={}))  # the same data directory, no failpoint
    await restarted.start()
    pipeline.worker = restarted  # the fixture stops it
    assert "did not stop cleanly" in restarted.log()
    await wait_for(
        lambda: not workload.problems(bus, config.topics, app),
        KILL_T,
        "every event applied once",
        lambda: problems_report(workload.problems(bus, config.topics, app), killed, restarted),
        every=0.5,
    )
    await wait_until(lambda: all_committed(config), KILL_T, "every offset committed to its end", restarted.log_tail)
    final = await snapshot(config.broker_url.split("://", 1)[1], *InputWorkload.topics(config))
    assert workload.problems(final, config.topics, app) == []
    # The batch the kill left uncommitted was read and sent again: the case the ids must make harmless.
    sent = commands_by_event(final, f"{app}-account-commands")
    assert any(count > 1 for count in sent.values()), "no command was sent twice: the kill proved nothing"
    assert set(sent) == {event["event_id"] for _, event in workload.events}
