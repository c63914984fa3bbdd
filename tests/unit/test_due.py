"""The due index: a tick costs O(due), most urgent first, changes supersede. Pure."""

from __future__ import annotations

import random

from streams.domains.due import CONFIRM, RETRY, ROUTINE, URGENT, DueIndex, priority_of


def test_only_due_domains_come_out_most_urgent_first():
    index = DueIndex()
    index.set("routine-early.com", 10.0, ROUTINE)
    index.set("new.com", 50.0, URGENT)
    index.set("confirm.com", 40.0, CONFIRM)
    index.set("later.com", 500.0, URGENT)
    assert index.take_due(100.0, limit=10) == [
        ("new.com", URGENT, 50.0),
        ("confirm.com", CONFIRM, 40.0),
        ("routine-early.com", ROUTINE, 10.0),
    ]
    assert index.take_due(100.0, limit=10) == []  # taken means gone until set again
    assert len(index) == 1 and "later.com" in index


def test_a_backlog_of_routine_rechecks_never_holds_back_a_new_domain():
    index = DueIndex()
    for n in range(10_000):
        index.set(f"old-{n}.com", float(n % 100), ROUTINE)
    index.set("brand-new.com", 99.0, URGENT)
    assert index.take_due(100.0, limit=5)[0] == ("brand-new.com", URGENT, 99.0)


def test_a_change_supersedes_the_old_entry_and_a_removal_drops_it():
    index = DueIndex()
    index.set("a.com", 10.0, ROUTINE)
    index.set("a.com", 1000.0, ROUTINE)  # rechecked: due much later
    index.set("b.com", 10.0, ROUTINE)
    index.discard("b.com")
    assert index.take_due(100.0, limit=10) == []
    assert index.take_due(1000.0, limit=10) == [("a.com", ROUTINE, 1000.0)]


def test_the_limit_is_respected_and_the_rest_stay_due():
    index = DueIndex()
    for n in range(20):
        index.set(f"d{n}.com", float(n), ROUTINE)
    first = index.take_due(100.0, limit=8)
    assert [d for d, _, _ in first] == [f"d{n}.com" for n in range(8)]
    assert len(index.take_due(100.0, limit=100)) == 12


def test_stale_entries_do_not_pile_up():
    index = DueIndex()
    rng = random.Random(7)
    for _ in range(50_000):
        index.set(f"d{rng.randrange(500)}.com", rng.random() * 1e6, ROUTINE)
    assert len(index) == 500
    assert len(index._heaps[ROUTINE]) <= 2 * 500 + 65
    assert len(index.take_due(2e6, limit=10_000)) == 500


def test_priorities_follow_the_domain_state():
    assert priority_of({"status": "new"}) == URGENT
    assert priority_of({"status": "active", "urgent": True}) == URGENT
    assert priority_of({"status": "lapse_suspected", "urgent": True}) == CONFIRM
    assert priority_of({"status": "active"}) == ROUTINE
    assert priority_of({"status": "lapsed"}) == ROUTINE
    assert priority_of({"status": "new", "errors": 3}) == RETRY
    assert priority_of({"status": "active", "urgent": True, "errors": 1}) == RETRY
    assert priority_of({"status": "lapse_suspected", "errors": 2}) == CONFIRM
    assert DueIndex().backlog(0.0) == {"urgent": 0, "confirm": 0, "routine": 0, "retry": 0}


def test_domains_that_never_answered_wait_behind_lapse_confirmations():
    """The issue's starvation: failing new domains once ranked first, above confirmations."""
    index = DueIndex()
    for n in range(50):
        index.set(f"never-answers-{n}.com", 10.0, priority_of({"status": "new", "errors": 4}))
    index.set("lapse-to-confirm.com", 10.0, priority_of({"status": "lapse_suspected"}))
    index.set("monthly.com", 10.0, priority_of({"status": "active"}))
    assert [d for d, _, _ in index.take_due(10.0, limit=2)] == ["lapse-to-confirm.com", "monthly.com"]


def test_domains_put_off_to_one_moment_keep_their_own_order():
    """Deferred to a circuit's reopening, they come back in the order they first came due, not by name."""
    index = DueIndex()
    firsts = {"zz.com": 1.0, "mm.com": 2.0, "aa.com": 3.0}
    for domain, at in firsts.items():
        index.set(domain, at, ROUTINE)
    for domain, _, rank in index.take_due(5.0, limit=10):
        index.set(domain, 100.0, ROUTINE, rank)  # the circuit reopens at 100
    assert [d for d, _, _ in index.take_due(100.0, limit=10)] == ["zz.com", "mm.com", "aa.com"]


def test_a_time_that_is_no_time_is_refused():
    import pytest

    index = DueIndex()
    for bad in (float("inf"), float("nan"), None, "soon"):
        with pytest.raises(ValueError):
            index.set("shop.com", bad, ROUTINE)
    assert len(index) == 0
