"""Dead-letter records: what failed, why, where it came from, and its bytes. Pure: streams/deadletters.py sends them."""

from __future__ import annotations

import base64
import hashlib
import time

from streams.core.times import iso_utc

KEEP_VALUE_BYTES = 64 * 1024  # a prefix keeps the record under any broker's message limit


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def dead_letter_record(
    *,
    reason: str,
    error: str,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
    key: bytes | None,
    value: bytes | None,
    now: float | None = None,
) -> dict:
    size = len(value) if value is not None else 0
    truncated = size > KEEP_VALUE_BYTES
    kept = value[:KEEP_VALUE_BYTES] if value is not None else None  # all of it unless truncated
    return {
        "reason": reason,
        "error": error,
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "source_timestamp_ms": timestamp_ms,
        "key_b64": _b64(key[:KEEP_VALUE_BYTES] if key is not None else None),
        "value_b64": _b64(kept),
        "value_size": size,
        "value_sha256": hashlib.sha256(value).hexdigest() if value is not None else None,
        "value_truncated": truncated,
        "failed_at": iso_utc(time.time() if now is None else now),
    }
