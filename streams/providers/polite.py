"""Talking to providers politely: token buckets, Retry-After holds, circuit breakers.

The bucket and breaker are pure state machines over a clock value passed in,
so their arithmetic is tested without waiting; `Gate` is the thin async part.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field


# Bursts of a tenth of a second's worth: requests go out nearly evenly spaced, so
# a rate holds over any window a provider may count in, not just on average.
BURST_SECONDS = 0.1


class TokenBucket:
    """`rate` requests per second on average, bursts of up to `burst`.

    `take` reserves a token and returns how long to wait for it; tokens may go
    negative, so concurrent callers queue in order instead of polling.
    """

    def __init__(self, rate: float, burst: float):
        self.rate = rate
        self.burst = max(1.0, burst)
        self.tokens = self.burst
        self.updated: float | None = None

    def take(self, now: float) -> float:
        if self.updated is not None and now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now if self.updated is None else max(self.updated, now)
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


@dataclass(frozen=True, slots=True)
class CircuitChange:
    """A breaker changed state: logged, and published on domains.status."""

    server: str
    state: str  # "open" | "half_open" | "closed"
    failures: int
    reason: str | None
    retry_at: float | None


@dataclass(slots=True)
class _Circuit:
    state: str = "closed"
    # Evidence of server trouble since the last success: a key per failing domain, so one name
    # counts once, and a fresh key per server-wide failure, so each of those counts.
    evidence: dict[str, float] = field(default_factory=dict)
    trips: int = 0
    opened_at: float = 0.0
    cooldown: float = 0.0
    probe: str | None = None  # the domain whose check is the half-open probe


class Breakers:
    """One circuit per server, opened by trouble of the server, never of one name.

    Evidence is a failure that says something about the server: a server-wide one
    (no connection, 429, 503), or any failure of a domain that is not a suspect
    (a suspect failed on its own last time, so failing again says nothing new).
    `threshold` pieces of evidence within `window` seconds, with no success between,
    open the circuit for a cooldown that doubles with each trip up to
    `max_cooldown`. Then one probe at a time: a success closes the circuit; a
    server-wide failure, or the failure of a proven domain (one that answered
    before and did not fail since), reopens it; any other failure only frees the
    probe for the next domain, so no bad name, known or new, can hold a circuit open.
    """

    def __init__(self, threshold: int, cooldown: float, max_cooldown: float, window: float = 120.0):
        self.threshold = threshold
        self.cooldown = cooldown
        self.max_cooldown = max(cooldown, max_cooldown)
        self.window = window
        self._circuits: dict[str, _Circuit] = {}
        self._server_wide = itertools.count()

    def state(self, server: str) -> str:
        circuit = self._circuits.get(server)
        return circuit.state if circuit else "closed"

    def reopens_at(self, server: str, now: float) -> float:
        """When a request refused now might be allowed: the end of the cooldown, or soon for a probe's result."""
        circuit = self._circuits.get(server)
        if circuit is None or circuit.state == "closed":
            return now
        if circuit.state == "open" and now < circuit.opened_at + circuit.cooldown:
            return circuit.opened_at + circuit.cooldown
        return now + 1.0

    def open_servers(self) -> list[str]:
        return sorted(s for s, c in self._circuits.items() if c.state != "closed")

    def allow(self, server: str, now: float, domain: str) -> tuple[bool, CircuitChange | None]:
        """May a check of `domain` go to `server` now? Half-opens an open circuit whose cooldown ran out."""
        circuit = self._circuits.get(server)
        if circuit is None or circuit.state == "closed":
            return True, None
        change = None
        if circuit.state == "open":
            if now < circuit.opened_at + circuit.cooldown:
                return False, None
            circuit.state = "half_open"
            change = CircuitChange(server, "half_open", len(circuit.evidence), None, None)
        if circuit.probe is not None:
            return False, change  # one probe at a time
        circuit.probe = domain
        return True, change

    def release(self, server: str, domain: str) -> None:
        """The check of `domain` was never sent: if it was the probe, the next domain may probe."""
        circuit = self._circuits.get(server)
        if circuit is not None and circuit.probe == domain:
            circuit.probe = None

    def success(self, server: str) -> CircuitChange | None:
        circuit = self._circuits.pop(server, None)
        if circuit is None or circuit.state == "closed":
            return None
        return CircuitChange(server, "closed", 0, None, None)

    def failure(self, server: str, now: float, reason: str, *, domain: str, server_wide: bool = False,
                suspect: bool = False, proven: bool = True) -> CircuitChange | None:
        circuit = self._circuits.setdefault(server, _Circuit())
        evidence = server_wide or not suspect
        if circuit.state == "half_open":
            if domain != circuit.probe:
                return None  # sent before the circuit opened: the probe decides
            circuit.probe = None
            # A name never seen to answer may be bad on its own: its failure cannot keep the circuit open.
            return self._trip(circuit, server, now, reason) if server_wide or (not suspect and proven) else None
        if not evidence:
            return None
        circuit.evidence[f"server-wide {next(self._server_wide)}" if server_wide else domain] = now
        for key in [key for key, at in circuit.evidence.items() if at < now - self.window]:
            del circuit.evidence[key]
        if circuit.state == "closed" and len(circuit.evidence) >= self.threshold:
            return self._trip(circuit, server, now, reason)
        return None

    def _trip(self, circuit: _Circuit, server: str, now: float, reason: str) -> CircuitChange:
        circuit.trips += 1
        circuit.state, circuit.opened_at = "open", now
        circuit.cooldown = min(self.max_cooldown, self.cooldown * 2 ** (circuit.trips - 1))
        return CircuitChange(server, "open", len(circuit.evidence), reason, now + circuit.cooldown)


class Gate:
    """Waits for a provider-wide token, a per-server token and any Retry-After hold.

    `server_rates` gives some providers' servers their own rate (WHOIS servers
    want far fewer queries than RDAP ones); the others get `server_rate`.
    """

    def __init__(self, provider_rate: float, server_rate: float, server_rates: dict[str, float] | None = None):
        self.provider_rate = provider_rate
        self.server_rate = server_rate
        self.server_rates = dict(server_rates or {})
        self._buckets: dict[str, TokenBucket] = {}
        self._held_until: dict[str, float] = {}

    @property
    def slowest(self) -> float:
        """The lowest rate any request may have to wait for."""
        return min(self.provider_rate, self.server_rate, *self.server_rates.values())

    def _bucket(self, key: str, rate: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(rate, rate * BURST_SECONDS)
        return bucket

    def hold(self, server: str, seconds: float) -> None:
        """The server asked us to wait (Retry-After): nothing goes there before then."""
        until = time.monotonic() + seconds
        self._held_until[server] = max(until, self._held_until.get(server, 0.0))

    def held(self, server: str) -> bool:
        return self.held_for(server) > 0

    def held_for(self, server: str) -> float:
        """Seconds until the server's Retry-After runs out (0 when it asked for nothing)."""
        return max(0.0, self._held_until.get(server, 0.0) - time.monotonic())

    async def enter(self, provider: str, server: str) -> None:
        """Returns when a request may go: the hold is over and both rates have a token for it.

        Tokens are taken only after a hold: callers that waited it out then
        leave at the server's rate, not all at once when it ends.
        """
        while True:
            hold = self.held_for(server)
            if hold > 0:
                await asyncio.sleep(hold)
                continue
            now = time.monotonic()
            wait = max(self._bucket("provider " + provider, self.provider_rate).take(now),
                       self._bucket("server " + server, self.server_rates.get(provider, self.server_rate)).take(now))
            if wait > 0:
                await asyncio.sleep(wait)
            if not self.held(server):  # a hold that began while we waited for the token wins
                return
