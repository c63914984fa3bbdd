"""Talking to providers politely: token buckets and Retry-After holds (circuit breakers: breakers.py).

The bucket is a pure state machine over a clock value passed in, so its
arithmetic is tested without waiting; `Gate` is the thin async part.
"""

from __future__ import annotations

import asyncio
import time

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
            wait = max(
                self._bucket("provider " + provider, self.provider_rate).take(now),
                self._bucket("server " + server, self.server_rates.get(provider, self.server_rate)).take(now),
            )
            if wait > 0:
                await asyncio.sleep(wait)
            if not self.held(server):  # a hold that began while we waited for the token wins
                return
