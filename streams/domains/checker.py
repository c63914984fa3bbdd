"""Runs provider checks for due domains and feeds the results back as domain commands.

Checks never write the table themselves: a result goes through the domain
topic, so one agent applies every change to a domain, in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable, Iterable

from streams.domains.lifecycle import CheckResult
from streams.providers import ProviderError, StatusProvider

log = logging.getLogger("lapsewatch.checks")

Publish = Callable[[CheckResult], Awaitable[None]]


class Checker:
    def __init__(self, provider: StatusProvider, publish: Publish, *, concurrency: int, in_flight_ttl: float):
        self.provider = provider
        self.publish = publish
        self.in_flight_ttl = in_flight_ttl
        self._semaphore = asyncio.Semaphore(concurrency)
        self._in_flight: dict[str, float] = {}
        self._tasks: set[asyncio.Task] = set()

    def busy(self, domain: str, now: float) -> bool:
        started = self._in_flight.get(domain)
        # A result lost to a rebalance must not block the domain forever.
        return started is not None and now - started < self.in_flight_ttl

    def done(self, domain: str) -> None:
        """The domain agent applied a result for this domain."""
        self._in_flight.pop(domain, None)

    def dispatch(self, due: Iterable[tuple[str, float]], now: float) -> int:
        started = 0
        for domain, next_check_at in due:
            if next_check_at <= now and not self.busy(domain, now):
                self._in_flight[domain] = now
                task = asyncio.ensure_future(self._check(domain))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                started += 1
        return started

    async def check_once(self, domain: str) -> CheckResult:
        started = time.time()
        try:
            verdict = await self.provider.check(domain)
        except ProviderError as exc:
            return CheckResult(domain, started, self.provider.name, None, detail=str(exc))
        except Exception as exc:  # a provider bug is a failed check, never a verdict
            log.exception("provider %s raised for %s", self.provider.name, domain)
            return CheckResult(domain, started, self.provider.name, None, detail=f"{type(exc).__name__}")
        return CheckResult(domain, started, self.provider.name, verdict.verdict, verdict.flags, verdict.detail)

    async def _check(self, domain: str) -> None:
        async with self._semaphore:
            result = await self.check_once(domain)
        if result.verdict is None:
            log.warning("check of %s failed: %s", domain, result.detail)
        await self.publish(result)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.provider.aclose()
