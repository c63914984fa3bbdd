"""Batched hops on the broker: order per account and per domain, and a crash mid-batch loses nothing."""

from __future__ import annotations

import signal

from tests.harness import Memberships, Worker, all_committed, email_event, unique, unique_domain, wait_for, wait_until

T = 60


async def test_a_burst_keeps_order_per_account_and_per_domain(shared, fastly):
    stay, move = unique_domain("burst"), unique_domain("burst-moved")
    fastly.scenario.set(stay, "active")
    fastly.scenario.set(move, "active")
    accounts = [unique(f"b{i}") for i in range(150)]
    # Same occurred_at everywhere: only arrival order decides, per account and per domain.
    burst = [(a, email_event("email_added", a, f"{a}@{stay}", verified=True)) for a in accounts]
    burst += [(a, email_event("email_changed", a, f"{a}@{move}", verified=True)) for a in accounts[:100]]
    burst += [(a, email_event("email_removed", a, f"{a}@{stay}")) for a in accounts[100:]]
    burst += [(a, email_event("email_removed", a, f"{a}@{move}")) for a in accounts[:100]]
    await shared.bus.send_many(shared.topics["email_events"], burst)
    # A removal applied before its addition would leave a member, and the domain would stay. A domain may
    # lose every member and gain one again on the way (each record of account commands holds some accounts'
    # whole story), so the end is judged once every record is handled and committed.
    await wait_until(lambda: all_committed(shared.config), T, "every record handled", shared.worker.log_tail)
    await wait_for(
        lambda: shared.transitions(stay)[-1:] == ["removed"] and shared.transitions(move)[-1:] == ["removed"],
        T,
        "both domains to end without members",
        lambda: f"stay: {shared.transitions(stay)}\nmove: {shared.transitions(move)}\n{shared.worker.log_tail()}",
    )
    assert shared.transitions(stay)[0] == "first_seen" and shared.transitions(move)[0] == "first_seen"


async def test_a_worker_killed_mid_batch_loses_nothing_and_applies_nothing_twice(start_pipeline, fastly):
    pipeline = await start_pipeline()
    app_id = pipeline.config.app_id
    await pipeline.bus.follow(f"{app_id}-domains-changelog")
    table = Memberships(pipeline.bus, f"{app_id}-domains-changelog")
    domains = [unique_domain(f"crash{i}") for i in range(200)]
    for domain in domains:
        fastly.scenario.set(domain, "active")
    events = []
    for i in range(6000):
        account = f"{app_id}-acct-{i}"
        events.append(
            (
                account,
                email_event(
                    "email_added",
                    account,
                    f"u{i}@{domains[i % len(domains)]}",
                    verified=True,
                    event_id=f"{app_id}-ev-{i}",
                ),
            )
        )
    await pipeline.bus.send_many(pipeline.topics["email_events"], events)
    await wait_for(lambda: table.total() > 0, T, "the first memberships", pipeline.worker.log_tail)
    pipeline.worker.stop(signal.SIGKILL)
    assert table.total() < len(events), "the worker finished before the kill: the test proves nothing"

    restarted = Worker(pipeline.config)
    await restarted.start()
    pipeline.worker = restarted  # the fixture stops it
    # The killed worker left its data directory marked running: the restarted one restores from the changelogs.
    assert "did not stop cleanly" in restarted.log()
    await wait_for(
        lambda: table.total() >= len(events),
        2 * T,
        "every account in the domain table",
        lambda: f"{table.total()} of {len(events)} memberships so far\n{restarted.log_tail()}",
    )
    # Replayed input changed nothing twice: exactly one membership per account, 30 per domain.
    assert table.per_domain() == {domain: 30 for domain in domains}
    assert pipeline.dead_letters() == []
    # Each domain was announced; a replay may repeat an announcement (at least once), never skip one.
    for domain in domains[:20]:
        assert "first_seen" in pipeline.transitions(domain)
