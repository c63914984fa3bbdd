"""Runs provider checks for due domains and feeds the results back as domain commands.

Checks never write the table themselves: a result goes through the domain
topic, so one agent applies every change to a domain, in order. Here live the
manners: a confirmation goes to the confirming provider, every request waits
for its rate limit, a check has a deadline, and a server whose circuit is open
or that asked us to wait gets no requests; its domains wait until then, out of
the way of the others. A domain that fails on its own is a suspect: its
failures are no evidence against its server (see `Breakers`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace

from streams.core import metrics
from streams.domains.commands import CheckResult
from streams.domains.due import CONFIRM, RETRY, DueIndex
from streams.providers import ProviderError, StatusProvider
from streams.providers.breakers import Breakers, CircuitChange
from streams.providers.gate import Gate

log = logging.getLogger("lapsewatch.checks")

Publish = Callable[[CheckResult], Awaitable[None]]
Announce = Callable[[str, CircuitChange], Awaitable[None]]
Requeue = Callable[[str, float], None]
Proven = Callable[[str], bool]
# Domains remembered as failing on their own, per worker: enough for every bad name of a large platform.
SUSPECTS_KEPT = 100_000


class Checker:
    def __init__(
        self,
        primary: StatusProvider,
        publish: Publish,
        *,
        concurrency: int,
        deadline: float,
        gate: Gate,
        breakers: Breakers,
        confirm: StatusProvider | None = None,
        announce: Announce | None = None,
        requeue: Requeue | None = None,
        in_flight_ttl: float | None = None,
        proven: Proven | None = None,
    ):
        self.primary = primary
        self.confirm = confirm
        self.publish = publish
        self.announce = announce
        self.requeue = requeue
        # Whether a domain answered before and has not failed since (read from the table by the worker).
        self.proven = proven or (lambda domain: True)
        self.gate = gate
        self.breakers = breakers
        self.deadline = deadline
        # When a check last got a verdict, read by the metrics scrape; the start counts as one until then.
        self.last_verdict_at = time.time()
        self.max_pending = concurrency * 4
        # A check may wait for its turn behind every pending one at the slowest rate, then run to its
        # deadline; past that its result is taken as lost (a rebalance) and the domain comes due again.
        slowest = max(gate.slowest, 1e-3)
        self.in_flight_ttl = in_flight_ttl or deadline + self.max_pending / slowest + 60.0
        self._semaphore = asyncio.Semaphore(concurrency)
        self._in_flight: dict[str, tuple[float, str]] = {}  # domain -> (started, check id)
        self._ids = (f"{uuid.uuid4().hex[:12]}-{n}" for n in itertools.count())
        # domain -> server, for the domains whose last check here failed on their own
        self.suspects: OrderedDict[str, str] = OrderedDict()
        self._unsent: dict[str, tuple[asyncio.Task, str, str]] = {}  # domain -> (task, check id, server)
        self._tasks: set[asyncio.Task] = set()
        self._freed = asyncio.Event()
        self._closed = False

    @property
    def providers(self) -> list[StatusProvider]:
        return [self.primary] + ([self.confirm] if self.confirm else [])

    def provider_for(self, confirming: bool, domain: str) -> StatusProvider:
        """A suspected lapse is confirmed by the second provider when there is one; a chain of
        providers (RDAP, then WHOIS) names the one that serves `domain`."""
        provider = self.confirm if confirming and self.confirm is not None else self.primary
        pick = getattr(provider, "pick", None)
        return pick(domain) if pick is not None else provider

    def busy(self, domain: str, now: float) -> bool:
        flight = self._in_flight.get(domain)
        # A result lost to a rebalance must not block the domain forever.
        return flight is not None and now - flight[0] < self.in_flight_ttl

    def done(self, domain: str, check_id: str | None) -> None:
        """The domain agent applied the result of check `check_id`: only that check's mark goes.

        A result from another check (a previous owner's, or one whose lease ran
        out) is evidence for the table but must not free a check still in flight.
        """
        flight = self._in_flight.get(domain)
        if flight is not None and flight[1] == check_id:
            del self._in_flight[domain]

    def drop(self, owns: Callable[[str], bool]) -> int:
        """Cancels the checks not yet sent for domains this worker no longer owns (a rebalance).

        The new owner asks instead; a request already on the wire is left to finish.
        """
        dropped = 0
        for domain, (task, check_id, server) in list(self._unsent.items()):
            if task.done():
                del self._unsent[domain]
            elif not owns(domain) and task.cancel():
                del self._unsent[domain]
                self.done(domain, check_id)
                self.breakers.release(server, domain)  # a probe that never went frees its place
                dropped += 1
        for domain in [domain for domain in self.suspects if not owns(domain)]:
            del self.suspects[domain]
        return dropped

    async def room_freed(self, timeout: float) -> None:
        """Returns when a check task ends (room for another), or after `timeout`."""
        self._freed.clear()
        try:
            await asyncio.wait_for(self._freed.wait(), timeout)
        except TimeoutError:
            pass

    def _finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        self._freed.set()

    def room(self) -> int:
        """How many more checks may start now: no unbounded queue of waiting tasks."""
        return max(0, self.max_pending - len(self._tasks))

    def suspect(self, domain: str, failing: bool = False) -> bool:
        """Failed on its own last time, here (remembered) or on any worker (`failing`, from the table)."""
        return failing or domain in self.suspects

    def dispatch(self, due: Iterable[tuple[str, bool, bool]], now: float) -> tuple[list[str], list[tuple[str, float]]]:
        """Start a check for each (domain, confirming, failing).

        Returns the started domains, and the deferred ones with the time worth
        trying again: the end of a Retry-After or of an open circuit's cooldown.
        """
        started: list[str] = []
        deferred: list[tuple[str, float]] = []
        for domain, confirming, failing in due:
            if self._closed:
                deferred.append((domain, now + 1.0))
                continue
            if self.busy(domain, now):
                deferred.append((domain, self._in_flight[domain][0] + self.in_flight_ttl))
                continue
            provider = self.provider_for(confirming, domain)
            server = f"{provider.name} {provider.route(domain)}"
            hold = self.gate.held_for(server)
            if hold > 0:
                deferred.append((domain, now + hold))  # the server asked us to wait (Retry-After)
                continue
            allowed, change = self.breakers.allow(server, now, domain)
            if change is not None:
                self._announce(provider.name, change)
            if not allowed:
                deferred.append((domain, self.breakers.reopens_at(server, now)))  # its circuit is open
                continue
            check_id = next(self._ids)
            self._in_flight[domain] = (now, check_id)
            task = asyncio.ensure_future(self._check(domain, provider, server, check_id, failing))
            self._tasks.add(task)
            self._unsent[domain] = (task, check_id, server)
            task.add_done_callback(self._finished)
            started.append(domain)
        return started, deferred

    async def check_once(
        self, domain: str, provider: StatusProvider | None = None, check_id: str | None = None
    ) -> CheckResult:
        """Ask `provider` once, within the deadline; a failure is a result with no verdict."""
        provider = provider or self.provider_for(False, domain)
        started = time.time()
        result = await self._ask(domain, provider, started)
        if check_id is not None:
            result = replace(result, check_id=check_id)
        metrics.check_seconds.labels(provider.name).observe(max(0.0, time.time() - started))
        metrics.checks.labels(provider.name, result.verdict or "failed").inc()
        if result.verdict is None:
            metrics.provider_errors.labels(provider.name).inc()
        else:
            self.last_verdict_at = time.time()
        return result

    async def _ask(self, domain: str, provider: StatusProvider, started: float) -> CheckResult:
        try:
            async with asyncio.timeout(self.deadline):
                verdict = await provider.check(domain)
        except ProviderError as exc:
            return CheckResult(
                domain,
                started,
                provider.name,
                None,
                detail=str(exc),
                retry_after=exc.retry_after,
                server_wide=exc.server_wide,
            )
        except TimeoutError:  # a server that trickles its answer must not hold a slot for ever
            return CheckResult(
                domain,
                started,
                provider.name,
                None,
                detail=f"{provider.name} gave no answer for {domain} within {self.deadline:g} s",
            )
        except Exception as exc:  # a provider bug is a failed check, never a verdict
            log.exception("provider %s raised for %s", provider.name, domain)
            return CheckResult(domain, started, provider.name, None, detail=f"{type(exc).__name__}")
        return CheckResult.from_verdict(domain, started, provider.name, verdict)

    async def _check(self, domain: str, provider: StatusProvider, server: str, check_id: str, failing: bool) -> None:
        # The rate wait comes before the concurrency slot: a held server must not idle the slots.
        await self.gate.enter(provider.name, server)
        now = time.time()
        if self.breakers.state(server) == "open":
            # The circuit opened while this check waited its turn: it is not sent, and not a failure.
            self._unsent.pop(domain, None)
            self.done(domain, check_id)
            if self.requeue is not None:
                self.requeue(domain, self.breakers.reopens_at(server, now))
            return
        async with self._semaphore:
            self._unsent.pop(domain, None)  # sent: a rebalance no longer takes it back
            result = await self.check_once(domain, provider, check_id)
        if result.verdict is None:
            log.warning("check of %s failed: %s", domain, result.detail)
            if result.retry_after:
                self.gate.hold(server, result.retry_after)
            suspect = self.suspect(domain, failing)
            change = self.breakers.failure(
                server,
                time.time(),
                result.detail or "failed",
                domain=domain,
                server_wide=result.server_wide,
                suspect=suspect,
                proven=not suspect and self.proven(domain),
            )
            if not result.server_wide:  # the server's trouble says nothing about the name
                self._remember(domain, server)
        else:
            change = self.breakers.success(server)
            self.suspects.pop(domain, None)
        if change is not None:
            self._announce(provider.name, change)
        await self.publish(result)

    def _remember(self, domain: str, server: str) -> None:
        self.suspects[domain] = server
        self.suspects.move_to_end(domain)
        if len(self.suspects) > SUSPECTS_KEPT:
            self.suspects.popitem(last=False)

    def failing_alone(self) -> dict[str, int]:
        """How many domains fail on their own, by server (for metrics)."""
        return dict(Counter(self.suspects.values()))

    def _announce(self, provider: str, change: CircuitChange) -> None:
        metrics.circuit_changes.labels(change.server, change.state).inc()
        if change.state == "open":
            log.error(
                "circuit OPEN for %s after %d failures of the server or of distinct domains (%s): no requests until %s",
                change.server,
                change.failures,
                change.reason,
                time.strftime("%H:%M:%S", time.gmtime(change.retry_at)),
            )
        else:
            log.warning("circuit %s for %s", change.state.upper().replace("_", "-"), change.server)
        if self.announce is not None:
            task = asyncio.ensure_future(self.announce(provider, change))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        # No check starts once the providers may be closing: its failure would count against the server.
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for provider in self.providers:
            await provider.aclose()


def start_due_checks(due: DueIndex, checker: Checker, now: float) -> int:
    """Start checks for due domains while there is room; returns how many started.

    Each started domain is leased (it comes due again if its result is lost to
    a rebalance); each deferred one goes back with a later time, so the loop
    moves on to the next: a server that asked us to wait never keeps the
    others from their turn.
    """
    count = 0
    while checker.room():
        taken = due.take_due(now, checker.room())
        if not taken:
            break
        started, deferred = checker.dispatch(
            ((domain, priority == CONFIRM, priority == RETRY) for domain, priority, _ in taken), now
        )
        entries = {domain: (priority, rank) for domain, priority, rank in taken}
        for domain in started:
            due.set(domain, now + checker.in_flight_ttl, entries[domain][0])
        for domain, until in deferred:
            priority, rank = entries[domain]
            due.set(domain, max(until, now + 1.0), priority, rank)  # in its own place among those put off
        count += len(started)
    return count
