"""Token buckets and circuit breakers as state machines over a given clock. Pure."""

from __future__ import annotations

import pytest

from streams.providers.polite import Breakers, TokenBucket


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


def test_a_circuit_opens_after_the_threshold_and_refuses_until_the_cooldown():
    breakers = Breakers(threshold=3, cooldown=60, max_cooldown=600)
    assert [breakers.failure("s", 0.0, "HTTP 500") for _ in range(2)] == [None, None]
    change = breakers.failure("s", 1.0, "HTTP 500")
    assert (change.state, change.failures, change.retry_at) == ("open", 3, 61.0)
    assert breakers.allow("s", 30.0) == (False, None)
    assert breakers.allow("other", 30.0) == (True, None)  # one server's trouble is its own


def test_after_the_cooldown_one_probe_decides():
    breakers = Breakers(threshold=1, cooldown=10, max_cooldown=100)
    breakers.failure("s", 0.0, "timeout")
    allowed, change = breakers.allow("s", 10.0)
    assert allowed and change.state == "half_open"
    assert breakers.allow("s", 10.0) == (False, None)  # only one probe in flight
    assert breakers.success("s").state == "closed"
    assert breakers.allow("s", 10.0) == (True, None) and breakers.open_servers() == []


def test_a_failed_probe_reopens_for_twice_as_long_up_to_the_cap():
    breakers = Breakers(threshold=1, cooldown=10, max_cooldown=25)
    now, cooldowns = 0.0, []
    change = breakers.failure("s", now, "timeout")
    for _ in range(4):
        cooldowns.append(change.retry_at - now)
        now = change.retry_at
        assert breakers.allow("s", now)[0]
        change = breakers.failure("s", now, "timeout")
    assert cooldowns == [10, 20, 25, 25]


def test_success_in_a_closed_circuit_resets_the_count():
    breakers = Breakers(threshold=2, cooldown=10, max_cooldown=10)
    breakers.failure("s", 0.0, "x")
    assert breakers.success("s") is None
    assert breakers.failure("s", 0.0, "x") is None
    assert breakers.state("s") == "closed"


async def test_retry_after_holds_only_the_server_that_asked():
    import asyncio

    from streams.providers.polite import Gate

    gate = Gate(provider_rate=1000, server_rate=1000)
    gate.hold("rdap a.example", 30.0)
    assert gate.held("rdap a.example") and not gate.held("rdap b.example")
    await asyncio.wait_for(gate.enter("rdap", "rdap b.example"), timeout=5)  # not held up by a.example
    entering = asyncio.ensure_future(gate.enter("rdap", "rdap a.example"))
    await asyncio.sleep(0)
    assert not entering.done()
    entering.cancel()
