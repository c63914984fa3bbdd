"""Dead-letter records: reason, source, bytes, truncation; valid against the published schema. Pure."""

from __future__ import annotations

import base64
import hashlib

import pytest

from schemas import first_error, load_schema, validator
from streams.core.dead_letters import KEEP_VALUE_BYTES, dead_letter_record

NOW = 1_000_000_000.0  # 2001-09-09T01:46:40Z


def record(**changes) -> dict:
    arguments = {
        "reason": "invalid_address",
        "error": "email: the domain has no top-level domain",
        "topic": "accounts.email-events",
        "partition": 3,
        "offset": 1812,
        "timestamp_ms": 1_795_372_763_148,
        "key": b"42",
        "value": b'{"email": "x@localhost"}',
        "now": NOW,
    }
    arguments.update(changes)
    return dead_letter_record(**arguments)


def test_the_record_says_why_and_where_from():
    value = b'{"email": "x@localhost"}'
    assert record() == {
        "reason": "invalid_address",
        "error": "email: the domain has no top-level domain",
        "source_topic": "accounts.email-events",
        "source_partition": 3,
        "source_offset": 1812,
        "source_timestamp_ms": 1_795_372_763_148,
        "key_b64": "NDI=",
        "value_b64": base64.b64encode(value).decode(),
        "value_size": len(value),
        "value_sha256": hashlib.sha256(value).hexdigest(),
        "value_truncated": False,
        "failed_at": "2001-09-09T01:46:40Z",
    }


def test_arbitrary_bytes_survive_base64():
    key, value = b"\x00\xffkey", bytes(range(256))
    result = record(key=key, value=value)
    assert base64.b64decode(result["key_b64"]) == key
    assert base64.b64decode(result["value_b64"]) == value


def test_a_tombstone_and_a_missing_key_are_null():
    result = record(key=None, value=None, timestamp_ms=None)
    assert (
        result["key_b64"],
        result["value_b64"],
        result["value_size"],
        result["value_sha256"],
        result["value_truncated"],
        result["source_timestamp_ms"],
    ) == (None, None, 0, None, False, None)


def test_a_value_at_the_limit_is_kept_whole():
    value = b"v" * KEEP_VALUE_BYTES
    result = record(value=value)
    assert result["value_truncated"] is False
    assert base64.b64decode(result["value_b64"]) == value


def test_a_big_value_keeps_a_prefix_with_the_size_and_hash_of_the_whole():
    value = bytes(index % 251 for index in range(3 * KEEP_VALUE_BYTES + 7))
    result = record(value=value)
    assert result["value_truncated"] is True
    assert base64.b64decode(result["value_b64"]) == value[:KEEP_VALUE_BYTES]
    assert result["value_size"] == len(value)
    assert result["value_sha256"] == hashlib.sha256(value).hexdigest()
    assert result["value_sha256"] != hashlib.sha256(value[:KEEP_VALUE_BYTES]).hexdigest()


def test_a_huge_key_is_cut_to_the_limit():
    key = b"k" * (KEEP_VALUE_BYTES + 100)
    assert len(base64.b64decode(record(key=key)["key_b64"])) == KEEP_VALUE_BYTES


def test_failed_at_defaults_to_the_current_time():
    assert record(now=None)["failed_at"] != record()["failed_at"]
    assert record(now=None)["failed_at"].endswith("Z")


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"key": None, "value": None, "timestamp_ms": None},
        {"value": b"x" * (KEEP_VALUE_BYTES + 1), "reason": "value_too_large"},
        {"reason": "processing_error", "error": "KeyError: 'x'", "partition": 0, "offset": 0},
    ],
)
def test_records_are_valid_against_the_dead_letter_schema(changes):
    document = record(**changes)
    validator("dead-letter").validate(document)
    assert first_error("dead-letter", document) is None


def test_the_schema_requires_every_field_the_record_always_has():
    schema = load_schema("dead-letter")
    assert set(schema["required"]) <= set(record())
    assert set(record()) <= set(schema["properties"])


@pytest.mark.parametrize(
    ("field", "bad"), [("reason", None), ("source_offset", "1812"), ("value_truncated", "no"), ("key_b64", 42)]
)
def test_the_schema_catches_a_malformed_record(field, bad):
    document = {**record(), field: bad}
    assert first_error("dead-letter", document) is not None
    document = record()
    del document[field]
    assert first_error("dead-letter", document) is not None
