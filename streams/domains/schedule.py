"""When to check a domain next. Pure arithmetic on epoch seconds."""

from __future__ import annotations

import hashlib


def _unit(seed: str) -> float:
    """A stable number in [0, 1) from a string: the same domain spreads the same way on every replay."""
    digest = hashlib.blake2b(seed.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def recheck_at(domain: str, now: float, interval: float, jitter: float) -> float:
    """Next routine check: within (1 - jitter) × interval and interval from now, never later."""
    return now + interval * (1.0 - jitter * _unit(f"{domain}|{int(now)}"))


def backoff_at(now: float, attempt: int, first: float, cap: float) -> float:
    """Exponential backoff: `first` after the first failure, doubling, at most `cap`."""
    exponent = min(max(attempt, 1) - 1, 60)
    return now + min(cap, first * (2.0**exponent))


DAY = 86400.0


def spread_at(domain: str, now: float, interval: float, jitter: float) -> float:
    """The first recheck of a new domain: anywhere from the jitter window's width to a whole interval away.

    Domains imported together are first checked together; this spreads their
    next checks over the interval, and later rechecks keep that spread.
    """
    low = jitter * interval
    return now + low + (interval - low) * _unit(f"{domain}|first")


def routine_at(
    domain: str,
    now: float,
    interval: float,
    jitter: float,
    *,
    expires_at: float | None = None,
    grace: bool = False,
    first: bool = False,
) -> float:
    """The next routine check, pulled earlier by what the registry said about expiry.

    A known expiry brings the check to a day after it, so a lapse is seen within
    a day of happening; a domain in its grace period is looked at daily.
    """
    at = spread_at(domain, now, interval, jitter) if first else recheck_at(domain, now, interval, jitter)
    if grace:
        at = min(at, now + DAY)
    if expires_at is not None and expires_at + DAY > now:
        at = min(at, expires_at + DAY)
    return at
