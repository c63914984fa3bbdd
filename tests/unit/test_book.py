"""An account's address book: duplicates, replacement, removals. Pure.

Ordering by occurred_at is covered in tests/test_book_ordering.py.
"""

from __future__ import annotations

import copy

import orjson

from streams.accounts.address_book import RECENT_EVENT_IDS, apply_command
from streams.accounts.events import AccountCommand, AddressUpdate, parse_email_event
from streams.core.addresses import PublicMailboxes
from streams.domains.commands import Login, MemberAdded, MemberRemoved

A = AddressUpdate("a@alpha.com", "A@alpha.com", "alpha.com", True, "2024-01-01T00:00:00Z")
B = AddressUpdate("b@beta.com", "b@beta.com", "beta.com", False, None)


def email_event(event_id: str, kind: str, email: str, **extra) -> AccountCommand:
    value = orjson.dumps({"event_id": event_id, "type": kind, "account_id": "42", "email": email, **extra})
    return parse_email_event(b"42", value, public=PublicMailboxes(), max_bytes=65536)


def book(*updates: AddressUpdate) -> dict:
    state, _ = apply_command(None, AccountCommand("setup", "42", upsert=list(updates)))
    return state


def test_a_new_address_becomes_a_member_of_its_domain():
    state, out = apply_command(None, AccountCommand("e1", "42", upsert=[A]))
    assert state["addresses"] == {
        "a@alpha.com": {
            "email": "A@alpha.com",
            "domain": "alpha.com",
            "verified": True,
            "verified_at": "2024-01-01T00:00:00Z",
            "updated_at": None,
        }
    }
    assert out == [
        MemberAdded(
            domain="alpha.com",
            account_id="42",
            key="a@alpha.com",
            email="A@alpha.com",
            verified=True,
            verified_at="2024-01-01T00:00:00Z",
        )
    ]
    assert state["recent"] == ["e1"]


# --- duplicates -------------------------------------------------------------------------------


def test_a_duplicate_event_id_changes_nothing():
    command = AccountCommand("e1", "42", upsert=[A])
    state, _ = apply_command(None, command)
    before = copy.deepcopy(state)
    again, out = apply_command(state, command)
    assert again == before and out == []


def test_a_duplicate_event_id_with_other_content_changes_nothing():
    state = book(A)
    before = copy.deepcopy(state)
    again, out = apply_command(
        state, AccountCommand("setup", "42", upsert=[B], remove=[A.key], replace=True, login=True)
    )
    assert again == before and out == []


def test_a_duplicate_is_recognised_among_later_events():
    state = book(A)
    state, _ = apply_command(state, AccountCommand("e2", "42", upsert=[B]))
    state, _ = apply_command(state, AccountCommand("e3", "42", remove=[B.key]))
    before = copy.deepcopy(state)
    again, out = apply_command(state, AccountCommand("e2", "42", upsert=[B]))
    assert again == before and out == []


def test_recent_event_ids_are_bounded():
    state = book(A)
    for index in range(RECENT_EVENT_IDS + 10):
        state, _ = apply_command(state, AccountCommand(f"login-{index}", "42", login=True))
    assert len(state["recent"]) == RECENT_EVENT_IDS
    assert state["recent"][-1] == f"login-{RECENT_EVENT_IDS + 9}"


def test_an_unchanged_address_emits_no_member_command():
    state = book(A)
    _, out = apply_command(state, AccountCommand("e2", "42", upsert=[A]))
    assert out == []


def test_a_change_of_verification_is_a_member_command():
    state = book(A)
    unverified = AddressUpdate(A.key, A.email, A.domain, False, None)
    _, out = apply_command(state, AccountCommand("e2", "42", upsert=[unverified]))
    assert out == [MemberAdded("alpha.com", "42", "a@alpha.com", "A@alpha.com", False, None)]


# --- email_changed without previous_email -----------------------------------------------------


def test_email_changed_without_previous_email_replaces_every_address():
    state = book(A, B)
    command = email_event("chg", "email_changed", "c@gamma.com", verified=True, verified_at="2024-02-01T00:00:00Z")
    state, out = apply_command(state, command)
    assert list(state["addresses"]) == ["c@gamma.com"]
    assert sorted((c.kind, c.domain) for c in out) == [
        ("member", "gamma.com"),
        ("unmember", "alpha.com"),
        ("unmember", "beta.com"),
    ]


def test_email_changed_to_a_public_mailbox_without_previous_email_drops_the_custom_ones():
    state = book(A, B)
    state, out = apply_command(state, email_event("chg", "email_changed", "someone@gmail.com"))
    assert state["addresses"] == {}
    assert sorted(c.key for c in out if isinstance(c, MemberRemoved)) == ["a@alpha.com", "b@beta.com"]


def test_email_changed_with_previous_email_keeps_the_other_addresses():
    state = book(A, B)
    state, out = apply_command(state, email_event("chg", "email_changed", "c@gamma.com", previous_email="a@alpha.com"))
    assert sorted(state["addresses"]) == ["b@beta.com", "c@gamma.com"]
    assert sorted((c.kind, c.domain) for c in out) == [("member", "gamma.com"), ("unmember", "alpha.com")]


# --- removals ---------------------------------------------------------------------------------


def test_removing_an_unknown_address_from_an_unknown_account_keeps_no_state():
    assert apply_command(None, email_event("rm", "email_removed", "x@nowhere.com")) == (None, [])


def test_removing_an_unknown_address_changes_no_address():
    state = book(A)
    before = copy.deepcopy(state)
    after, out = apply_command(
        state, email_event("rm", "email_removed", "x@nowhere.com", occurred_at="2024-03-01T00:00:00Z")
    )
    assert out == []
    assert after["addresses"] == before["addresses"]
    assert after["removed"] == before["removed"] == {}  # no tombstone for what was never there


def test_removing_a_known_address_unmembers_it_and_leaves_a_tombstone():
    state = book(A, B)
    state, out = apply_command(
        state, email_event("rm", "email_removed", "A@ALPHA.com", occurred_at="2024-03-01T00:00:00Z")
    )
    assert list(state["addresses"]) == ["b@beta.com"]
    assert out == [MemberRemoved(domain="alpha.com", account_id="42", key="a@alpha.com")]
    assert state["removed"] == {"a@alpha.com": "2024-03-01T00:00:00Z"}


def test_public_mailbox_events_keep_no_state():
    assert apply_command(None, email_event("pub", "email_added", "me@gmail.com", verified=True)) == (None, [])


# --- logins -----------------------------------------------------------------------------------


def test_a_login_asks_for_a_check_of_each_domain_once():
    state = book(A, B, AddressUpdate("z@alpha.com", "z@alpha.com", "alpha.com", True, None))
    _, out = apply_command(state, AccountCommand("login", "42", login=True))
    assert out == [Login(domain="alpha.com", account_id="42"), Login(domain="beta.com", account_id="42")]
