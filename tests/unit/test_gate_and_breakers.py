"""Token buckets and circuit breakers as state machines over a given clock. Pure."""

from __future__ import annotations

import pytest

from streams.providers.breakers import Breakers
from streams.providers.gate import TokenBucket


def test_a_bucket_allows_its_burst_then_spaces_requests_at_its_rate():
    bucket = TokenBucket(rate=2.0, burst=3)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert [bucket.take(0.0) for _ in range(3)] == pytest.approx([0.5, 1.0, 1.5])


def test_a_bucket_refills_with_time_but_not_past_its_burst():
    bucket = TokenBucket(rate=1.0, burst=2)
    bucket.take(0.0), bucket.take(0.0)
    assert bucket.take(0.5) == pytest.approx(0.5)
    assert TokenBucket(1.0, 2).take(1000.0) == 0.0
    idle = TokenBucket(rate=1.0, burst=2)
    idle.take(0.0)
    assert [idle.take(100.0) for _ in range(3)] == pytest.approx([0.0, 0.0, 1.0])


def test_a_circuit_opens_on_failures_of_distinct_domains_and_refuses_until_the_cooldown():
    breakers = Breakers(threshold=3, cooldown=60, max_cooldown=600)
    assert [breakers.failure("s", 0.0, "HTTP 500", domain=d) for d in ("a.com", "b.com")] == [None, None]
    change = breakers.failure("s", 1.0, "HTTP 500", domain="c.com")
    assert (change.state, change.failures, change.retry_at) == ("open", 3, 61.0)
    assert breakers.allow("s", 30.0, "d.com") == (False, None)
    assert breakers.allow("other", 30.0, "d.com") == (True, None)  # one server's trouble is its own


def test_one_name_failing_again_and_again_never_opens_the_circuit():
    breakers = Breakers(threshold=3, cooldown=60, max_cooldown=600)
    assert all(breakers.failure("s", float(t), "HTTP 500", domain="bad.com") is None for t in range(50))
    assert breakers.state("s") == "closed"


def test_failures_of_suspects_are_no_evidence_against_their_server():
    """A name that failed on its own last time says nothing new by failing again."""
    breakers = Breakers(threshold=3, cooldown=60, max_cooldown=600)
    for n in range(20):
        assert breakers.failure("s", float(n), "timeout", domain=f"bad{n}.com", suspect=True) is None
    assert breakers.state("s") == "closed"


def test_server_wide_failures_each_count_whatever_the_name():
    breakers = Breakers(threshold=3, cooldown=60, max_cooldown=600)
    changes = [
        breakers.failure("s", 0.0, "ConnectError", domain="one.com", server_wide=True, suspect=True) for _ in range(3)
    ]
    assert changes[:2] == [None, None] and changes[2].state == "open"


def test_evidence_older_than_the_window_is_forgotten():
    breakers = Breakers(threshold=3, cooldown=60, max_cooldown=600, window=120)
    breakers.failure("s", 0.0, "x", domain="a.com")
    breakers.failure("s", 10.0, "x", domain="b.com")
    assert breakers.failure("s", 200.0, "x", domain="c.com") is None
    assert breakers.failure("s", 201.0, "x", domain="d.com") is None
    assert breakers.failure("s", 202.0, "x", domain="e.com").state == "open"


def test_success_in_a_closed_circuit_resets_the_evidence():
    breakers = Breakers(threshold=2, cooldown=10, max_cooldown=10)
    breakers.failure("s", 0.0, "x", domain="a.com")
    assert breakers.success("s") is None
    assert breakers.failure("s", 0.0, "x", domain="b.com") is None
    assert breakers.state("s") == "closed"


def _opened(breakers: Breakers, server: str = "s", at: float = 0.0) -> None:
    for n in range(breakers.threshold):
        breakers.failure(server, at, "timeout", domain=f"down{n}.com")
    assert breakers.state(server) == "open"


def test_after_the_cooldown_one_probe_decides():
    breakers = Breakers(threshold=1, cooldown=10, max_cooldown=100)
    _opened(breakers)
    allowed, change = breakers.allow("s", 10.0, "probe.com")
    assert allowed and change.state == "half_open"
    assert breakers.allow("s", 10.0, "other.com") == (False, None)  # only one probe in flight
    assert breakers.success("s").state == "closed"
    assert breakers.allow("s", 10.0, "other.com") == (True, None) and breakers.open_servers() == []


def test_a_failed_healthy_probe_reopens_for_twice_as_long_up_to_the_cap():
    breakers = Breakers(threshold=1, cooldown=10, max_cooldown=25)
    now, cooldowns = 0.0, []
    change = breakers.failure("s", now, "timeout", domain="a.com")
    for n in range(4):
        cooldowns.append(change.retry_at - now)
        now = change.retry_at
        assert breakers.allow("s", now, f"probe{n}.com")[0]
        change = breakers.failure("s", now, "timeout", domain=f"probe{n}.com")
    assert cooldowns == [10, 20, 25, 25]


def test_a_suspect_probe_that_fails_frees_the_probe_and_the_circuit_stays_half_open():
    """The issue's stuck circuit: the same failing name probing for ever. Its failure now proves nothing."""
    breakers = Breakers(threshold=2, cooldown=10, max_cooldown=100)
    _opened(breakers)
    assert breakers.allow("s", 10.0, "bad.com")[0]
    assert breakers.failure("s", 10.5, "HTTP 500", domain="bad.com", suspect=True) is None
    assert breakers.state("s") == "half_open"
    assert breakers.allow("s", 10.6, "bad.com")[0]  # the next domain may probe at once: no new cooldown
    assert breakers.failure("s", 10.7, "HTTP 500", domain="bad.com", suspect=True) is None
    assert breakers.allow("s", 10.8, "good.com")[0]
    assert breakers.success("s").state == "closed"


def test_a_probe_never_seen_to_answer_cannot_keep_the_circuit_open():
    """Fresh bad names probing one after another once doubled the cooldown each time (2, 4, 8 s...)."""
    breakers = Breakers(threshold=1, cooldown=10, max_cooldown=100)
    _opened(breakers)
    for n in range(3):
        assert breakers.allow("s", 10.0 + n, f"new-bad{n}.com")[0]
        assert breakers.failure("s", 10.0 + n, "not JSON", domain=f"new-bad{n}.com", proven=False) is None
    assert breakers.state("s") == "half_open"
    assert breakers.allow("s", 13.0, "known.com")[0]
    assert breakers.failure("s", 13.0, "HTTP 500", domain="known.com", proven=True).state == "open"


def test_a_server_wide_failure_of_a_suspect_probe_reopens_the_circuit():
    breakers = Breakers(threshold=1, cooldown=10, max_cooldown=100)
    _opened(breakers)
    assert breakers.allow("s", 10.0, "bad.com")[0]
    change = breakers.failure("s", 10.0, "ConnectError", domain="bad.com", server_wide=True, suspect=True)
    assert (change.state, change.retry_at) == ("open", 30.0)


def test_in_half_open_only_the_probe_decides_and_a_probe_never_sent_frees_its_place():
    breakers = Breakers(threshold=1, cooldown=10, max_cooldown=100)
    _opened(breakers)
    assert breakers.allow("s", 10.0, "probe.com")[0]
    assert breakers.failure("s", 10.0, "timeout", domain="sent-before.com") is None  # sent before the open
    assert breakers.state("s") == "half_open"
    assert breakers.allow("s", 10.0, "next.com") == (False, None)
    breakers.release("s", "probe.com")
    assert breakers.allow("s", 10.0, "next.com")[0]


async def test_retry_after_holds_only_the_server_that_asked():
    import asyncio

    from streams.providers.gate import Gate

    gate = Gate(provider_rate=1000, server_rate=1000)
    gate.hold("rdap a.example", 30.0)
    assert gate.held("rdap a.example") and not gate.held("rdap b.example")
    await asyncio.wait_for(gate.enter("rdap", "rdap b.example"), timeout=5)  # not held up by a.example
    entering = asyncio.ensure_future(gate.enter("rdap", "rdap a.example"))
    await asyncio.sleep(0)
    assert not entering.done()
    entering.cancel()
