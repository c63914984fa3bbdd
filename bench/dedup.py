"""Dedup: provider calls per full check cycle, one per registrable domain against one per address.

Pure computation on bench/population.py's 1,000,000 accounts. The registrable
domain of every address is known from how the population was generated, so
the full count needs no normalisation; a random sample goes through
`normalize_address` and the public mailbox list to show it gives the same
answer, and how long normalising everything would take.
"""

from __future__ import annotations

import random
import time

from bench.common import Figure, env_int
from bench.population import ACCOUNTS, build, custom_count
from streams.core.addresses import PublicMailboxes, normalize_address

NAME = "dedup"


def sample_mismatches(emails: list[str], domains: list[str | None], indexes: list[int]) -> tuple[int, int, int]:
    """Normalises the sampled addresses; returns (mismatches, distinct domains found, distinct expected)."""
    public = PublicMailboxes()
    mismatches = 0
    found: set[str] = set()
    expected: set[str] = set()
    for index in indexes:
        domain = normalize_address(emails[index]).domain
        seen = None if domain in public else domain
        mismatches += seen != domains[index]
        if seen is not None:
            found.add(seen)
        if domains[index] is not None:
            expected.add(domains[index])
    return mismatches, len(found), len(expected)


def run() -> list[Figure]:
    started = time.monotonic()
    population = build()
    calls = len({domain for domain in population.domains if domain is not None})
    hosts = len(
        {
            email.rpartition("@")[2].lower()
            for email, domain in zip(population.emails, population.domains, strict=True)
            if domain is not None
        }
    )
    built = time.monotonic() - started

    size = env_int("BENCH_DEDUP_SAMPLE", 50_000)
    indexes = random.Random(1).sample(range(ACCOUNTS), size)
    began = time.monotonic()
    mismatches, found, expected = sample_mismatches(population.emails, population.domains, indexes)
    per_address = (time.monotonic() - began) / size

    custom = custom_count()
    return [
        Figure(
            NAME,
            "provider calls per cycle: lapsewatch (distinct registrable domains)",
            calls,
            "calls",
            note=f"{ACCOUNTS:,} accounts, {custom:,} on custom domains ({hosts:,} distinct hosts); "
            f"counted in {built:.1f} s",
        ),
        Figure(
            NAME,
            "provider calls per cycle: one per address (all / custom only)",
            ACCOUNTS,
            "calls",
            note=f"{custom:,} if public mailboxes were skipped",
        ),
        Figure(
            NAME,
            "fewer calls: per address ÷ per domain (all / custom only)",
            ACCOUNTS / calls,
            "×",
            digits=1,
            note=f"{custom / calls:.1f}× against custom addresses only",
        ),
        Figure(
            NAME,
            f"normalize_address on a {size:,}-address sample: mismatches",
            mismatches,
            "",
            "0",
            mismatches == 0 and found == expected,
            f"{found:,} distinct domains found, {expected:,} expected; {per_address * 1e6:.0f} µs/address, "
            f"so all {ACCOUNTS:,} ≈ {per_address * ACCOUNTS:.0f} s (extrapolated)",
        ),
    ]
