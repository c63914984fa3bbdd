"""RDAP domain facts → verdict. Pure.

The status values are RFC 9083 §10.2.2's and the EPP statuses RFC 8056 maps
onto them. Registries also send EPP's camelCase spelling (`clientHold`), so
values are normalised to the spaced lowercase form first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from streams.providers.base import Verdict

DAY = 86400.0

# The registration is ending: the name is, or soon will be, free for anyone.
LAPSED = {
    "redemption period": "deleted by the registrar, restorable only by the old registrant",
    "pending delete": "about to be deleted by the registry",
    "pending restore": "in redemption, a restore requested but not completed",
}
# Registered, but not served: a lapse only when the registration has also run out.
HOLD = {
    "client hold": "held by the registrar",
    "server hold": "held by the registry",
}
# The grace after expiry during which the registrar may still delete the name.
GRACE = {"auto renew period": "in the grace period after an automatic renewal"}
# A registered name (locks, pending changes, privacy, ordinary grace periods after purchase).
REGISTERED = frozenset(
    {
        "active",
        "inactive",
        "validated",
        "locked",
        "associated",
        "removed",
        "obscured",
        "private",
        "proxy",
        "renew prohibited",
        "update prohibited",
        "transfer prohibited",
        "delete prohibited",
        "pending create",
        "pending renew",
        "pending transfer",
        "pending update",
        "add period",
        "renew period",
        "transfer period",
        "client delete prohibited",
        "client renew prohibited",
        "client transfer prohibited",
        "client update prohibited",
        "server delete prohibited",
        "server renew prohibited",
        "server transfer prohibited",
        "server update prohibited",
    }
)
KNOWN_STATUSES = frozenset(LAPSED) | frozenset(HOLD) | frozenset(GRACE) | REGISTERED
# Registries add their own locks (AFNIC's "server recover prohibited"): any "... prohibited" is one.
LOCK_SUFFIX = " prohibited"
# EPP's "ok" is RDAP's "active" (RFC 8056 §2).
ALIASES = {"ok": "active"}

NOT_FOUND_FLAG = "not found"

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


def normalise_status(value: str) -> str:
    """`clientHold`, `client_hold`, `Client Hold` → `client hold`."""
    spaced = _CAMEL.sub(" ", value.strip()).replace("_", " ").replace("-", " ").lower()
    spaced = " ".join(spaced.split())
    return ALIASES.get(spaced, spaced)


@dataclass(frozen=True, slots=True)
class DomainFacts:
    """What an RDAP domain object says, reduced to what the policy needs."""

    statuses: tuple[str, ...]  # normalised
    registered_at: float | None = None
    expires_at: float | None = None
    nameservers: tuple[str, ...] = ()
    # Dates only the registrar gave, where a thin registry left them out. They schedule
    # checks and go into the evidence, but never decide a verdict or a re-registration:
    # a registrar's own dates can differ from the registry's (transfers, its own billing).
    registrar_registered_at: float | None = None
    registrar_expires_at: float | None = None


def not_registered() -> Verdict:
    return Verdict("lapsed", (NOT_FOUND_FLAG,), "the registry has no such domain (RDAP 404)")


def no_service(tld: str) -> Verdict:
    return Verdict("inconclusive", ("no rdap service",), f"no RDAP service is known for .{tld}")


def known(status: str) -> bool:
    return status in KNOWN_STATUSES or status.endswith(LOCK_SUFFIX)


def unknown_statuses(statuses: tuple[str, ...]) -> list[str]:
    return sorted(status for status in set(statuses) if not known(status))


def classify_rdap(facts: DomainFacts, now: float) -> Verdict:
    """The verdict for one registry answer (a domain object, HTTP 200) at time `now`.

    Evidence of a lapse decides first, whatever else the answer holds: a value
    the policy does not know must never hide a lapse, only stand beside it in
    the evidence. Without such evidence an unknown value leaves the verdict
    inconclusive: it might mean anything.
    """
    present = set(facts.statuses)
    expired = facts.expires_at is not None and facts.expires_at <= now
    strange = unknown_statuses(facts.statuses)
    aside = f"; also unrecognised RDAP statuses: {', '.join(strange)}" if strange else ""

    def verdict(kind: str, detail: str, *, grace: bool = False) -> Verdict:
        return Verdict(
            kind,
            facts.statuses,
            detail + _registrar_dates(facts),
            facts.registered_at,
            facts.expires_at if facts.expires_at is not None else facts.registrar_expires_at,
            grace,
            facts.nameservers,
        )

    lapsed = sorted(present & LAPSED.keys())
    if lapsed:
        return verdict("lapsed", "; ".join(f"{s}: {LAPSED[s]}" for s in lapsed) + aside, grace=True)
    held = sorted(present & HOLD.keys())
    in_grace = bool(present & GRACE.keys())
    if held and (expired or in_grace):
        why = "expired and " if expired else "in auto-renew grace and "
        return verdict("lapsed", why + "; ".join(f"{s}: {HOLD[s]}" for s in held) + aside, grace=True)
    if expired:
        return verdict("lapsed", "the registration expired and was not renewed" + aside, grace=True)
    if strange:
        return verdict("inconclusive", "unrecognised RDAP statuses: " + ", ".join(strange))
    if not present:
        # RFC 9083 makes status optional: a domain object answered with 200 says the name is registered.
        return verdict("active", "registered; the registry publishes no status")
    if held:
        return verdict("active", "registered and not expired; " + "; ".join(f"{s}: {HOLD[s]}" for s in held))
    if in_grace:
        return verdict("active", "registered; " + GRACE["auto renew period"], grace=True)
    return verdict("active", "registered")


def _registrar_dates(facts: DomainFacts) -> str:
    said = [
        f"{what} {datetime.fromtimestamp(when, UTC):%Y-%m-%dT%H:%M:%SZ}"
        for what, when in (("registered", facts.registrar_registered_at), ("expires", facts.registrar_expires_at))
        if when is not None
    ]
    return f" (the registrar says: {', '.join(said)})" if said else ""
