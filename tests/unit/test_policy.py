"""The whole decision policy, as a table: a domain with members, a run of check
results, and what must come out. Pure: no broker, no clock, no network."""

from __future__ import annotations

import dataclasses

import pytest

from streams.core.policy import Policy
from streams.core.times import iso_utc
from streams.domains.commands import CheckResult, MemberAdded
from streams.domains.lifecycle import apply_check, apply_member
from streams.domains.schedule import DAY

H = 3600.0
T0 = 1_790_000_000.0  # 2026-09-21
VERIFIED_LONG_AGO = "2020-01-01T00:00:00Z"  # before every registration date below
VERIFIED_RECENTLY = "2026-09-01T00:00:00Z"

POLICY = Policy(
    recheck_interval=30 * DAY,
    recheck_jitter=0.1,
    retry_min=300,
    retry_max=DAY,
    inconclusive_retry_min=900,
    inconclusive_retry_max=6 * H,
    confirm_after=H,
    confirm_provider=None,
    inconclusive_limit=7 * DAY,
    login_freshness=7 * DAY,
)


def _members(state=None):
    decisions = []
    for account, email, verified, verified_at in [
        ("1", "a@shop.com", True, VERIFIED_LONG_AGO),
        ("2", "b@shop.com", True, VERIFIED_RECENTLY),
        ("3", "c@shop.com", False, None),
    ]:
        state, events = apply_member(
            state,
            MemberAdded(
                domain="shop.com",
                account_id=account,
                key=email,
                email=email,
                verified=verified,
                verified_at=verified_at,
            ),
            T0,
        )
        decisions.extend(events)
    return state, decisions


def run(steps, policy=POLICY):
    """Apply (hours after T0, verdict, evidence) results in order; return the state and every event."""
    state, events = _members()
    for hours, verdict, evidence in steps:
        now = T0 + hours * H
        provider = evidence.pop("provider", "rdap")
        result = CheckResult("shop.com", now, provider, verdict, tuple(evidence.pop("flags", ())), None, **evidence)
        state, produced = apply_check(state, result, now, policy)
        events.extend(produced)
    return state, events


def unverified(events):
    return [(e.value["data"]["account_id"], e.value["data"]["reason"]) for e in events if e.channel == "unverified"]


def transitions(events):
    return [e.value["data"]["transition"] for e in events if e.channel == "status"]


LAPSED = ("lapsed", {"flags": ["pending delete"]})
ACTIVE = ("active", {"flags": ["active"]})
INCONCLUSIVE = ("inconclusive", {"flags": ["unknown"]})
FAILED = (None, {})


def at(hours, verdict, provider="rdap"):
    return (hours, verdict[0], {**verdict[1], "provider": provider})


def registered(hours, iso):
    from streams.providers.rdap import parse_date

    return (hours, "active", {"flags": ["active"], "registered_at": parse_date(iso)})


CASES = [
    # name, steps, policy changes, final status, unverified (account, reason), transitions
    ("active stays quiet", [at(0, ACTIVE)], {}, "active", [], ["first_seen", "active"]),
    (
        "a lapse is confirmed after the delay, verified members only",
        [at(0, LAPSED), at(1, LAPSED)],
        {},
        "lapsed",
        [("1", "domain_expired"), ("2", "domain_expired")],
        ["first_seen", "lapse_suspected", "lapsed"],
    ),
    (
        "a lapse that the confirmation does not see is no lapse",
        [at(0, LAPSED), at(1, ACTIVE)],
        {},
        "active",
        [],
        ["first_seen", "lapse_suspected", "active"],
    ),
    (
        "an early second opinion does not confirm",
        [at(0, LAPSED), at(0.5, LAPSED)],
        {},
        "lapse_suspected",
        [],
        ["first_seen", "lapse_suspected"],
    ),
    (
        "no confirmation configured: the first lapse emits",
        [at(0, LAPSED)],
        {"confirm_after": 0},
        "lapsed",
        [("1", "domain_expired"), ("2", "domain_expired")],
        ["first_seen", "lapsed"],
    ),
    (
        "a confirming provider confirms even with no delay",
        [at(0, LAPSED), at(0, LAPSED, "dns")],
        {"confirm_after": 0, "confirm_provider": "dns"},
        "lapsed",
        [("1", "domain_expired"), ("2", "domain_expired")],
        ["first_seen", "lapse_suspected", "lapsed"],
    ),
    (
        "with a confirming provider, only its answer confirms",
        [at(0, LAPSED), at(2, LAPSED), at(3, LAPSED)],
        {"confirm_provider": "dns"},
        "lapse_suspected",
        [],
        ["first_seen", "lapse_suspected"],
    ),
    (
        "the confirming provider's active answer ends the suspicion",
        [at(0, LAPSED), at(1, ACTIVE, "dns")],
        {"confirm_provider": "dns"},
        "active",
        [],
        ["first_seen", "lapse_suspected", "active"],
    ),
    (
        "rechecks of a lapsed domain emit nothing new",
        [at(0, LAPSED), at(1, LAPSED), at(24, LAPSED)],
        {},
        "lapsed",
        [("1", "domain_expired"), ("2", "domain_expired")],
        ["first_seen", "lapse_suspected", "lapsed"],
    ),
    (
        "recovery, then a new lapse is a new episode",
        [at(0, LAPSED), at(1, LAPSED), at(24, ACTIVE), at(48, LAPSED), at(49, LAPSED)],
        {},
        "lapsed",
        [("1", "domain_expired"), ("2", "domain_expired")] * 2,
        ["first_seen", "lapse_suspected", "lapsed", "recovered", "lapse_suspected", "lapsed"],
    ),
    (
        "inconclusive is never a lapse on its own",
        [at(h, INCONCLUSIVE) for h in range(0, 24 * 6, 6)],
        {},
        "inconclusive",
        [],
        ["first_seen", "inconclusive"],
    ),
    (
        "inconclusive past the limit is a candidate, still unconfirmed",
        [at(h, INCONCLUSIVE) for h in range(0, 24 * 8, 6)],
        {},
        "lapse_suspected",
        [],
        ["first_seen", "inconclusive", "lapse_suspected"],
    ),
    (
        "a candidate is confirmed only by a lapsed answer",
        [*[at(h, INCONCLUSIVE) for h in range(0, 24 * 8, 6)], at(24 * 8 + 2, LAPSED)],
        {},
        "lapsed",
        [("1", "domain_expired"), ("2", "domain_expired")],
        ["first_seen", "inconclusive", "lapse_suspected", "lapsed"],
    ),
    (
        "inconclusive during a lapse keeps the episode",
        [at(0, LAPSED), at(0.5, INCONCLUSIVE), at(1, LAPSED)],
        {},
        "lapsed",
        [("1", "domain_expired"), ("2", "domain_expired")],
        ["first_seen", "lapse_suspected", "lapsed"],
    ),
    ("failures are never verdicts", [at(h, FAILED) for h in range(10)], {}, "new", [], ["first_seen"]),
    (
        "failures between a lapse and its confirmation change nothing",
        [at(0, LAPSED), at(1, FAILED), at(2, LAPSED)],
        {},
        "lapsed",
        [("1", "domain_expired"), ("2", "domain_expired")],
        ["first_seen", "lapse_suspected", "lapsed"],
    ),
    (
        "a registration after an address was verified unverifies it, once",
        [registered(0, "2026-06-01T00:00:00Z"), registered(24, "2026-06-01T00:00:00Z")],
        {},
        "active",
        [("1", "domain_reregistered")],
        ["first_seen", "reregistered", "active"],
    ),
    (
        "a later re-registration is a new event, also for those verified in between",
        [registered(0, "2026-06-01T00:00:00Z"), registered(24, "2026-10-01T00:00:00Z")],
        {},
        "active",
        [("1", "domain_reregistered"), ("1", "domain_reregistered"), ("2", "domain_reregistered")],
        ["first_seen", "reregistered", "active", "reregistered"],
    ),
    (
        "a registration older than every verification is no event",
        [registered(0, "2019-01-01T00:00:00Z")],
        {},
        "active",
        [],
        ["first_seen", "active"],
    ),
]


@pytest.mark.parametrize(
    "name, steps, changes, status, expected_unverified, expected_transitions", CASES, ids=[case[0] for case in CASES]
)
def test_policy_table(name, steps, changes, status, expected_unverified, expected_transitions):
    state, events = run(steps, dataclasses.replace(POLICY, **changes))
    assert state.status == status
    assert sorted(unverified(events)) == sorted(expected_unverified)
    assert transitions(events) == expected_transitions


def test_event_ids_are_one_per_account_address_and_episode():
    _, first = run([at(0, LAPSED), at(1, LAPSED)])
    _, replay = run([at(0, LAPSED), at(1, LAPSED)])
    _, two = run([at(0, LAPSED), at(1, LAPSED), at(24, ACTIVE), at(48, LAPSED), at(49, LAPSED)])
    ids = lambda events: [e.value["id"] for e in events if e.channel == "unverified"]
    assert ids(first) == ids(replay)
    assert len(set(ids(two))) == 4 and set(ids(first)) < set(ids(two))


def test_a_member_verified_before_a_known_reregistration_is_unverified_on_arrival():
    state, _ = run([registered(0, "2026-06-01T00:00:00Z")])
    state, events = apply_member(
        state,
        MemberAdded(
            domain="shop.com",
            account_id="9",
            key="z@shop.com",
            email="Z@shop.com",
            verified=True,
            verified_at="2025-01-01T00:00:00Z",
        ),
        T0 + 48 * H,
    )
    assert unverified(events) == [("9", "domain_reregistered")]
    assert events[0].value["data"]["registered_at"] == "2026-06-01T00:00:00Z"
    assert events[0].value["data"]["email"] == "Z@shop.com"


def test_the_unverified_event_carries_its_evidence():
    _, events = run(
        [
            (0, "lapsed", {"flags": ["redemption period"], "expires_at": T0 - 40 * DAY}),
            (1, "lapsed", {"flags": ["pending delete"], "expires_at": T0 - 40 * DAY}),
        ]
    )
    data = next(e.value["data"] for e in events if e.channel == "unverified")
    assert data["provider"] == "rdap" and data["domain_status"] == ["pending delete"]
    assert data["expires_at"] == iso_utc(T0 - 40 * DAY)
    assert data["lapse_first_seen_at"] == iso_utc(T0)
    assert data["confirmed_at"] == iso_utc(T0 + H)


def test_retry_after_is_honoured_and_backoff_grows():
    state, _ = _members()
    state, _ = apply_check(state, CheckResult("shop.com", T0, "rdap", None, retry_after=7200.0), T0, POLICY)
    assert state.next_check_at == T0 + 7200
    delays = []
    for _ in range(12):
        state, _ = apply_check(state, CheckResult("shop.com", T0, "rdap", None), T0, POLICY)
        delays.append(state.next_check_at - T0)
    assert delays[0] == 600 and delays == sorted(delays) and delays[-1] == DAY


def test_a_server_asking_for_ages_waits_no_longer_than_the_longest_retry():
    state, _ = _members()
    state, _ = apply_check(state, CheckResult("shop.com", T0, "rdap", None, retry_after=10 * 365 * DAY), T0, POLICY)
    assert state.next_check_at == T0 + POLICY.retry_max


@pytest.mark.parametrize(
    "field, value",
    [
        ("retry_after", float("inf")),
        ("expires_at", float("nan")),
        ("checked_at", None),
        ("registered_at", 1e300),
        ("checked_at", True),
    ],
)
def test_a_check_record_with_impossible_times_is_refused(field, value):
    record = CheckResult("shop.com", T0, "rdap", "active", ("active",)).to_dict()
    with pytest.raises(ValueError, match=field):
        CheckResult.from_dict({**record, field: value})


def test_a_check_record_round_trips():
    result = CheckResult(
        "shop.com",
        T0,
        "dns",
        "active",
        ("delegated",),
        "delegated to ns1",
        T0 - DAY,
        T0 + DAY,
        True,
        30.0,
        lifecycle=False,
    )
    assert CheckResult.from_dict(result.to_dict()) == result


def test_a_check_record_carries_its_check_id_and_refuses_one_of_another_type():
    result = CheckResult("shop.com", T0, "rdap", None, check_id="w1-7", server_wide=True)
    assert CheckResult.from_dict(result.to_dict()) == result
    with pytest.raises(ValueError, match="check_id"):
        CheckResult.from_dict({**result.to_dict(), "check_id": 7})
    older = {k: v for k, v in result.to_dict().items() if k not in ("check_id", "server_wide")}
    assert CheckResult.from_dict(older).check_id is None  # records written before check ids still apply


def test_a_result_read_again_after_a_restart_is_applied_once():
    """Replayed from the topic, an overdue confirmation's answer must not schedule another check now."""
    state, _ = run([at(0, LAPSED)])
    confirm = CheckResult("shop.com", T0 + 2 * H, "rdap", "lapsed", ("pending delete",), check_id="w1-9")
    state, events = apply_check(state, confirm, T0 + 2 * H, POLICY)
    assert state.status == "lapsed" and events
    after = (state.status, state.next_check_at, dict(state.emitted))
    state, events = apply_check(state, confirm, T0 + 2 * H + 5, POLICY)
    assert events == [] and (state.status, state.next_check_at, dict(state.emitted)) == after


def test_a_late_failure_never_moves_the_last_check_back_nor_counts():
    """A previous owner's failure that arrives after this owner's newer answer is superseded."""
    state, _ = run([at(10, ACTIVE)])
    before = (state.last_check_at, state.last_success_at, state.errors, state.next_check_at)
    state, events = apply_check(
        state, CheckResult("shop.com", T0 + 5 * H, "rdap", None, detail="timeout"), T0 + 11 * H, POLICY
    )
    assert (state.last_check_at, state.last_success_at, state.errors, state.next_check_at) == before
    assert events == []


def test_a_late_verdict_older_than_the_last_verdict_changes_nothing():
    state, _ = run([at(10, ACTIVE)])
    state, events = apply_check(
        state, CheckResult("shop.com", T0 + 5 * H, "rdap", "lapsed", ("pending delete",)), T0 + 11 * H, POLICY
    )
    assert state.status == "active" and state.last_success_at == T0 + 10 * H and events == []


def test_a_late_verdict_newer_than_the_last_verdict_is_evidence_but_the_last_check_stays():
    state, _ = run([at(0, ACTIVE), at(10, FAILED)])
    assert state.errors == 1 and state.failing_since == T0 + 10 * H
    state, _ = apply_check(
        state, CheckResult("shop.com", T0 + 5 * H, "rdap", "active", ("active",)), T0 + 11 * H, POLICY
    )
    assert state.last_check_at == T0 + 10 * H  # never backwards
    assert state.last_success_at == T0 + 5 * H
    assert (state.errors, state.failing_since, state.failing_alone) == (0, None, False)


def test_a_run_of_failures_remembers_when_it_began_and_whose_trouble_it_was():
    state, _ = run([at(0, ACTIVE), at(1, FAILED), at(2, FAILED)])
    assert (state.errors, state.failing_since, state.failing_alone) == (2, T0 + H, True)
    state, _ = apply_check(
        state, CheckResult("shop.com", T0 + 3 * H, "rdap", None, server_wide=True), T0 + 3 * H, POLICY
    )
    assert (state.errors, state.failing_since, state.failing_alone) == (3, T0 + H, False)


def test_a_delegation_only_confirmer_keeps_the_registrys_grace_and_dates():
    """DNS says "delegated" about a domain the registry has in grace: daily checks go on."""
    expiry = T0 - 5 * DAY
    policy = dataclasses.replace(POLICY, confirm_provider="dns")
    state, _ = run([(0, "lapsed", {"flags": ["redemption period"], "grace": True, "expires_at": expiry})], policy)
    state, _ = apply_check(
        state, CheckResult("shop.com", T0 + H, "dns", "active", ("delegated",), lifecycle=False), T0 + H, policy
    )
    assert state.status == "active" and state.grace is True and state.expires_at == expiry
    assert state.next_check_at <= T0 + H + DAY


def test_expiry_brings_the_next_check_forward():
    state, _ = run([at(0, ACTIVE), (0, "active", {"flags": ["active"], "expires_at": T0 + 10 * DAY})])
    assert state.next_check_at == T0 + 11 * DAY
    state, _ = run([(0, "active", {"flags": ["auto renew period"], "grace": True, "expires_at": T0 + 300 * DAY})])
    assert state.next_check_at == T0 + DAY
    state, _ = run([(0, "active", {"flags": ["active"], "expires_at": T0 + 300 * DAY})])
    assert T0 + 3 * DAY <= state.next_check_at <= T0 + 30 * DAY  # a first check spreads over the interval
    state, _ = run([(0, "active", {"flags": ["active"]}), (24, "active", {"flags": ["active"]})])
    assert T0 + DAY + 27 * DAY <= state.next_check_at <= T0 + DAY + 30 * DAY


def test_a_login_hurries_a_stale_domain_and_the_check_calms_it():
    from streams.domains.lifecycle import apply_login

    state, _ = run([at(0, ACTIVE)])
    later = T0 + 8 * DAY
    state, _ = apply_login(state, later, POLICY)
    assert (state.next_check_at, state.urgent) == (later, True)
    state, _ = apply_check(state, CheckResult("shop.com", later, "rdap", "active", ("active",)), later, POLICY)
    assert state.urgent is False and state.next_check_at > later + 20 * DAY
    fresh, _ = run([at(0, ACTIVE)])
    fresh, _ = apply_login(fresh, T0 + H, POLICY)  # checked an hour ago: nothing to hurry
    assert fresh.urgent is False and fresh.next_check_at >= T0 + 3 * DAY


def test_a_login_said_to_change_nothing_changes_nothing():
    """login_changes_nothing reads the stored row; whenever it says so, apply_login agrees."""
    import random

    from streams.domains.lifecycle import apply_login, login_changes_nothing
    from streams.domains.state import DomainState

    rng = random.Random(5)
    now = T0 + 40 * DAY
    moments = [None, now - 60 * DAY, now - POLICY.login_freshness - 1, now - POLICY.login_freshness + 1, now - 60, now]
    said, agreed_changes = 0, 0
    for _ in range(3000):
        members = rng.choice([{}, {"a1": {"k": {"email": "x@example.com", "verified": True, "verified_at": None}}}])
        state = DomainState(
            "example.com",
            members=members,
            last_success_at=rng.choice(moments),
            last_check_at=rng.choice(moments),
            next_check_at=rng.choice([now - 1, now, now + 1, now + 30 * DAY]),
        )
        row = state.to_dict()
        before = (state.next_check_at, state.urgent)
        after, _ = apply_login(DomainState.from_dict(row), now, POLICY)
        changed = after is not None and (after.next_check_at, after.urgent) != before
        if login_changes_nothing(row, now, POLICY):
            said += 1
            assert not changed, row
        agreed_changes += changed
    assert login_changes_nothing(None, now, POLICY)
    assert said > 500 and agreed_changes > 100  # both outcomes were exercised
