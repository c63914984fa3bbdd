"""What an operator sees of a domain: its state without the addresses (pure)."""

from __future__ import annotations

from streams.core.jsontypes import JsonObject
from streams.core.times import iso_utc_or_none


def domain_summary(value: JsonObject, *, partition: int, worker: str) -> JsonObject:
    """The table row `value` as the /domains/{name} answer: counts, never member addresses."""
    members = value.get("members") or {}
    addresses = [member for per_account in members.values() for member in per_account.values()]
    return {
        "domain": value["domain"],
        "status": value["status"],
        "flags": list(value.get("flags") or []),
        "provider": value.get("provider"),
        "detail": value.get("detail"),
        "first_seen_at": iso_utc_or_none(value.get("first_seen_at")),
        "last_check_at": iso_utc_or_none(value.get("last_check_at")),
        "last_success_at": iso_utc_or_none(value.get("last_success_at")),
        "next_check_at": iso_utc_or_none(value.get("next_check_at")),
        "urgent": bool(value.get("urgent")),
        "consecutive_errors": value.get("errors", 0),
        "failing_since": iso_utc_or_none(value.get("failing_since")),
        # Failing while its server answers others: the name backs off alone, the circuit stays closed.
        "failing_alone": bool(value.get("errors") and value.get("failing_alone")),
        "consecutive_inconclusive": value.get("inconclusive", 0),
        "inconclusive_since": iso_utc_or_none(value.get("inconclusive_since")),
        "lapse_first_seen_at": iso_utc_or_none(value.get("lapse_seen_at")),
        "lapse_confirmed_at": iso_utc_or_none(value.get("confirmed_at")),
        "registered_at": iso_utc_or_none(value.get("registered_at")),
        "expires_at": iso_utc_or_none(value.get("expires_at")),
        "grace": bool(value.get("grace")),
        "members": {
            "accounts": len(members),
            "addresses": len(addresses),
            "verified": sum(1 for member in addresses if member.get("verified")),
        },
        "unverified_this_episode": len(value.get("emitted") or {}),
        "allowed": _allowed(value.get("allowed")),
        "partition": partition,
        "worker": worker,
    }


def _allowed(allow: JsonObject | None) -> JsonObject | None:
    """Who allowed the domain (never unverified) and why, or None."""
    if not allow:
        return None
    return {
        "by": allow.get("by"),
        "reason": allow.get("reason"),
        "at": iso_utc_or_none(allow.get("at")),
        "command_id": allow.get("command_id"),
    }
