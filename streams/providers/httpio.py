"""What the HTTP providers share: headers, reading a bounded body, and the server's Retry-After."""

from __future__ import annotations

import itertools
import math
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from streams.providers.base import ProviderError

# Identity encoding: a compressed answer could expand far past the body cap in one chunk.
HEADERS = {"User-Agent": "lapsewatch", "Accept-Encoding": "identity"}
# However long a server asks us to wait, we look again within a day (and the policy's retry cap).
MAX_RETRY_AFTER = 86400.0
_SECONDS = re.compile(r"[0-9]+")
# httpx's connection pool slows down as requests in flight pass a few dozen (BENCHMARKS.md,
# Checks): several small pools keep each one fast.
REQUESTS_PER_CLIENT = 16


class Clients:
    """A few httpx clients with the same options, taken in turn; together `max_connections` wide."""

    def __init__(self, max_connections: int, transport: httpx.AsyncBaseTransport | None = None, **options):
        # A transport given by a caller is one object: it backs a single client.
        count = 1 if transport is not None else max(1, math.ceil(max_connections / REQUESTS_PER_CLIENT))
        limits = httpx.Limits(max_connections=max(1, math.ceil(max_connections / count)))
        self._clients = [httpx.AsyncClient(limits=limits, transport=transport, **options) for _ in range(count)]
        self._turn = itertools.cycle(self._clients)

    def __len__(self) -> int:
        return len(self._clients)

    def next(self) -> httpx.AsyncClient:
        return next(self._turn)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()


def unreachable(exc: httpx.HTTPError) -> bool:
    """No connection to the server at all: its trouble, whatever the name asked about."""
    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))


async def read_capped(response: httpx.Response, limit: int, what: str) -> bytes:
    """The body, refused as soon as it passes `limit` bytes: a huge answer costs no memory."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            raise ProviderError(f"{what} is larger than {limit} bytes")
    return bytes(body)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asked us to wait (RFC 9110 §10.2.3: delay-seconds or an HTTP date), at most a day.

    Anything else ("inf", "1e400", "-5", "soon") is ignored, as the RFC says.
    """
    value = response.headers.get("Retry-After")
    return None if value is None else parse_retry_after(value, datetime.now(UTC).timestamp())


def parse_retry_after(value: str, now: float) -> float | None:
    value = value.strip()
    if _SECONDS.fullmatch(value):
        return min(float(value), MAX_RETRY_AFTER)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return min(max(0.0, moment.timestamp() - now), MAX_RETRY_AFTER)
