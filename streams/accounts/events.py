"""Parsing the platform's input events into account commands.

Pure: bytes in, an `AccountCommand` or a `Rejected` (streams/core/inbound.py) out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas import first_error
from streams.core.addresses import Address, InvalidAddress, PublicMailboxes, normalize_address
from streams.core.inbound import Rejected, decode_payload, parse_timestamp
from streams.core.jsontypes import JsonObject


@dataclass(frozen=True, slots=True)
class AddressUpdate:
    key: str
    email: str
    domain: str
    verified: bool
    verified_at: str | None

    def to_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "email": self.email,
            "domain": self.domain,
            "verified": self.verified,
            "verified_at": self.verified_at,
        }


@dataclass(slots=True)
class AccountCommand:
    """What one input event asks of an account's address book.

    `upsert` addresses are added or updated, `remove` keys dropped; with
    `replace`, every address not in `upsert` is dropped too (a snapshot).
    `login` asks for a freshness check of the account's domains.
    """

    event_id: str
    account_id: str
    upsert: list[AddressUpdate] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    replace: bool = False
    login: bool = False
    occurred_at: str | None = None  # canonical UTC; orders this command against others on the same address
    # Problems that did not stop the event (an invalid entry in a login snapshot).
    warnings: list[str] = field(default_factory=list)
    # The input's type ("email_added"... or "login"), for metrics only: not sent on, not compared.
    event_type: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, object]:
        return {
            "event_id": self.event_id,
            "account_id": self.account_id,
            "upsert": [a.to_dict() for a in self.upsert],
            "remove": self.remove,
            "replace": self.replace,
            "login": self.login,
            "occurred_at": self.occurred_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccountCommand:
        """The command as `to_dict` wrote it (the account stage's own repartition topic)."""
        return cls(
            event_id=data["event_id"],
            account_id=data["account_id"],
            upsert=[AddressUpdate(**a) for a in data["upsert"]],
            remove=list(data["remove"]),
            replace=data["replace"],
            login=data["login"],
            occurred_at=data.get("occurred_at"),
        )


_EMAIL_TYPES = frozenset(("email_added", "email_verified", "email_unverified", "email_removed", "email_changed"))


def _short_text(value: object, low: int, high: int) -> bool:
    return type(value) is str and low <= len(value) <= high


def _surely_valid_email_event(p: JsonObject) -> bool:
    """A fast test that implies email-event.schema.json holds (tests compare it with jsonschema).

    False means "ask jsonschema", which also words the error.
    """
    get = p.get
    return (
        _short_text(get("event_id"), 1, 200)
        and type(get("type")) is str
        and get("type") in _EMAIL_TYPES
        and _short_text(get("account_id"), 1, 200)
        and _short_text(get("email"), 3, 320)
        and all(
            get(name) is None or _short_text(get(name), 0, limit)
            for name, limit in (("previous_email", 320), ("verified_at", 64), ("occurred_at", 64))
        )
        and (get("verified") is None or type(get("verified")) is bool)
    )


def _surely_valid_login_email(entry: object) -> bool:
    if type(entry) is not dict:
        return False
    get = entry.get
    return (
        _short_text(get("email"), 3, 320)
        and (get("verified") is None or type(get("verified")) is bool)
        and (get("verified_at") is None or _short_text(get("verified_at"), 0, 64))
    )


def _surely_valid_login_event(p: JsonObject) -> bool:
    """As `_surely_valid_email_event`, for login-event.schema.json: most inputs are logins."""
    get = p.get
    emails = get("emails")
    return (
        _short_text(get("event_id"), 1, 200)
        and _short_text(get("account_id"), 1, 200)
        and (get("occurred_at") is None or _short_text(get("occurred_at"), 0, 64))
        and (
            emails is None
            or (type(emails) is list and len(emails) <= 100 and all(map(_surely_valid_login_email, emails)))
        )
    )


FAST_CHECKS = {"email-event": _surely_valid_email_event, "login-event": _surely_valid_login_event}


def _check(schema: str, payload: JsonObject) -> None:
    fast = FAST_CHECKS.get(schema)
    if fast is not None and fast(payload):
        return
    problem = first_error(schema, payload)
    if problem:
        raise Rejected("invalid_event", problem)


def _check_key(key: bytes | None, account_id: str) -> None:
    if not key:
        return
    try:
        text = key.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected("key_mismatch", "the record key is not UTF-8") from None
    if text != account_id:
        raise Rejected("key_mismatch", f"the record key {text!r} is not the event's account_id {account_id!r}")


def _address(text: str, field_name: str) -> Address:
    try:
        return normalize_address(text)
    except InvalidAddress as exc:
        raise Rejected("invalid_address", f"{field_name}: {exc}") from None


def _update(address: Address, verified: bool, verified_at: str | None) -> AddressUpdate:
    return AddressUpdate(address.key, address.original, address.domain, verified, verified_at if verified else None)


def _valid_payload(schema: str, key: bytes | None, value: bytes | None, max_bytes: int) -> JsonObject:
    payload = decode_payload(value, max_bytes)
    _check(schema, payload)
    _check_key(key, payload["account_id"])
    return payload


def parse_email_event(
    key: bytes | None, value: bytes | None, *, public: PublicMailboxes, max_bytes: int
) -> AccountCommand:
    payload = _valid_payload("email-event", key, value, max_bytes)
    account = payload["account_id"]
    kind = payload["type"]
    address = _address(payload["email"], "email")
    occurred_at = parse_timestamp(payload.get("occurred_at"), "occurred_at")
    verified_at = parse_timestamp(payload.get("verified_at"), "verified_at")
    command = AccountCommand(event_id=payload["event_id"], account_id=account, occurred_at=occurred_at, event_type=kind)
    custom = address.domain not in public

    if kind == "email_removed":
        if custom:
            command.remove.append(address.key)
    elif kind == "email_unverified":
        if custom:
            command.upsert.append(_update(address, False, None))
    elif kind == "email_verified":
        if custom:
            command.upsert.append(_update(address, True, verified_at or occurred_at))
    elif kind == "email_added":
        if custom:
            command.upsert.append(_update(address, bool(payload.get("verified")), verified_at))
    else:  # email_changed
        previous = payload.get("previous_email")
        if custom:
            command.upsert.append(_update(address, bool(payload.get("verified")), verified_at))
        if previous:
            old = _address(previous, "previous_email")
            if old.key != address.key:
                command.remove.append(old.key)
        else:
            # Without the old address, the new one is now the account's address.
            command.replace = True
    return command


def parse_login_event(
    key: bytes | None, value: bytes | None, *, public: PublicMailboxes, max_bytes: int
) -> AccountCommand:
    payload = _valid_payload("login-event", key, value, max_bytes)
    command = AccountCommand(
        event_id=payload["event_id"],
        account_id=payload["account_id"],
        login=True,
        occurred_at=parse_timestamp(payload.get("occurred_at"), "occurred_at"),
        event_type="login",
    )
    snapshot = payload.get("emails")
    if snapshot is None:
        return command
    command.replace = True
    for index, entry in enumerate(snapshot):
        try:
            address = _address(entry["email"], f"emails/{index}/email")
            verified_at = parse_timestamp(entry.get("verified_at"), f"emails/{index}/verified_at")
        except Rejected as exc:
            # One bad entry must not block reconciling the rest; it is reported, not dropped.
            command.warnings.append(exc.message)
            continue
        if address.domain not in public:
            command.upsert.append(_update(address, bool(entry.get("verified")), verified_at))
    if command.warnings:
        # Without every entry the snapshot is not complete, so it must not remove anything.
        command.replace = False
    return command
