"""Operator control, the pure parts: parsing a control record, and what recheck/allow/unallow do to a domain."""

from __future__ import annotations

import orjson
import pytest

from streams.core.inbound import Rejected
from streams.domains.commands import ControlAction, ControlCommand, MemberAdded, MemberRemoved
from streams.domains.controls import parse_control
from streams.domains.lifecycle import apply_control, apply_member, apply_unmember
from streams.domains.state import DomainState

NOW = 1_800_000_000.0


def record(action: str, domain: str = "example.com", command_id: str = "c-1") -> dict:
    """A control record as an operator's tool writes it (with a `kind` too, which the schema lets by)."""
    return {
        "kind": "control",
        "command": action,
        "domain": domain,
        "requested_by": "oncall",
        "reason": "why",
        "requested_at": "2027-01-15T08:00:00Z",
        "command_id": command_id,
    }


def command(
    action: ControlAction,
    domain: str = "example.com",
    command_id: str = "c-1",
    requested_at: str = "2027-01-15T08:00:00Z",
) -> ControlCommand:
    return ControlCommand(
        domain=domain,
        action=action,
        requested_by="oncall",
        reason="why",
        requested_at=requested_at,
        command_id=command_id,
    )


def member(account: str, verified: bool = True) -> MemberAdded:
    return MemberAdded(
        domain="example.com",
        account_id=account,
        key=f"{account}@example.com",
        email=f"{account}@example.com",
        verified=verified,
        verified_at="2020-01-01T00:00:00Z",
    )


def unmember(account: str) -> MemberRemoved:
    return MemberRemoved(domain="example.com", account_id=account, key=f"{account}@example.com")


def lapsed_with(*accounts: str) -> DomainState:
    state = None
    for account in accounts:
        state, _ = apply_member(state, member(account), NOW - 100)
    state.status, state.confirmed_at, state.lapse_seen_at = "lapsed", NOW - 50, NOW - 60
    return state


def test_parse_reduces_the_domain_and_keeps_who_and_why():
    value = orjson.dumps(
        {
            "command": "allow",
            "domain": "Mail.Example.CO.UK",
            "requested_by": "oncall",
            "reason": None,
            "requested_at": "2027-01-15T09:00:00+01:00",
            "command_id": "c-9",
        }
    )
    parsed = parse_control(b"example.co.uk", value, max_bytes=10_000)
    assert parsed == ControlCommand(
        domain="example.co.uk",
        action="allow",
        requested_by="oncall",
        reason=None,
        requested_at="2027-01-15T08:00:00Z",
        command_id="c-9",
    )
    assert parsed.to_dict() == {
        "kind": "control",
        "domain": "example.co.uk",
        "command": "allow",
        "requested_by": "oncall",
        "reason": None,
        "requested_at": "2027-01-15T08:00:00Z",
        "command_id": "c-9",
    }


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (b"example.com", b"[1]", "invalid_event"),
        (b"example.com", b"nope", "invalid_json"),
        (b"example.com", orjson.dumps({**record("delete")}), "invalid_event"),
        (b"example.com", orjson.dumps({**record("allow"), "requested_by": ""}), "invalid_event"),
        (b"example.com", orjson.dumps({**record("allow"), "domain": "com"}), "invalid_address"),
        (b"example.com", orjson.dumps({**record("allow"), "requested_at": "yesterday"}), "invalid_timestamp"),
        (b"other.com", orjson.dumps(record("allow")), "key_mismatch"),
    ],
)
def test_parse_rejects_with_a_dead_letter_reason(key, value, reason):
    with pytest.raises(Rejected) as caught:
        parse_control(key, value, max_bytes=10_000)
    assert caught.value.reason == reason


def test_recheck_makes_a_known_domain_due_now_and_urgent():
    state = lapsed_with("a")
    state.next_check_at = NOW + 86_400
    state, events = apply_control(state, command("recheck"), NOW)
    assert (state.next_check_at, state.urgent) == (NOW, True)
    assert [e.value["data"]["control"]["applied"] for e in events] == [True]


def test_recheck_of_a_domain_no_one_uses_changes_nothing_and_says_so():
    state, events = apply_control(None, command("recheck"), NOW)
    assert state is None
    audit = events[0].value["data"]
    assert audit["transition"] == "control" and audit["control"]["applied"] is False and audit["control"]["outcome"]


def test_an_allowed_lapsed_domain_unverifies_nobody_until_unallowed_then_everyone_once():
    state, _ = apply_control(lapsed_with("a"), command("allow"), NOW)
    state, events = apply_member(state, member("b"), NOW + 1)  # verified on a lapsed domain: normally at once
    assert [e.channel for e in events] == []
    state, events = apply_control(state, command("unallow", command_id="c-2"), NOW + 2)
    unverified = sorted(e.value["data"]["account_id"] for e in events if e.channel == "unverified")
    assert unverified == ["a", "b"] and not state.allowed
    state, again = apply_control(state, command("recheck", command_id="c-3"), NOW + 3)
    assert [e.channel for e in again] == ["status"]


def test_an_allow_outlives_the_members_and_a_new_member_starts_the_domain_afresh():
    state, _ = apply_control(None, command("allow"), NOW)
    assert state.members == {} and state.allowed["by"] == "oncall"
    state, events = apply_member(state, member("a"), NOW + 1)
    assert [e.value["data"]["transition"] for e in events] == ["first_seen"] and state.next_check_at == NOW + 1
    assert state.allowed["command_id"] == "c-1"
    state, events = apply_unmember(state, unmember("a"), NOW + 2)
    assert state is not None and state.members == {} and state.allowed
    assert [e.value["data"]["transition"] for e in events] == ["removed"]
    state, _ = apply_control(state, command("unallow", command_id="c-2"), NOW + 3)
    # Nothing to check and no allow, but the last command is kept: a copy of the allow must not come back.
    assert state is not None and state.members == {} and not state.allowed
    assert state.last_control == {"requested_at": "2027-01-15T08:00:00Z", "command_id": "c-2"}


def test_an_allow_produced_again_after_an_unallow_does_not_undo_it():
    """A signed command copied off the topic and produced again, within its age limit, is refused."""
    allow = command("allow", command_id="c-1", requested_at="2027-01-15T08:00:00Z")
    unallow = command("unallow", command_id="c-2", requested_at="2027-01-15T08:05:00Z")
    for members in (("a",), ()):  # a domain in use, and one no account uses (its row kept for this)
        state = lapsed_with(*members) if members else None
        state, _ = apply_control(state, allow, NOW)
        state, _ = apply_control(state, unallow, NOW + 1)
        state, events = apply_control(state, allow, NOW + 2)
        assert state is not None and not state.allowed, members
        [audit] = events
        assert audit.value["data"]["control"]["applied"] is False
        assert "later command (c-2" in audit.value["data"]["control"]["outcome"]


def test_the_same_allow_or_unallow_twice_is_applied_once_and_audited_as_such():
    state, _ = apply_control(lapsed_with("a"), command("allow", command_id="c-1"), NOW)
    state, events = apply_control(state, command("allow", command_id="c-1"), NOW + 1)
    assert state.allowed["at"] == NOW  # not renewed by the copy
    refused = events[0].value
    assert refused["data"]["control"]["applied"] is False and "applied already" in refused["data"]["control"]["outcome"]
    first = apply_control(lapsed_with("a"), command("allow", command_id="c-1"), NOW)[1][0].value
    assert refused["id"] != first["id"]  # seen by a consumer that drops repeated ids


def test_a_newer_command_or_one_of_the_same_second_is_applied_and_a_recheck_is_never_refused():
    state, _ = apply_control(lapsed_with("a"), command("allow", command_id="c-1"), NOW)
    state, _ = apply_control(state, command("unallow", command_id="c-2"), NOW + 1)  # same requested_at
    assert not state.allowed
    later = command("allow", command_id="c-3", requested_at="2027-01-15T09:00:00Z")
    state, _ = apply_control(state, later, NOW + 2)
    assert state.allowed and state.allowed["command_id"] == "c-3"
    old_recheck = command("recheck", command_id="c-0", requested_at="2027-01-15T07:00:00Z")
    _, events = apply_control(state, old_recheck, NOW + 3)
    assert events[0].value["data"]["control"]["applied"] is True


def test_the_audit_id_comes_from_the_command_id_so_a_replay_is_audited_once():
    first = apply_control(lapsed_with("a"), command("recheck"), NOW)[1][0]
    replayed = apply_control(lapsed_with("a"), command("recheck"), NOW + 5)[1][0]
    assert first.value["id"] == replayed.value["id"]
