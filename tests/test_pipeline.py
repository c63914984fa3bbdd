"""The core pipeline end to end: broker, worker process, Fastly on loopback."""

from __future__ import annotations

import asyncio
import time

from schemas import first_error
from tests.harness import email_event, unique, unique_domain, wait_for

T = 30  # seconds any single outcome may take on a loaded 2-core machine


async def test_lapsed_domain_unverifies_each_verified_member_once(shared, fastly):
    domain = unique_domain("lapsed")
    fastly.scenario.set(domain, "inactive undelegated")
    alice, bob, carol = unique("alice"), unique("bob"), unique("carol")
    await shared.email(email_event("email_added", alice, f"Alice@{domain.upper()}", verified=True))
    await shared.email(email_event("email_added", bob, f"bob@mail.{domain}", verified=True))
    await shared.email(email_event("email_added", carol, f"carol@{domain}", verified=False))

    await wait_for(
        lambda: len(shared.unverified(domain=domain)) >= 2, T, "two email-unverified events", shared.worker.log_tail
    )
    # The address is reported as the account service sent it, the domain normalised.
    alice_events = shared.unverified(account=alice)
    assert [e["data"]["email"] for e in alice_events] == [f"Alice@{domain.upper()}"]
    event = alice_events[0]
    assert first_error("email-unverified", event) is None
    assert event["source"] == "lapsewatch" and event["type"] == "lapsewatch.email.unverified"
    assert event["subject"] == alice and event["datacontenttype"] == "application/json"
    assert event["data"]["domain"] == domain and event["data"]["reason"] == "domain_expired"
    assert event["data"]["domain_status"] == ["inactive", "undelegated"]
    assert event["data"]["provider"] == "fastly"

    # Barrier on the same account key (one output partition, in order): a later
    # verification by carol is unverified at once, and nothing else appears.
    await shared.email(email_event("email_verified", carol, f"carol@{domain}"))
    await wait_for(lambda: shared.unverified(account=carol), T, "carol's event once verified")
    assert len(shared.unverified(account=alice)) == 1
    assert len(shared.unverified(account=bob)) == 1
    assert len(shared.unverified(account=carol)) == 1
    assert fastly.calls(domain) == 1
    assert shared.transitions(domain) == ["first_seen", "lapsed"]


async def test_active_domain_emits_nothing(shared, fastly):
    domain = unique_domain("active")
    fastly.scenario.set(domain, "active")
    account = unique("acct")
    await shared.email(email_event("email_added", account, f"a@{domain}", verified=True))
    await wait_for(lambda: "active" in shared.transitions(domain), T, "the active verdict", shared.worker.log_tail)
    assert shared.unverified(domain=domain) == []
    assert shared.transitions(domain) == ["first_seen", "active"]


async def test_public_mailbox_domains_are_never_checked(shared, fastly):
    account = unique("acct")
    for address in ("someone@gmail.com", "x@mail.yahoo.co.uk", "y@Proton.Me"):
        await shared.email(email_event("email_added", account, address, verified=True))
    domain = unique_domain("custom")
    fastly.scenario.set(domain, "inactive")
    await shared.email(email_event("email_added", account, f"z@{domain}", verified=True))
    # Same account, same partitions all the way: once this custom domain is done, the public ones were seen.
    events = await wait_for(lambda: shared.unverified(account=account), T, "the custom domain's event")
    assert [e["data"]["domain"] for e in events] == [domain]
    for public in ("gmail.com", "yahoo.co.uk", "proton.me"):
        assert fastly.calls(public) == 0
        assert shared.transitions(public) == []


async def test_subdomain_address_checks_the_registrable_domain(shared, fastly):
    domain = unique_domain("corp", "co.uk")
    fastly.scenario.set(domain, "deleting")
    account = unique("acct")
    await shared.email(email_event("email_added", account, f"x@eu.mail.{domain}", verified=True))
    events = await wait_for(lambda: shared.unverified(account=account), T, "the event")
    assert events[0]["data"]["domain"] == domain
    assert fastly.calls(domain) == 1
    assert fastly.calls(f"eu.mail.{domain}") == 0 and fastly.calls(f"mail.{domain}") == 0


async def test_many_accounts_on_one_domain_cost_one_provider_call(shared, fastly):
    domain = unique_domain("shared")
    fastly.scenario.set(domain, "expiring")
    accounts = [unique(f"m{i}") for i in range(25)]
    for account in accounts:
        await shared.email(email_event("email_added", account, f"{account}@{domain}", verified=True))
    await wait_for(
        lambda: len({e["data"]["account_id"] for e in shared.unverified(domain=domain)}) == 25,
        T,
        "25 accounts unverified",
        shared.worker.log_tail,
    )
    assert fastly.calls(domain) == 1
    assert len(shared.unverified(domain=domain)) == 25


async def test_unknown_status_is_inconclusive_and_retried(shared, fastly):
    domain = unique_domain("unknown")
    fastly.scenario.set(domain, "unknown")
    account = unique("acct")
    await shared.email(email_event("email_added", account, f"a@{domain}", verified=True))
    await wait_for(lambda: fastly.calls(domain) >= 3, T, "three inconclusive checks")
    assert shared.unverified(account=account) == []
    assert shared.transitions(domain) == ["first_seen", "inconclusive"]
    # The retries continue, and a real answer still decides.
    fastly.scenario.set(domain, "inactive")
    await wait_for(lambda: shared.unverified(account=account), T, "the event after the registry answers")


async def test_provider_failures_are_never_verdicts(shared, fastly):
    domain = unique_domain("flaky")
    # 500, a hang past the timeout, a non-JSON body, 429, 503, then a real answer.
    fastly.scenario.set(domain, ["http:500", "timeout", "garbage", "http:429", "http:503", "inactive"])
    account = unique("acct")
    await shared.email(email_event("email_added", account, f"a@{domain}", verified=True))
    await wait_for(
        lambda: shared.unverified(account=account), T, "the event after the failures", shared.worker.log_tail
    )
    assert fastly.calls(domain) == 6
    assert shared.transitions(domain) == ["first_seen", "lapsed"]


async def test_duplicate_input_changes_nothing(shared, fastly):
    domain = unique_domain("dup")
    fastly.scenario.set(domain, "inactive")
    account = unique("acct")
    added = email_event("email_added", account, f"first@{domain}", verified=True)
    await shared.email(added)
    await shared.email(added)  # an exact duplicate
    await wait_for(lambda: shared.unverified(account=account), T, "the first event")
    await shared.email(email_event("email_removed", account, f"first@{domain}"))
    await wait_for(lambda: "removed" in shared.transitions(domain), T, "the domain to be dropped")
    # Replaying the old event must not bring the removed address back.
    await shared.email(added)
    await shared.email(email_event("email_added", account, f"second@{domain}", verified=True))
    await wait_for(lambda: len(shared.unverified(account=account)) >= 2, T, "the second address's event")
    emails = [e["data"]["email"] for e in shared.unverified(account=account)]
    assert emails == [f"first@{domain}", f"second@{domain}"]


async def test_removal_before_the_check_emits_nothing(shared, fastly):
    domain = unique_domain("gone")
    fastly.scenario.set(domain, "inactive")
    account = unique("acct")
    await shared.email(email_event("email_added", account, f"old@{domain}", verified=True))
    await shared.email(email_event("email_removed", account, f"old@{domain}"))
    await shared.email(email_event("email_added", account, f"new@{domain}", verified=True))
    await wait_for(lambda: shared.unverified(account=account), T, "the event for the address that stayed")
    assert [e["data"]["email"] for e in shared.unverified(account=account)] == [f"new@{domain}"]


async def test_unverified_address_emits_nothing_until_verified(shared, fastly):
    domain = unique_domain("unv")
    fastly.scenario.set(domain, "inactive")
    account = unique("acct")
    await shared.email(email_event("email_added", account, f"pending@{domain}", verified=False))
    await shared.email(email_event("email_added", account, f"ok@{domain}", verified=True))
    await wait_for(lambda: shared.unverified(account=account), T, "the verified address's event")
    assert [e["data"]["email"] for e in shared.unverified(account=account)] == [f"ok@{domain}"]
    await shared.email(email_event("email_verified", account, f"pending@{domain}"))
    await wait_for(lambda: len(shared.unverified(account=account)) == 2, T, "the newly verified address's event")


async def test_email_changed_moves_the_membership(shared, fastly):
    old_domain, new_domain = unique_domain("old"), unique_domain("new")
    fastly.scenario.set(old_domain, "active")
    fastly.scenario.set(new_domain, "inactive")
    account, partner = unique("acct"), unique("partner")
    await shared.email(email_event("email_added", partner, f"p@{old_domain}", verified=True))
    await shared.email(email_event("email_added", account, f"me@{old_domain}", verified=True))
    await wait_for(lambda: "active" in shared.transitions(old_domain), T, "the old domain's check")
    # No previous_email: the account table knows the old address.
    await shared.email(email_event("email_changed", account, f"me@{new_domain}", verified=True))
    await wait_for(lambda: shared.unverified(account=account), T, "the new domain's event")
    await shared.email(email_event("email_removed", partner, f"p@{old_domain}"))
    await wait_for(
        lambda: "removed" in shared.transitions(old_domain), T, "the old domain to be dropped once its last member left"
    )


async def test_login_snapshot_teaches_and_reconciles(shared, fastly):
    lapsed, active = unique_domain("snap-lapsed"), unique_domain("snap-active")
    fastly.scenario.set(lapsed, "inactive")
    fastly.scenario.set(active, "active")
    account = unique("predates")
    # An account lapsewatch never saw: its first login carries the addresses.
    await shared.login(
        {
            "event_id": unique("login"),
            "account_id": account,
            "occurred_at": "2026-11-01T00:00:00Z",
            "emails": [
                {"email": f"a@{active}", "verified": True, "verified_at": "2020-01-01T00:00:00Z"},
                {"email": "b@gmail.com", "verified": True},
            ],
        }
    )
    await wait_for(lambda: "active" in shared.transitions(active), T, "the snapshot's domain to be checked")
    # A later snapshot without that address removes it and adds the new one.
    await shared.login(
        {"event_id": unique("login"), "account_id": account, "emails": [{"email": f"c@{lapsed}", "verified": True}]}
    )
    await wait_for(lambda: shared.unverified(account=account), T, "the new address's event")
    await wait_for(lambda: "removed" in shared.transitions(active), T, "the dropped address's domain to go")


async def test_login_rechecks_a_stale_domain(shared, fastly):
    domain = unique_domain("stale")
    fastly.scenario.set(domain, "active")
    account = unique("acct")
    await shared.email(email_event("email_added", account, f"a@{domain}", verified=True))
    await wait_for(lambda: "active" in shared.transitions(domain), T, "the first check")
    fastly.scenario.set(domain, "inactive")
    # The recheck interval is 30 days; only a login after LOGIN_FRESHNESS (1s here) checks again.
    deadline = time.monotonic() + T
    while not shared.unverified(account=account):
        assert time.monotonic() < deadline, "no event after logins past the freshness window"
        await shared.login({"event_id": unique("login"), "account_id": account})
        await asyncio.sleep(0.5)  # pace the logins; the loop ends on the event
    assert shared.transitions(domain) == ["first_seen", "active", "lapsed"]


async def test_cloudevents_envelope_is_accepted(shared, fastly):
    domain = unique_domain("ce")
    fastly.scenario.set(domain, "inactive")
    account = unique("acct")
    envelope = {
        "specversion": "1.0",
        "id": unique("ce"),
        "source": "accounts",
        "type": "com.example.email",
        "datacontenttype": "application/json",
        "data": {"type": "email_added", "account_id": account, "email": f"a@{domain}", "verified": True},
    }
    await shared.email(envelope, key=account)
    await wait_for(lambda: shared.unverified(account=account), T, "the event from a CloudEvents input")
