"""The synthetic platform of the dedup and checks benchmarks: 1,000,000 accounts, seeded.

70 % of the accounts use a public mailbox provider (the list lapsewatch
ships), 30 % one of 150,000 custom domains. Every custom domain has at least
one account and the rest are spread with Zipf weights (s = 1), so a few
domains hold thousands of accounts and most hold one: the long tail of a real
platform. Some addresses use a subdomain host (`mail.`, `eu.mail.`) or
capitals, which must still come down to the one registrable domain.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from streams.core.addresses import PublicMailboxes

ACCOUNTS = 1_000_000
PUBLIC_SHARE = 0.70
CUSTOM_DOMAINS = 150_000
SEED = 20261122
WORDS = ("acme", "bakery", "studio", "consult", "lab", "garage", "clinic", "farm", "press", "works")
# Repeats weight the mix towards .com; multi-label suffixes exercise the Public Suffix List.
TLDS = ("com", "com", "com", "com", "net", "org", "io", "de", "fr", "nl", "co.uk", "com.au", "co.jp", "com.br")


def custom_count() -> int:
    return ACCOUNTS - round(ACCOUNTS * PUBLIC_SHARE)


def custom_domain_sizes(seed: int = SEED) -> list[int]:
    """Accounts per custom domain, by domain index: one each, then the rest by Zipf weight."""
    rng = random.Random(seed)
    sizes = [1] * CUSTOM_DOMAINS
    weights = list(itertools.accumulate(1.0 / rank for rank in range(1, CUSTOM_DOMAINS + 1)))
    for index in rng.choices(range(CUSTOM_DOMAINS), cum_weights=weights, k=custom_count() - CUSTOM_DOMAINS):
        sizes[index] += 1
    return sizes


def custom_domain(index: int) -> str:
    """The registrable domain (lowercase) of custom domain number `index`."""
    return f"{WORDS[index % len(WORDS)]}{index}.{TLDS[index % len(TLDS)]}"


def _as_sent(domain: str, roll: float) -> str:
    """The host as a platform might send it: mostly the domain itself, sometimes a mail host or capitals."""
    if roll < 0.80:
        return domain
    if roll < 0.92:
        return "mail." + domain
    if roll < 0.97:
        return "eu.mail." + domain
    return domain.title()


@dataclass
class Population:
    emails: list[str]
    domains: list[str | None]  # the registrable domain of each custom address; None for public mailboxes


def build(seed: int = SEED) -> Population:
    rng = random.Random(seed)
    emails: list[str] = []
    domains: list[str | None] = []
    for index, size in enumerate(custom_domain_sizes(seed)):
        domain = custom_domain(index)
        for _ in range(size):
            emails.append(f"user{len(emails)}@{_as_sent(domain, rng.random())}")
            domains.append(domain)
    public = sorted(PublicMailboxes().domains)
    while len(emails) < ACCOUNTS:
        emails.append(f"user{len(emails)}@{rng.choice(public)}")
        domains.append(None)
    return Population(emails, domains)
