"""Signed control commands: what a signature covers, making one, checking one. Pure (no I/O, no clock).

Anyone who can produce to the control topic could `allow` a domain and so switch protection off for every
account on it. With a shared key (LAPSEWATCH_CONTROL_KEY_FILE) the CLI signs each command and the worker
applies only those it can verify.

What is signed, `canonical_bytes`: the ASCII line `lapsewatch.control.v1` and a newline, then the
JSON text of `{"key": <record key as a string, or null>, "value": <the command object without its
`signature` field>}` with keys sorted, no whitespace and non-ASCII characters written as UTF-8
(the text RFC 8785 gives too, for ASCII field names and string, null, boolean or integer values; a
command holding a fractional number is refused).
The command's domain, action, `requested_at` and `command_id` are all inside, so a signature cannot be
moved to another domain, another action or another time. It is computed over the command as parsed, so
the order and spacing of the fields on the wire do not matter.

The signature travels in the value, `"signature": "hmac-sha256:<64 lowercase hex digits>"`: dead letters
and replays keep the value and key but not the headers, and the audit of a dead-lettered command needs it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from typing import Any

from streams.core.jsontypes import JsonObject

SIGNATURE_FIELD = "signature"
SCHEME = "hmac-sha256"
CONTEXT = b"lapsewatch.control.v1\n"  # keeps these MACs apart from any other use of the same key
MIN_KEY_CHARS = 32
# How far ahead of the worker's clock a command's requested_at may be: clocks differ a little.
CLOCK_SKEW = 300.0

_SIGNATURE = re.compile(rf"{SCHEME}:([0-9a-f]{{64}})")
_KEY = re.compile(rf"[\x21-\x7e]{{{MIN_KEY_CHARS},}}")


class Unauthenticated(ValueError):
    """The command is unsigned, badly signed or stale; the message never holds a key."""


@dataclass(frozen=True)
class ControlKeys:
    """The shared keys: the first signs, any verifies (so a new key can be rolled out before the old goes).

    Empty: commands are neither signed nor checked. The keys never appear in a repr.
    """

    keys: tuple[bytes, ...] = field(default=(), repr=False)

    def __bool__(self) -> bool:
        return bool(self.keys)

    def sign(self, key: bytes | None, value: JsonObject) -> JsonObject:
        """`value` with its `signature` field, for the record key `key`."""
        if not self.keys:
            raise ValueError("no control key to sign with")
        return {**value, SIGNATURE_FIELD: signature(self.keys[0], key, value)}

    def verify(self, key: bytes | None, value: JsonObject) -> None:
        """Returns when one of the keys signed this key and value; Unauthenticated otherwise."""
        given = value.get(SIGNATURE_FIELD)
        if given is None:
            raise Unauthenticated(f"unsigned: no `{SIGNATURE_FIELD}` field, and this worker requires one")
        if not isinstance(given, str) or not _SIGNATURE.fullmatch(given):
            raise Unauthenticated(f"`{SIGNATURE_FIELD}` is not {SCHEME}:<64 lowercase hex digits>")
        message = canonical_bytes(key, value)
        # Every key is tried, so the time taken does not tell which one matched.
        matched = False
        for secret in self.keys:
            expected = f"{SCHEME}:{_mac(secret, message)}"
            matched |= hmac.compare_digest(expected.encode(), given.encode())
        if not matched:
            raise Unauthenticated(
                "the signature does not match: signed with another key, or the command or its record key "
                "was changed after signing"
            )


NO_KEYS = ControlKeys()


def parse_keys(text: str) -> ControlKeys:
    """The key file's text: one key a line, blank lines ignored. ValueError (naming the line, not the key)."""
    keys = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if not _KEY.fullmatch(line):
            raise ValueError(
                f"line {number} is not a key: use at least {MIN_KEY_CHARS} printable ASCII characters "
                "without spaces, such as `openssl rand -hex 32` prints"
            )
        keys.append(line.encode("ascii"))
    if not keys:
        raise ValueError("no key in it")
    return ControlKeys(tuple(keys))


def canonical_bytes(key: bytes | None, value: JsonObject) -> bytes:
    """The bytes a signature covers (see the module's docstring); Unauthenticated when they cannot be formed."""
    try:
        key_text = None if key is None else key.decode("utf-8")
    except UnicodeDecodeError:
        raise Unauthenticated("the record key is not UTF-8, so it cannot be signed") from None
    body = {name: part for name, part in value.items() if name != SIGNATURE_FIELD}
    if _has_fraction(body):
        raise Unauthenticated("a signed command holds no fractional numbers (their JSON text is not canonical)")
    text = json.dumps({"key": key_text, "value": body}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        return CONTEXT + text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which no signer could have meant
        raise Unauthenticated("the command holds text that is not valid Unicode") from None


def signature(secret: bytes, key: bytes | None, value: JsonObject) -> str:
    """The `signature` field's value for this record key and command."""
    return f"{SCHEME}:{_mac(secret, canonical_bytes(key, value))}"


def check_fresh(requested_at: float, now: float, max_age: float) -> None:
    """Unauthenticated when the command was requested over `max_age` seconds before `now`, or is dated ahead.

    Bounds replay: a signed command copied off the topic is refused once it is this old.
    """
    age = now - requested_at
    if age > max_age:
        raise Unauthenticated(
            f"stale: requested {age:.0f} s ago, more than the {max_age:g} s LAPSEWATCH_CONTROL_MAX_AGE allows; "
            "send the command again"
        )
    if -age > CLOCK_SKEW:
        raise Unauthenticated(f"requested_at is {-age:.0f} s ahead of this worker's clock")


def _mac(secret: bytes, message: bytes) -> str:
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _has_fraction(part: Any) -> bool:
    if isinstance(part, float):
        return True
    if isinstance(part, dict):
        return any(_has_fraction(item) for item in part.values())
    if isinstance(part, list):
        return any(_has_fraction(item) for item in part)
    return False
