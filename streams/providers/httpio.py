"""What the HTTP providers share: headers, reading a bounded body, and the server's Retry-After."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import httpx

from streams.providers.base import ProviderError

# Identity encoding: a compressed answer could expand far past the body cap in one chunk.
HEADERS = {"User-Agent": "lapsewatch", "Accept-Encoding": "identity"}
# However long a server asks us to wait, we look again within a day (and the policy's retry cap).
MAX_RETRY_AFTER = 86400.0
_SECONDS = re.compile(r"[0-9]+")


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
    return None if value is None else parse_retry_after(value, datetime.now(timezone.utc).timestamp())


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
        moment = moment.replace(tzinfo=timezone.utc)
    return min(max(0.0, moment.timestamp() - now), MAX_RETRY_AFTER)
