"""Circuit breakers: one per provider server, so a server in trouble gets no requests for a while.

Pure state machines over a clock value passed in, so their arithmetic is
tested without waiting.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field


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
    since: float = 0.0  # when it first opened: reopening after a failed probe keeps it
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

    def open_for(self, now: float) -> dict[str, float]:
        """Seconds each circuit that is not closed has been so, across its probes (for metrics)."""
        return {s: max(0.0, now - c.since) for s, c in self._circuits.items() if c.state != "closed"}

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

    def failure(
        self,
        server: str,
        now: float,
        reason: str,
        *,
        domain: str,
        server_wide: bool = False,
        suspect: bool = False,
        proven: bool = True,
    ) -> CircuitChange | None:
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
        if circuit.state == "closed":
            circuit.since = now
        circuit.state, circuit.opened_at = "open", now
        circuit.cooldown = min(self.max_cooldown, self.cooldown * 2 ** (circuit.trips - 1))
        return CircuitChange(server, "open", len(circuit.evidence), reason, now + circuit.cooldown)
