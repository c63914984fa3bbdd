"""Decoding inbound records, and rejecting those that cannot be processed. Pure.

Every rejection has a stable `reason` (for metrics, the dead-letter topic and
replay tooling) and a message for people.
"""

from __future__ import annotations

from functools import lru_cache

import orjson

from streams.core.jsontypes import JsonObject
from streams.core.times import iso_utc, parse_iso


class Rejected(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def parse_timestamp(text: str | None, field_name: str) -> str | None:
    """RFC 3339 / ISO 8601 → canonical UTC `YYYY-MM-DDTHH:MM:SSZ`; naive times are UTC."""
    if text is None:
        return None
    try:
        return _canonical_time(text)
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 shifted out of range by its offset
        raise Rejected("invalid_timestamp", f"{field_name}: {text!r} is not an ISO 8601 timestamp") from None


@lru_cache(maxsize=1 << 14)
def _canonical_time(text: str) -> str:
    """Times repeat across events (a busy second, a shared verification time); errors are not remembered."""
    return iso_utc(parse_iso(text.strip()))


def decode_payload(value: bytes | None, max_bytes: int) -> JsonObject:
    """JSON object from the record value; a CloudEvents envelope yields its `data`."""
    if value is None:
        raise Rejected("invalid_json", "the record has no value (a tombstone)")
    if len(value) > max_bytes:
        raise Rejected("value_too_large", f"the value is {len(value)} bytes; the limit is {max_bytes}")
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise Rejected("invalid_json", f"the value is not UTF-8 JSON: {exc}") from None
    if not isinstance(document, dict):
        raise Rejected("invalid_event", f"expected a JSON object, got {type(document).__name__}")
    if "specversion" not in document:
        return document
    if document.get("specversion") != "1.0":
        raise Rejected("invalid_event", f"unsupported CloudEvents specversion {document.get('specversion')!r}")
    content_type = document.get("datacontenttype")
    if content_type is not None and not str(content_type).startswith("application/json"):
        raise Rejected("invalid_event", f"CloudEvents datacontenttype {content_type!r} is not application/json")
    data = document.get("data")
    if not isinstance(data, dict):
        raise Rejected("invalid_event", "the CloudEvents envelope has no JSON object in `data`")
    if "event_id" not in data and isinstance(document.get("id"), str):
        data = {**data, "event_id": document["id"]}
    return data
