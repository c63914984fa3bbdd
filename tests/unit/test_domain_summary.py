"""The operator's view of a domain row: counts and times, never addresses."""

from __future__ import annotations

from streams.domains.state import DomainState
from streams.domains.summary import domain_summary


def test_the_summary_counts_members_and_shows_times_in_utc():
    state = DomainState(
        domain="example.com",
        status="lapsed",
        flags=["inactive"],
        provider="rdap",
        first_seen_at=1_700_000_000.0,
        last_check_at=1_700_000_600.0,
        last_success_at=1_700_000_600.0,
        next_check_at=1_700_086_400.0,
        lapse_seen_at=1_700_000_000.0,
        confirmed_at=1_700_000_600.0,
        members={
            "1": {"a@example.com": {"email": "A@example.com", "verified": True}},
            "2": {
                "b@example.com": {"email": "b@example.com", "verified": False},
                "c@example.com": {"email": "c@example.com", "verified": True},
            },
        },
        emitted={"1\na@example.com": "id-1"},
    )
    shown = domain_summary(state.to_dict(), partition=3, worker="http://w1:6066")
    assert shown["members"] == {"accounts": 2, "addresses": 3, "verified": 2}
    assert shown["first_seen_at"] == "2023-11-14T22:13:20Z" and shown["lapse_confirmed_at"] == "2023-11-14T22:23:20Z"
    assert shown["registered_at"] is None and shown["unverified_this_episode"] == 1
    assert (shown["partition"], shown["worker"], shown["status"], shown["flags"]) == (
        3,
        "http://w1:6066",
        "lapsed",
        ["inactive"],
    )
    assert not any("@" in str(value) for value in shown.values())
