"""The checker's manners against a real HTTPS RDAP server on loopback: deadlines,
Retry-After holds and open circuits keep one bad server from stalling the rest."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from streams.domains.checker import Checker, start_due_checks
from streams.domains.commands import CheckResult
from streams.domains.due import CONFIRM, URGENT, DueIndex
from streams.providers.bootstrap import BootstrapSource
from streams.providers.breakers import Breakers
from streams.providers.gate import Gate
from streams.providers.rdap import RdapProvider
from tests import rdap_documents as docs
from tests.tls import certificate_authority


class Harness:
    """A checker whose `.test` names go to 127.0.0.1 and `.example` names to localhost: two servers."""

    def __init__(
        self,
        server,
        tmp_path,
        *,
        concurrency=4,
        deadline=5.0,
        server_rate=1000.0,
        threshold=5,
        cooldown=60.0,
        publish_done=True,
    ):
        self.server = server
        registry = server.base_url("registry")
        bootstrap = BootstrapSource(
            None, tmp_path, {"test": registry, "example": registry.replace("127.0.0.1", "localhost")}
        )
        self.gate = Gate(1000.0, server_rate)
        self.provider = RdapProvider(
            bootstrap, timeout=0.5, verify=certificate_authority().client_ssl_context(), gate=self.gate
        )
        self.results: list[CheckResult] = []
        self.requeued: dict[str, float] = {}
        self.changes: list[tuple[str, str]] = []
        self.publish_done = publish_done
        self.checker = Checker(
            self.provider,
            self.publish,
            concurrency=concurrency,
            deadline=deadline,
            gate=self.gate,
            breakers=Breakers(threshold, cooldown, cooldown * 10),
            requeue=self.requeued.__setitem__,
            announce=self.announce,
        )

    async def publish(self, result: CheckResult) -> None:
        self.results.append(result)
        if self.publish_done:
            self.checker.done(result.domain, result.check_id)

    async def announce(self, provider: str, change) -> None:
        self.changes.append((change.server, change.state))

    def server_of(self, domain: str) -> str:
        return f"rdap {self.provider.route(domain)}"

    async def result_for(self, domain: str, timeout: float = 10.0) -> CheckResult:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for result in self.results:
                if result.domain == domain:
                    return result
            await asyncio.sleep(0.02)
        raise AssertionError(f"no result for {domain} within {timeout} s; have {self.results}")


@pytest.fixture
async def harness(rdap, tmp_path, request):
    made = []

    def make(**options):
        made.append(Harness(rdap, tmp_path, **options))
        return made[-1]

    yield make
    for one in made:
        await one.checker.close()


def name(tld: str = "test") -> str:
    return f"d-{uuid.uuid4().hex[:10]}.{tld}"


def active(server, domain):
    server.set(domain, {"json": docs.domain_object(domain, ["active"], "2015-04-01T00:00:00Z", "2030-04-01T00:00:00Z")})


async def test_a_server_that_trickles_its_answer_fails_at_the_deadline(harness):
    """Every read is quicker than the request timeout, but the answer never ends."""
    h = harness(deadline=1.5)
    domain = name()
    h.server.set(domain, {"trickle": 0.05})
    started = time.monotonic()
    h.checker.dispatch([(domain, False, False)], time.time())
    result = await h.result_for(domain)
    assert result.verdict is None and "within 1.5 s" in result.detail
    assert time.monotonic() - started < 8  # the deadline ended it, not the test's patience


async def test_a_held_server_does_not_idle_the_concurrency_slots(harness):
    h = harness(concurrency=1)
    waiting, other = name("test"), name("example")
    active(h.server, waiting), active(h.server, other)
    started, _ = h.checker.dispatch([(waiting, False, False)], time.time())
    assert started == [waiting]
    h.gate.hold(h.server_of(waiting), 60.0)  # Retry-After arrives before its check could go
    h.checker.dispatch([(other, False, False)], time.time())
    assert (await h.result_for(other)).verdict == "active"
    assert h.server.count(waiting) == 0


async def test_a_held_server_defers_its_domains_until_the_hold_ends(harness):
    h = harness()
    held, free = name("test"), name("example")
    active(h.server, free)
    h.gate.hold(h.server_of(held), 60.0)
    now = time.time()
    started, deferred = h.checker.dispatch([(held, False, False), (free, False, False)], now)
    assert started == [free]
    [(domain, until)] = deferred
    assert domain == held and now + 50 < until <= now + 61


async def test_checks_queued_behind_an_opening_circuit_are_not_sent(harness):
    """The first answer opens the circuit; the two queued behind it for tokens stay unsent and come back."""
    h = harness(server_rate=1.0, threshold=1)  # a burst of one: the others wait their turn
    domains = [name() for _ in range(3)]
    for domain in domains:
        h.server.set(domain, {"status": 500})
    h.checker.dispatch([(domain, False, False) for domain in domains], time.time())
    await h.result_for(domains[0])
    deadline = time.monotonic() + 10
    while len(h.requeued) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert set(h.requeued) == set(domains[1:])
    assert all(until > time.time() + 30 for until in h.requeued.values())  # the cooldown's end
    assert [h.server.count(d) for d in domains] == [1, 0, 0]
    assert [r.domain for r in h.results] == domains[:1]  # no failure counted against the others


async def test_callers_that_waited_out_a_hold_leave_at_the_servers_rate():
    gate = Gate(provider_rate=1000.0, server_rate=5.0)
    gate.hold("rdap s", 0.3)
    held_until = time.monotonic() + 0.3
    times = []

    async def enter():
        await gate.enter("rdap", "rdap s")
        times.append(time.monotonic())

    await asyncio.wait_for(asyncio.gather(*(enter() for _ in range(10))), timeout=20)
    assert min(times) >= held_until - 0.01
    # A burst of 5 at the hold's end, then one every 0.2 s: not all ten at once.
    assert max(times) - held_until >= 0.9


async def test_domains_deferred_by_a_held_server_leave_room_for_the_others(harness):
    """Forty urgent domains on a server that asked us to wait must not starve one confirmation elsewhere."""
    h = harness(concurrency=1)  # room for 4 pending checks
    due = DueIndex()
    now = time.time()
    stuck = [name("test") for _ in range(40)]
    for domain in stuck:
        due.set(domain, now - 10, URGENT)
    confirmation = name("example")
    active(h.server, confirmation)
    due.set(confirmation, now - 1, CONFIRM)
    h.gate.hold(h.server_of(stuck[0]), 120.0)
    assert start_due_checks(due, h.checker, now) == 1
    assert (await h.result_for(confirmation)).verdict == "active"
    assert due.take_due(now, 100) == []  # every stuck domain waits for the hold's end, not the next tick


async def test_a_finished_check_makes_room_for_the_next_without_waiting_for_the_tick(harness):
    """With a tick of a minute, twelve checks through four slots still finish in seconds."""
    h = harness(concurrency=1)  # four pending checks at most
    due = DueIndex()
    now = time.time()
    domains = [name() for _ in range(12)]
    for domain in domains:
        active(h.server, domain)
        due.set(domain, now - 1, URGENT)

    async def keep_checking():
        while True:
            start_due_checks(due, h.checker, time.time())
            await h.checker.room_freed(60.0)

    loop = asyncio.ensure_future(keep_checking())
    try:
        for domain in domains:
            assert (await h.result_for(domain, timeout=20)).verdict == "active"
    finally:
        loop.cancel()


async def test_a_handful_of_failing_names_never_hold_a_registrys_circuit_open(harness):
    """The issue: three names that always fail, on a server that answers every other name.

    Fresh, their failures open the circuit (nothing yet says they fail alone);
    after the cooldown, a failing name that probes first frees the probe without
    reopening, and the next domain's answer closes the circuit.
    """
    h = harness(threshold=3, cooldown=0.3)
    bad = [name() for _ in range(3)]
    good = [name() for _ in range(3)]
    for domain in bad:
        h.server.set(domain, {"status": 500})
    for domain in good:
        active(h.server, domain)
    h.checker.dispatch([(domain, False, False) for domain in bad], time.time())
    for domain in bad:
        await h.result_for(domain)
    server = h.server_of(bad[0])
    assert h.checker.breakers.state(server) == "open"
    assert sorted(h.checker.failing_alone().items()) == [(server, 3)]

    reopens = h.checker.breakers.reopens_at(server, time.time())
    while time.time() < reopens:
        await asyncio.sleep(0.05)
    due = [(domain, False, True) for domain in bad] + [(domain, False, False) for domain in good]
    started, _ = h.checker.dispatch(due, time.time())
    assert started == bad[:1]  # the first in line probes, even a suspect one
    h.results.clear()
    await h.result_for(bad[0])
    assert h.checker.breakers.state(server) == "half_open"  # its own failure proves nothing about the server
    started, _ = h.checker.dispatch(due[1:], time.time())
    assert len(started) == 1
    await h.result_for(started[0])
    while h.checker.breakers.state(server) == "half_open" and started[0] in bad:
        started, _ = h.checker.dispatch([d for d in due if d[0] not in {r.domain for r in h.results}], time.time())
        await h.result_for(started[0])
    assert h.checker.breakers.state(server) == "closed"
    assert [state for _, state in h.changes] == ["open", "half_open", "closed"]  # never reopened


async def test_only_a_checks_own_result_frees_its_in_flight_mark(harness):
    """A previous owner's late result is evidence, but the check in flight here stays in flight."""
    h = harness(publish_done=False)
    domain = name()
    h.server.set(domain, {"hang": 1})
    now = time.time()
    assert h.checker.dispatch([(domain, False, False)], now)[0] == [domain]
    h.checker.done(domain, "another-worker-7")
    h.checker.done(domain, None)  # a record written before check ids
    assert h.checker.busy(domain, now)
    assert h.checker.dispatch([(domain, False, False)], now)[0] == []  # not asked twice
    result = await h.result_for(domain)
    h.checker.done(domain, result.check_id)
    assert not h.checker.busy(domain, now)
    assert h.server.count(domain) == 1


async def test_a_rebalance_drops_the_checks_not_yet_sent_for_partitions_it_lost(harness):
    h = harness(server_rate=1.0)  # a burst of one: the rest wait for tokens, unsent
    domains = [name() for _ in range(3)]
    for domain in domains:
        active(h.server, domain)
    h.checker.dispatch([(domain, False, False) for domain in domains], time.time())
    kept = domains[0]
    deadline = time.monotonic() + 10
    while h.server.count(kept) == 0 and time.monotonic() < deadline:  # the first is on the wire
        await asyncio.sleep(0.01)
    assert h.checker.drop(lambda domain: domain == kept) == 2
    assert (await h.result_for(kept)).verdict == "active"
    assert not any(h.checker.busy(domain, time.time()) for domain in domains[1:])
    assert [h.server.count(domain) for domain in domains] == [1, 0, 0]


async def test_a_closing_checker_starts_no_check_that_could_fail_against_its_server(harness):
    """At shutdown the providers close: a check started then would fail and count against the server."""
    h = harness()
    domain = name()
    active(h.server, domain)
    await h.checker.close()
    now = time.time()
    assert h.checker.dispatch([(domain, False, False)], now) == ([], [(domain, now + 1.0)])
    assert h.results == [] and h.server.count(domain) == 0
