"""Signed control commands, the pure parts: canonical bytes, signing, verifying, freshness, the key setting."""

from __future__ import annotations

import hashlib
import hmac

import orjson
import pytest

from streams.core.control_auth import (
    ControlKeys,
    Unauthenticated,
    canonical_bytes,
    check_fresh,
    parse_keys,
    signature,
)
from streams.core.inbound import Rejected
from streams.domains.controls import parse_control
from streams.settings import SettingsError, load_settings

SECRET = b"k" * 40
OTHER = b"o" * 40
KEYS = ControlKeys((SECRET,))
NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def command(**changes: object) -> dict:
    value = {
        "command": "allow",
        "domain": "example.com",
        "requested_by": "oncall",
        "reason": "our own domain",
        "requested_at": "2027-01-15T07:59:00Z",
        "command_id": "c-1",
    }
    return {**value, **changes}


def parse(key: bytes | None, value: dict | bytes, *, keys: ControlKeys = KEYS, now: float = NOW):
    raw = value if isinstance(value, bytes) else orjson.dumps(value)
    return parse_control(key, raw, max_bytes=65536, keys=keys, max_age=3600, now=now)


def reason_of(key: bytes | None, value: dict | bytes, **options) -> tuple[str, str]:
    with pytest.raises(Rejected) as caught:
        parse(key, value, **options)
    return caught.value.reason, caught.value.message


# --- canonical bytes --------------------------------------------------------------------------------


def test_canonical_bytes_are_the_context_line_then_sorted_compact_json_of_key_and_value():
    value = {"domain": "exämple.com", "command": "allow", "reason": None, "signature": "ignored"}
    assert canonical_bytes(b"example.com", value) == (
        b"lapsewatch.control.v1\n"
        + '{"key":"example.com","value":{"command":"allow","domain":"exämple.com","reason":null}}'.encode()
    )
    assert canonical_bytes(None, {}) == b'lapsewatch.control.v1\n{"key":null,"value":{}}'


def test_field_order_and_spacing_on_the_wire_do_not_change_the_signature():
    value = command()
    spaced = b'{ "command_id" : "c-1", ' + orjson.dumps(dict(reversed(list(value.items()))))[1:]
    assert orjson.loads(spaced) == value
    assert signature(SECRET, b"example.com", orjson.loads(spaced)) == signature(SECRET, b"example.com", value)


def test_the_signature_is_hmac_sha256_of_the_canonical_bytes_in_lowercase_hex():
    value = command()
    expected = hmac.new(SECRET, canonical_bytes(b"example.com", value), hashlib.sha256).hexdigest()
    assert signature(SECRET, b"example.com", value) == "hmac-sha256:" + expected
    # The field itself is not signed, so signing a signed command gives the same signature.
    signed = KEYS.sign(b"example.com", value)
    assert KEYS.sign(b"example.com", signed) == signed


def test_numbers_with_fractions_and_keys_that_are_not_utf8_cannot_be_signed():
    with pytest.raises(Unauthenticated, match="fractional"):
        canonical_bytes(b"example.com", command(extra={"weight": 1.5}))
    with pytest.raises(Unauthenticated, match="not UTF-8"):
        canonical_bytes(b"\xffexample.com", command())
    canonical_bytes(b"example.com", command(extra=[1, True, None]))  # whole numbers are fine


# --- verifying --------------------------------------------------------------------------------------


def test_a_signed_command_is_applied():
    parsed = parse(b"example.com", KEYS.sign(b"example.com", command()))
    assert (parsed.domain, parsed.action, parsed.command_id) == ("example.com", "allow", "c-1")


def test_a_signed_command_without_a_record_key_is_applied():
    assert parse(None, KEYS.sign(None, command())).domain == "example.com"


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        (b"example.com", command(), "unsigned"),
        (b"example.com", command(signature="sha1:abc"), "is not hmac-sha256"),
        (b"example.com", command(signature=7), "is not hmac-sha256"),
        (b"example.com", command(signature="hmac-sha256:" + "A" * 64), "is not hmac-sha256"),
        # Signed with another key.
        (b"example.com", ControlKeys((OTHER,)).sign(b"example.com", command()), "does not match"),
        # Moved to another domain: the value's domain, the record key, or both.
        (b"example.com", KEYS.sign(b"example.com", command()) | {"domain": "victim.com"}, "does not match"),
        (b"victim.com", KEYS.sign(b"example.com", command(domain="victim.com")), "does not match"),
        # Another action, or another time, under the same signature.
        (b"example.com", KEYS.sign(b"example.com", command(command="unallow")) | {"command": "allow"}, "match"),
        (b"example.com", KEYS.sign(b"example.com", command()) | {"requested_at": "2027-01-15T07:59:30Z"}, "match"),
        # A field added after signing.
        (b"example.com", KEYS.sign(b"example.com", command()) | {"note": "x"}, "does not match"),
    ],
)
def test_unsigned_badly_signed_and_altered_commands_are_unauthenticated(key, value, says):
    reason, message = reason_of(key, value)
    assert reason == "unauthenticated" and says in message
    assert SECRET.decode() not in message and OTHER.decode() not in message


def test_authentication_comes_before_every_other_check():
    # From someone without the key, what else is wrong does not matter.
    assert reason_of(b"other.com", command(command="destroy"))[0] == "unauthenticated"
    # Only what cannot be read at all is said first.
    assert reason_of(b"example.com", b"{not json")[0] == "invalid_json"


def test_with_the_key_a_schema_violation_of_a_signed_command_is_still_an_invalid_event():
    value = KEYS.sign(b"example.com", command(command="destroy"))
    assert reason_of(b"example.com", value)[0] == "invalid_event"


def test_any_of_several_keys_verifies_and_the_first_signs():
    rolling = ControlKeys((OTHER, SECRET))
    assert parse(b"example.com", KEYS.sign(b"example.com", command()), keys=rolling).domain == "example.com"
    assert rolling.sign(b"example.com", command()) == ControlKeys((OTHER,)).sign(b"example.com", command())


def test_without_keys_signatures_are_not_looked_at():
    unsigned = parse_control(b"example.com", orjson.dumps(command()), max_bytes=65536)
    wrong = parse_control(b"example.com", orjson.dumps(ControlKeys((OTHER,)).sign(b"x", command())), max_bytes=65536)
    assert unsigned == wrong
    with pytest.raises(ValueError):
        ControlKeys().sign(b"example.com", command())


def test_checking_signatures_needs_the_time():
    with pytest.raises(TypeError):
        parse_control(b"example.com", orjson.dumps(command()), max_bytes=65536, keys=KEYS)


# --- freshness ----------------------------------------------------------------------------------------


def test_a_stale_or_future_dated_signed_command_is_unauthenticated():
    old = KEYS.sign(b"example.com", command(requested_at="2027-01-15T06:59:59Z"))
    reason, message = reason_of(b"example.com", old)
    assert reason == "unauthenticated" and message.startswith("stale: requested 3601 s ago")
    ahead = KEYS.sign(b"example.com", command(requested_at="2027-01-15T08:05:01Z"))
    reason, message = reason_of(b"example.com", ahead)
    assert reason == "unauthenticated" and "ahead of this worker's clock" in message
    # Within the window, and within the allowed clock skew.
    parse(b"example.com", KEYS.sign(b"example.com", command(requested_at="2027-01-15T07:00:00Z")))
    parse(b"example.com", KEYS.sign(b"example.com", command(requested_at="2027-01-15T08:04:59Z")))


def test_check_fresh_bounds():
    check_fresh(NOW - 60, NOW, 60)
    with pytest.raises(Unauthenticated):
        check_fresh(NOW - 60.5, NOW, 60)


# --- the key setting ----------------------------------------------------------------------------------


def test_the_key_file_holds_one_key_a_line_blank_lines_ignored(tmp_path):
    path = tmp_path / "control-key"
    path.write_text(f"\n{SECRET.decode()}\n\n{OTHER.decode()}\n")
    settings = load_settings({"LAPSEWATCH_CONTROL_KEY_FILE": str(path)})
    assert settings.control_keys == ControlKeys((SECRET, OTHER)) and settings.control_max_age == 3600
    assert SECRET.decode() not in repr(settings) and SECRET.decode() not in repr(settings.control_keys)
    assert not load_settings({}).control_keys


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("short", "line 1 is not a key"),
        (f"{SECRET.decode()}\nhas a space in it but is long enough to pass", "line 2 is not a key"),
        ("\n  \n", "the file is empty"),
    ],
)
def test_a_bad_key_file_stops_the_start_naming_the_variable_not_the_key(tmp_path, text, says):
    path = tmp_path / "control-key"
    path.write_text(text)
    with pytest.raises(SettingsError) as caught:
        load_settings({"LAPSEWATCH_CONTROL_KEY_FILE": str(path)})
    message = str(caught.value)
    assert message.startswith("LAPSEWATCH_CONTROL_KEY_FILE: ") and says in message
    assert SECRET.decode() not in message and "short" not in message


def test_a_missing_key_file_or_both_forms_stop_the_start(tmp_path):
    with pytest.raises(SettingsError, match=r"^LAPSEWATCH_CONTROL_KEY_FILE: the file it names does not exist"):
        load_settings({"LAPSEWATCH_CONTROL_KEY_FILE": str(tmp_path / "absent")})
    path = tmp_path / "control-key"
    path.write_text(SECRET.decode())
    with pytest.raises(SettingsError, match=r"^LAPSEWATCH_CONTROL_KEY: set either"):
        load_settings({"LAPSEWATCH_CONTROL_KEY_FILE": str(path), "LAPSEWATCH_CONTROL_KEY": OTHER.decode()})
    with pytest.raises(SettingsError, match=r"^LAPSEWATCH_CONTROL_KEY: line 1 is not a key"):
        load_settings({"LAPSEWATCH_CONTROL_KEY": "too short"})
    with pytest.raises(SettingsError, match=r"^LAPSEWATCH_CONTROL_MAX_AGE: "):
        load_settings({"LAPSEWATCH_CONTROL_MAX_AGE": "soon"})


def test_parse_keys_refuses_an_empty_text():
    with pytest.raises(ValueError, match="no key"):
        parse_keys("\n\n")
