"""What the HTTP providers share: reading a bounded body, and the server's Retry-After."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import httpx

from streams.providers.base import ProviderError


async def read_capped(response: httpx.Response, limit: int, what: str) -> bytes:
    """The body, refused as soon as it passes `limit` bytes: a huge answer costs no memory."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            raise ProviderError(f"{what} is larger than {limit} bytes")
    return bytes(body)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asked us to wait (RFC 9110 §10.2.3: seconds or an HTTP date)."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, moment.timestamp() - datetime.now(timezone.utc).timestamp())
