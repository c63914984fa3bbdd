"""Settings that change behaviour, restarts, and refusing to start on bad settings."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
from datetime import datetime

import httpx
import pytest

from streams.kafka.local_state import MARKER, STOPPED
from tests.conftest import close_pipeline, open_pipeline
from tests.harness import (
    FASTLY_TEST_KEY,
    InputWorkload,
    Memberships,
    Worker,
    WorkerConfig,
    all_committed,
    commands_by_event,
    email_event,
    latest_values,
    missing_report,
    read_topic,
    snapshot,
    stored_table,
    table_mismatches,
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
        lambda: workload.report(bus, config.topics, app, killed, restarted),
        every=0.5,
    )
    await wait_until(lambda: all_committed(config), KILL_T, "every offset committed to its end", restarted.log_tail)
    final = await snapshot(config.broker_url.split("://", 1)[1], *InputWorkload.topics(config))
    assert workload.problems(final, config.topics, app) == [], workload.report(final, config.topics, app, restarted)
    # The batch the kill left uncommitted was read and sent again: the case the ids must make harmless.
    sent = commands_by_event(final, f"{app}-account-commands")
    assert any(count > 1 for count in sent.values()), "no command was sent twice: the kill proved nothing"
    assert set(sent) == {event["event_id"] for _, event in workload.events}


async def test_a_hop_handed_a_record_without_the_one_before_it_applies_both_in_order(start_pipeline, fastly):
    """The account hop loses the first record it is handed (hop-drop), as Faust was seen to after a takeover, while
    the next record of that partition changes the addresses the lost one added. Applied in the order they come,
    those accounts would keep their first address; the hop must hold the later record back and read the partition
    again from the lost one."""
    pipeline = await start_pipeline({"LAPSEWATCH_FAILPOINTS": "hop-drop=1"})
    config, bus, app = pipeline.config, pipeline.bus, pipeline.config.app_id
    await bus.follow(*InputWorkload.topics(config)[2:])
    workload = InputWorkload.build(app, accounts=3000, domains=100, lapsed=10, fastly=fastly)
    adds = [(key, event) for key, event in workload.events if event["type"] == "email_added"]
    changes = [(key, event) for key, event in workload.events if event["type"] != "email_added"]
    # Two input batches: every account-commands partition gets a record of additions, then one of changes.
    await bus.send_many(config.topics["email_events"], adds)
    await wait_until(
        lambda: all_committed(config, inputs_only=True), KILL_T, "the additions read", pipeline.worker.log_tail
    )
    await bus.send_many(config.topics["email_events"], changes)
    await wait_for(
        lambda: not workload.problems(bus, config.topics, app),
        KILL_T,
        "every event applied once, in order",
        lambda: workload.report(bus, config.topics, app, pipeline.worker),
        every=0.5,
    )
    await wait_until(
        lambda: all_committed(config), KILL_T, "every offset committed to its end", pipeline.worker.log_tail
    )
    log = pipeline.worker.log()
    # Held back and read again when the changes came first; read again by the commit's check if they came late.
    assert "came before" in log or "was never processed" in log, pipeline.worker.log_tail()


def _restores(worker: Worker) -> list[int]:
    """The records each restore from the changelogs set out to write (fast_restore.py logs it as it starts)."""
    return [int(n) for n in re.findall(r"changelog partitions from the broker: up to (\d+) records", worker.log())]


def _accounts_per_domain(addresses: dict[str, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for email in addresses.values():
        domain = email.split("@", 1)[1]
        if domain != "gmail.com":
            counts[domain] = counts.get(domain, 0) + 1
    return counts


def _differences(members: dict[str, int], expected: dict[str, int]) -> str:
    """Each domain whose member count (from the domain changelog) is not the expected one."""
    return "".join(
        f"{domain}: {members.get(domain, 0)} accounts, expected {expected.get(domain, 0)}\n"
        for domain in sorted(set(members) | set(expected))
        if members.get(domain, 0) != expected.get(domain, 0)
    )


@pytest.mark.parametrize("files", ["discarded", "kept"])
async def test_a_worker_killed_between_restore_batches_ends_with_every_key_at_its_latest_value(
    files, broker_url, fastly, tmp_path_factory
):
    """A worker restoring its tables from the changelogs (empty data directory) dies after its second restore batch.
    Restarted on the same data directory, its tables must hold exactly the changelogs' latest values, and it must
    go on applying events on top of them. "discarded": as it happens, the unclean stop makes the worker drop the
    partial files. "kept": the files marked clean, so the restore resumes from the offset each batch stored with it
    (what a restore cut short by a rebalance does): nothing written twice, nothing skipped."""
    build = WorkerConfig(broker_url, fastly.url, tmp_path_factory.mktemp("build"))
    app = build.app_id
    changelogs = {table: f"{app}-{table}-changelog" for table in ("accounts", "domains")}
    bootstrap = broker_url.split("://", 1)[1]
    pipeline = await open_pipeline(broker_url, build)
    restarted: Worker | None = None
    try:
        # 1. Changelogs of several restore batches: 2400 accounts, one domain paged (over 1000 members); then a
        #    third of the accounts move to a public mailbox, which empties four domains (rows deleted, tombstones).
        bus = pipeline.bus
        await bus.follow(changelogs["domains"])
        members = Memberships(bus, changelogs["domains"])
        small = [unique_domain(f"restore{i}") for i in range(40)]
        big = unique_domain("restore-big")
        for domain in [*small, big]:
            fastly.scenario.set(domain, "active")
        addresses: dict[str, str] = {}
        adds, moves = [], []
        for i in range(2400):
            account = f"{app}-acct-{i}"
            home = big if i % 2 == 0 else small[(i // 2) % 40]
            added = email_event("email_added", account, f"u{i}@{home}", verified=True, event_id=f"{app}-add-{i}")
            adds.append((account, added))
            addresses[account] = added["email"]
            if i % 3 == 0 or home in small[:4]:
                gmail = f"{account}@gmail.com"
                moves.append((account, email_event("email_changed", account, gmail, event_id=f"{app}-gmail-{i}")))
        ours = {*small, big}
        mine = lambda: {domain: n for domain, n in members.per_domain().items() if domain in ours}
        await bus.send_many(build.topics["email_events"], adds)
        expected = _accounts_per_domain(addresses)
        assert expected[big] > 1000  # paged: a head row and page rows
        await wait_for(
            lambda: mine() == expected,
            KILL_T,
            "the accounts added",
            lambda: _differences(mine(), expected) + pipeline.worker.log_tail(),
            every=0.5,
        )
        for account, event in moves:
            addresses[account] = event["email"]
        await bus.send_many(build.topics["email_events"], moves)
        expected = _accounts_per_domain(addresses)
        assert not set(small[:4]) & set(expected)
        await wait_for(
            lambda: mine() == expected,
            KILL_T,
            "the accounts moved",
            lambda: _differences(mine(), expected) + pipeline.worker.log_tail(),
            every=0.5,
        )
        await wait_until(lambda: all_committed(build), KILL_T, "the build committed", pipeline.worker.log_tail)
        assert pipeline.worker.stop() == 0
        deleted = [m.key for m in bus.records[changelogs["domains"]] if m.value is None]
        assert deleted, "no domain row was deleted: the restore of a tombstone goes untested"

        # 2. A worker with an empty data directory dies after writing its second restore batch. A batch holds
        #    records of one partition, so with batches under half the smallest partition the kill always leaves
        #    one part-restored, whichever partitions the restore reads first.
        ends: dict[tuple[str, int], int] = {}
        for table, topic in changelogs.items():
            for record in await read_topic(bootstrap, topic):
                ends[table, record.partition] = max(ends.get((table, record.partition), 0), record.offset + 1)
        batch = min(ends.values()) // 3
        assert batch >= 10 and sum(ends.values()) > 20 * batch, f"too few records for several batches: {ends}"
        restore = WorkerConfig(
            broker_url,
            fastly.url,
            tmp_path_factory.mktemp("restore"),
            {"LAPSEWATCH_RESTORE_BATCH_RECORDS": str(batch)},
            app_id=app,
        )
        failing = dataclasses.replace(
            restore, overrides={**restore.overrides, "LAPSEWATCH_FAILPOINTS": "restore-batch=2"}
        )
        killed = Worker(failing)
        assert await killed.run_until_exit(KILL_T) == -signal.SIGKILL
        (total,) = _restores(killed)
        assert total == sum(ends.values()), (total, ends)  # the restore set out to write every record
        held = {
            (table, partition): offset
            for table in changelogs
            for partition, offset in stored_table(restore.data_dir, table)[1].items()
            if offset is not None
        }
        partial = {tp: f"{offset + 1} of {ends[tp]}" for tp, offset in held.items() if offset + 1 < ends[tp]}
        assert partial, f"the kill left no partition part-restored: held {held}, changelog ends {ends}"
        written = sum(offset + 1 for offset in held.values())

        # 3. The restart, on the same data directory.
        if files == "kept":
            (restore.data_dir / MARKER).write_text(f"{STOPPED}\n")
        restarted = Worker(restore)
        await restarted.start(KILL_T)
        if files == "kept":
            assert "did not stop cleanly" not in restarted.log()
            # Resumed after the last record each kept batch held: every other record once, none of those again.
            assert _restores(restarted)[0] == total - written, restarted.log_tail()
        else:
            assert "did not stop cleanly" in restarted.log()
            assert _restores(restarted)[0] == total, restarted.log_tail()

        # 4. The restored domain table, as the worker's own view answers.
        async with httpx.AsyncClient(timeout=10) as client:
            for domain in sorted(ours):
                answer = await client.get(f"{restarted.web_url}/domains/{domain}")
                if domain in expected:
                    assert answer.status_code == 200, (domain, answer.text)
                    assert answer.json()["members"]["accounts"] == expected[domain], (domain, answer.json())
                else:
                    assert answer.status_code == 404, (domain, answer.text)

        # 5. Events on top of the restored tables. email_changed without previous_email drops the address the
        #    account table holds; an event id seen before (the account table's recent ids) changes nothing, though
        #    its address was removed since by an event of the same time.
        lapsed, after = unique_domain("restore-lapsed"), unique_domain("restore-after")
        fastly.scenario.set(lapsed, "inactive")
        fastly.scenario.set(after, "active")
        ours |= {lapsed, after}
        news, to_lapsed = [], set()
        for i, (account, added) in enumerate(adds):
            if i % 9 == 1 and not addresses[account].endswith("@gmail.com"):
                email = f"w{i}@{lapsed}"
                news.append(
                    (account, email_event("email_changed", account, email, verified=True, event_id=f"{app}-lapsed-{i}"))
                )
                addresses[account], to_lapsed = email, to_lapsed | {(account, lapsed)}
            elif added["email"].endswith(f"@{small[0]}"):
                news.append((account, added))  # again: a duplicate
                email = f"x{i}@{after}"
                news.append(
                    (account, email_event("email_added", account, email, verified=True, event_id=f"{app}-after-{i}"))
                )
                addresses[account] = email
        await bus.send_many(build.topics["email_events"], news)
        expected = _accounts_per_domain(addresses)
        assert to_lapsed and expected[after] == 30
        await wait_for(
            lambda: mine() == expected,
            KILL_T,
            "the new events applied",
            lambda: _differences(mine(), expected) + restarted.log_tail(),
            every=0.5,
        )
        received = lambda: {(v["data"]["account_id"], v["data"]["domain"]) for v in pipeline.unverified(domain=lapsed)}
        await wait_for(
            lambda: received() == to_lapsed,
            KILL_T,
            "an email-unverified event for each address moved to the lapsed domain",
            lambda: missing_report(set(sorted(to_lapsed - received())[:10]), restarted),
        )
        await wait_until(lambda: all_committed(build), KILL_T, "every offset committed", restarted.log_tail)
        ids: dict[str, set[str]] = {}
        for event in pipeline.unverified():
            ids.setdefault(event["data"]["email"], set()).add(event["id"])
        assert all(len(same) == 1 for same in ids.values()), "a duplicate event carried a different id"
        assert mine() == expected, _differences(mine(), expected)

        # 6. Every key of both tables, as the stopped worker's files hold it, is its changelog's latest value.
        assert restarted.stop() == 0
        for table, topic in changelogs.items():
            rows, _ = stored_table(restore.data_dir, table)
            mismatches = table_mismatches(rows, latest_values(await read_topic(bootstrap, topic)))
            assert mismatches == [], f"{table}:\n" + "\n".join(mismatches)
    finally:
        if restarted is not None:
            restarted.stop()
        await close_pipeline(pipeline)
