"""When a domain is checked next: jittered rechecks and capped exponential backoff. Pure."""

from __future__ import annotations

from collections import Counter

import pytest

from streams.domains.schedule import DAY, backoff_at, recheck_at, routine_at

NOW = 1_790_000_000.0
INTERVAL = 30 * DAY


@pytest.mark.parametrize("jitter", [0.0, 0.1, 0.5, 0.99])
@pytest.mark.parametrize("now", [NOW, NOW + 0.5, 12_345.0])
def test_recheck_is_within_the_jitter_window_never_later_than_the_interval(jitter, now):
    delays = [recheck_at(f"shop-{index}.com", now, INTERVAL, jitter) - now for index in range(300)]
    assert all((1 - jitter) * INTERVAL <= delay <= INTERVAL for delay in delays)
    if jitter:
        assert len(set(delays)) == len(delays)  # each domain has its own place in the window
        assert min(delays) < (1 - jitter / 2) * INTERVAL < max(delays)


def test_without_jitter_the_recheck_is_exactly_one_interval_away():
    assert recheck_at("shop.com", NOW, INTERVAL, 0.0) == NOW + INTERVAL


def test_recheck_is_stable_for_the_same_inputs():
    first = recheck_at("shop.com", NOW, INTERVAL, 0.1)
    assert [recheck_at("shop.com", NOW, INTERVAL, 0.1) for _ in range(3)] == [first] * 3
    assert recheck_at("other.com", NOW, INTERVAL, 0.1) != first


def test_recheck_scales_with_the_interval():
    short = recheck_at("shop.com", NOW, DAY, 0.2) - NOW
    long = recheck_at("shop.com", NOW, 10 * DAY, 0.2) - NOW
    assert long == pytest.approx(10 * short)


def test_a_thousand_domains_imported_at_once_spread_over_the_window():
    jitter = 0.1
    start, width = (1 - jitter) * INTERVAL, jitter * INTERVAL
    delays = [recheck_at(f"tenant-{index}.example.com", NOW, INTERVAL, jitter) - NOW for index in range(1000)]
    tenths = Counter(min(int((delay - start) / width * 10), 9) for delay in delays)
    assert sorted(tenths) == list(range(10))
    # A tenth of the window holds 10% on average; none holds more than 3 points more or less.
    assert max(tenths.values()) <= 130 and min(tenths.values()) >= 70


@pytest.mark.parametrize(
    ("attempt", "delay"),
    [
        (0, 300),
        (1, 300),
        (2, 600),
        (3, 1200),
        (4, 2400),
        (5, 4800),
        (6, 9600),
        (7, 10_000),
        (50, 10_000),
        (10_000, 10_000),
    ],
)
def test_backoff_doubles_from_the_first_delay_up_to_the_cap(attempt, delay):
    assert backoff_at(NOW, attempt, first=300, cap=10_000) == NOW + delay


def test_backoff_sequence():
    delays = [backoff_at(0.0, attempt, 5 * 60, DAY) for attempt in range(1, 12)]
    assert delays == [300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 76800, DAY, DAY]


def test_a_known_expiry_brings_the_routine_check_to_a_day_after_it():
    expires = NOW + 3 * DAY
    assert routine_at("shop.com", NOW, INTERVAL, 0.1, expires_at=expires) == expires + DAY
    # An expiry after the routine check, or long past, changes nothing.
    plain = recheck_at("shop.com", NOW, INTERVAL, 0.1)
    assert routine_at("shop.com", NOW, INTERVAL, 0.1, expires_at=NOW + 365 * DAY) == plain
    assert routine_at("shop.com", NOW, INTERVAL, 0.1, expires_at=NOW - 2 * DAY) == plain


def test_a_domain_in_grace_is_looked_at_daily():
    assert routine_at("shop.com", NOW, INTERVAL, 0.1, grace=True) == NOW + DAY


def test_domains_imported_together_spread_over_the_whole_interval_after_their_first_check():
    from streams.domains.schedule import spread_at

    jitter = 0.1
    delays = [spread_at(f"tenant-{index}.example.com", NOW, INTERVAL, jitter) - NOW for index in range(3000)]
    assert all(jitter * INTERVAL <= delay <= INTERVAL for delay in delays)
    # Each of the ten slices of the possible range holds about a tenth: the load per day is even.
    low, width = jitter * INTERVAL, (1 - jitter) * INTERVAL
    tenths = Counter(min(int((delay - low) / width * 10), 9) for delay in delays)
    assert sorted(tenths) == list(range(10)) and max(tenths.values()) <= 360 and min(tenths.values()) >= 240


def test_only_the_first_routine_check_spreads():
    first = routine_at("shop.com", NOW, INTERVAL, 0.1, first=True)
    later = routine_at("shop.com", NOW, INTERVAL, 0.1)
    assert later == recheck_at("shop.com", NOW, INTERVAL, 0.1) and first != later
    # An expiry still pulls the first check forward.
    assert routine_at("shop.com", NOW, INTERVAL, 0.1, first=True, expires_at=NOW + DAY) == NOW + 2 * DAY
