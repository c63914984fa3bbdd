"""Fastly Domain Research status flags → verdict. Pure."""

from __future__ import annotations

from streams.providers.base import Verdict

# Flags that mean the name is free, or about to be, at the registry.
LAPSED_FLAGS = frozenset({"undelegated", "inactive", "expiring", "deleting"})
# Fastly's best-effort answer when the registry did not respond: says nothing.
INCONCLUSIVE_FLAGS = frozenset({"unknown"})


def classify_fastly(status: str) -> Verdict:
    flags = tuple(status.split())
    present = set(flags)
    if present & INCONCLUSIVE_FLAGS:
        return Verdict("inconclusive", flags, "the registry did not answer Fastly (status 'unknown')")
    lapsed = sorted(present & LAPSED_FLAGS)
    if lapsed:
        return Verdict("lapsed", flags, "lapsed flags: " + " ".join(lapsed))
    return Verdict("active", flags)
