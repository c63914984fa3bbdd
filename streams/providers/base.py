"""One small interface for domain status providers.

A provider answers `check(domain)` with a `Verdict` or raises `ProviderError`.
A failure is never a verdict: the caller retries later. Messages of both are
safe to log and publish (no keys, no headers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Verdict:
    verdict: str  # "active" | "lapsed" | "inconclusive"
    flags: tuple[str, ...]
    detail: str | None = None


class ProviderError(Exception):
    """The provider gave no usable answer this time (timeout, 5xx, 429, bad body...)."""


class StatusProvider(Protocol):
    name: str

    async def check(self, domain: str) -> Verdict: ...

    async def aclose(self) -> None: ...
