"""Records of the control topic → domain commands (pure: tested without a broker)."""

from __future__ import annotations

from schemas import first_error
from streams.core.addresses import InvalidAddress, ascii_host, registrable_domain
from streams.core.control_auth import NO_KEYS, ControlKeys, Unauthenticated, check_fresh
from streams.core.inbound import Rejected, decode_payload, parse_timestamp
from streams.core.times import parse_iso
from streams.domains.commands import ControlCommand, InvalidCommand, control_action


def parse_control(
    key: bytes | None,
    value: bytes | None,
    *,
    max_bytes: int,
    keys: ControlKeys = NO_KEYS,
    max_age: float = 3600.0,
    now: float | None = None,
) -> ControlCommand:
    """The domain command for one control record; Rejected with a dead-letter reason otherwise.

    With `keys`, the record must be signed with one of them and requested at most `max_age` seconds
    before `now` (reason `unauthenticated`); without, signatures are not looked at.
    """
    if keys and now is None:
        raise TypeError("checking signed commands needs the time now")
    payload = decode_payload(value, max_bytes)
    if keys:
        # Before the schema: from someone without the key, what else is wrong does not matter.
        try:
            keys.verify(key, payload)
        except Unauthenticated as exc:
            raise Rejected("unauthenticated", str(exc)) from None
    problem = first_error("control-command", payload)
    if problem:
        raise Rejected("invalid_event", problem)
    try:
        domain = registrable_domain(ascii_host(payload["domain"]))
    except InvalidAddress as exc:
        raise Rejected("invalid_address", f"domain: {exc}") from None
    if key:
        try:
            keyed = registrable_domain(ascii_host(key.decode("utf-8")))
        except (InvalidAddress, UnicodeDecodeError):
            keyed = None
        if keyed != domain:
            raise Rejected("key_mismatch", f"the key {key!r} is not the command's domain {domain!r}")
    try:
        action = control_action(payload["command"])
    except InvalidCommand as exc:  # the schema's enum refuses it first: the two lists are the same
        raise Rejected("invalid_event", str(exc)) from None
    requested_at = parse_timestamp(payload["requested_at"], "requested_at")
    if requested_at is None:  # the schema requires a string, which parses to a string or is rejected
        raise Rejected("invalid_event", "requested_at: missing")
    if keys and now is not None:
        try:
            check_fresh(parse_iso(requested_at).timestamp(), now, max_age)
        except Unauthenticated as exc:
            raise Rejected("unauthenticated", str(exc)) from None
    return ControlCommand(
        domain=domain,
        action=action,
        requested_by=payload["requested_by"],
        reason=payload.get("reason"),
        requested_at=requested_at,
        command_id=payload["command_id"],
    )
