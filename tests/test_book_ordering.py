"""Email events and logins come from different topics: an older event never overrides a newer one."""

from __future__ import annotations

from streams.accounts.address_book import TOMBSTONES, apply_command
from streams.accounts.events import AccountCommand, AddressUpdate

A = AddressUpdate("a@alpha.com", "a@alpha.com", "alpha.com", True, "2020-01-01T00:00:00Z")
B = AddressUpdate("b@beta.com", "b@beta.com", "beta.com", True, "2020-01-01T00:00:00Z")
DAY1, DAY2, DAY3 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"


def snapshot(event_id: str, at: str | None, *addresses: AddressUpdate) -> AccountCommand:
    return AccountCommand(event_id, "42", upsert=list(addresses), replace=True, login=True, occurred_at=at)


def test_an_older_snapshot_does_not_drop_an_address_added_since():
    state, _ = apply_command(None, AccountCommand("add-b", "42", upsert=[B], occurred_at=DAY2))
    state, commands = apply_command(state, snapshot("login", DAY1, A))
    assert sorted(state["addresses"]) == ["a@alpha.com", "b@beta.com"]
    assert not [c for c in commands if c.kind == "unmember"]


def test_an_older_snapshot_does_not_bring_back_an_address_removed_since():
    state, _ = apply_command(None, AccountCommand("add-a", "42", upsert=[A], occurred_at=DAY1))
    state, _ = apply_command(state, AccountCommand("rm-a", "42", remove=[A.key], occurred_at=DAY3))
    state, commands = apply_command(state, snapshot("login", DAY2, A, B))
    assert sorted(state["addresses"]) == ["b@beta.com"]
    assert [c.domain for c in commands if c.kind == "member"] == ["beta.com"]


def test_an_older_removal_does_not_undo_a_newer_snapshot():
    state, _ = apply_command(None, snapshot("login", DAY2, A))
    state, commands = apply_command(state, AccountCommand("rm-a", "42", remove=[A.key], occurred_at=DAY1))
    assert sorted(state["addresses"]) == ["a@alpha.com"] and commands == []


def test_a_newer_snapshot_does_reconcile():
    state, _ = apply_command(None, AccountCommand("add-a", "42", upsert=[A], occurred_at=DAY1))
    state, commands = apply_command(state, snapshot("login", DAY2, B))
    assert sorted(state["addresses"]) == ["b@beta.com"]
    assert {(c.kind, c.domain) for c in commands} == {
        ("unmember", "alpha.com"),
        ("member", "beta.com"),
        ("login", "beta.com"),
    }


def test_events_without_times_apply_in_arrival_order():
    state, _ = apply_command(None, AccountCommand("add-a", "42", upsert=[A], occurred_at=DAY3))
    state, _ = apply_command(state, snapshot("login", None, B))
    assert sorted(state["addresses"]) == ["b@beta.com"]


def test_tombstones_are_bounded():
    state = None
    for i in range(TOMBSTONES + 10):
        address = AddressUpdate(f"u{i}@gamma.com", f"u{i}@gamma.com", "gamma.com", False, None)
        at = f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z"
        state, _ = apply_command(state, AccountCommand(f"add{i}", "42", upsert=[address], occurred_at=at))
        state, _ = apply_command(state, AccountCommand(f"rm{i}", "42", remove=[address.key], occurred_at=at))
    assert len(state["removed"]) == TOMBSTONES
    assert f"u{TOMBSTONES + 9}@gamma.com" in state["removed"] and "u0@gamma.com" not in state["removed"]
