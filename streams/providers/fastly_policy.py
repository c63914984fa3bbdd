"""Fastly Domain Research status flags → verdict. Pure.

Fastly answers with a space-separated set of flags. Each flag the API documents
has a meaning here; a flag it does not document makes the answer inconclusive,
because a new word from the API is not evidence of anything yet.
"""

from __future__ import annotations

from streams.providers.base import Verdict

# The name is free, or about to be: anyone may soon register it.
LAPSED = {
    "inactive": "available for registration",
    "expiring": "expiring, in its grace or redemption period",
    "deleting": "expired and pending deletion",
}
# The name is registered to someone (perhaps for sale, but not free).
REGISTERED = {
    "active": "registered",
    "parked": "registered and parked",
    "marketed": "registered and offered for sale",
    "priced": "registered and offered for sale at a price",
    "transferable": "registered and offered for fast transfer",
}
# Says nothing about registration on its own.
NO_EVIDENCE = {
    "unknown": "the registry did not answer Fastly in time",
    "undelegated": "not in DNS, which registered names may also be",
    "premium": "a premium name, registered or not",
}
# Not a name anyone can register: a missing lapse cannot come from these.
UNREGISTRABLE = {
    "pending": "its TLD is not yet in the root zone",
    "disallowed": "not allowed by the registry",
    "claimed": "claimed by another party",
    "reserved": "reserved by the registry",
    "dpml": "blocked for trademark holders",
    "invalid": "not a valid name",
    "suffix": "a public suffix",
    "zone": "a zone",
    "tld": "a top-level domain",
}
KNOWN_FLAGS = frozenset(LAPSED) | frozenset(REGISTERED) | frozenset(NO_EVIDENCE) | frozenset(UNREGISTRABLE)


def unknown_flags(flags: tuple[str, ...]) -> list[str]:
    return sorted(set(flags) - KNOWN_FLAGS)


def classify_fastly(status: str) -> Verdict:
    """The verdict for one status string. Precedence: unknown > undocumented > lapsed > registered."""
    flags = tuple(status.split())
    present = set(flags)
    if "unknown" in present:
        return Verdict("inconclusive", flags, "unknown: " + NO_EVIDENCE["unknown"])
    strange = unknown_flags(flags)
    if strange:
        return Verdict("inconclusive", flags, "undocumented Fastly flags: " + " ".join(strange))
    lapsed = sorted(present & LAPSED.keys())
    if lapsed:
        return Verdict(
            "lapsed", flags, "; ".join(f"{flag}: {LAPSED[flag]}" for flag in lapsed), grace="expiring" in present
        )
    registered = sorted(present & REGISTERED.keys())
    if registered:
        return Verdict("active", flags, "; ".join(f"{flag}: {REGISTERED[flag]}" for flag in registered))
    reasons = [f"{flag}: {NO_EVIDENCE.get(flag) or UNREGISTRABLE[flag]}" for flag in sorted(present)]
    return Verdict("inconclusive", flags, "; ".join(reasons) or "an empty status")
