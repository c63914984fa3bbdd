"""One small interface for domain status providers.

A provider answers `check(domain)` with a `Verdict` or raises `ProviderError`.
A failure is never a verdict: the caller retries later. Messages of both are
safe to log and publish (no keys, no headers).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("lapsewatch.providers")

VERDICTS = ("active", "lapsed", "inconclusive")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one provider said about one registrable domain, with its evidence."""

    verdict: str  # one of VERDICTS; re-registration is judged per member from `registered_at`
    flags: tuple[str, ...]  # the raw status values as the provider gave them
    detail: str | None = None  # why: the flags or facts that decided it
    registered_at: float | None = None  # epoch seconds of the current registration, when known
    expires_at: float | None = None  # epoch seconds the registration expires, when known
    grace: bool = False  # in a grace period after expiry: worth a daily look
    nameservers: tuple[str, ...] = ()
    # False for a provider that sees delegation, not the registration (DNS): its answer
    # leaves the registry's dates and grace as they were.
    lifecycle: bool = True


class ProviderError(Exception):
    """The provider gave no usable answer this time (timeout, 5xx, 429, bad body...).

    `retry_after` (seconds) is the server's own Retry-After, when it sent one.
    `server_wide`: the failure is the server's, whatever the name (no connection,
    429 or 503), not one name's (a 500, a timeout or a bad body for this name).
    """

    def __init__(self, message: str, *, retry_after: float | None = None, server_wide: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.server_wide = server_wide


# Statuses a server sends about itself, whatever the name asked: too many requests, unavailable.
SERVER_WIDE_STATUSES = frozenset({429, 503})


class StatusProvider(Protocol):
    name: str

    def route(self, domain: str) -> str:
        """The server a check of `domain` goes to: the key of its rate limit and circuit breaker."""
        ...

    async def check(self, domain: str) -> Verdict: ...

    async def aclose(self) -> None: ...


_reported: set[tuple[str, str]] = set()


def report_unknown(provider: str, values: Iterable[str]) -> None:
    """Log each status value a provider's documentation does not name, once per process."""
    for value in values:
        if (provider, value) not in _reported:
            _reported.add((provider, value))
            log.warning(
                "%s sent the status %r, which the policy does not know: treated as inconclusive", provider, value
            )
