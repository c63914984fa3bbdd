"""How a domain's value is laid out in table rows: one row, or a head row and member pages.

A row is one changelog record, and Kafka refuses a record over about 1 MB:
about 8,000 members. A domain with many members (a university, a large
company) keeps its per-member maps in page rows keyed `domain#n`, each holding
the accounts that hash to page n, so no row outgrows the limit and a change
rewrites only the pages it touches. `#` is not allowed in a host name, so a page
key never collides with a domain. Small domains stay in one row, the format
older workers read.
"""

from __future__ import annotations

import zlib
from typing import Any

from streams.core.jsontypes import JsonObject

PAGED = ("members", "emitted", "reregistered")  # the maps whose size grows with the member count
PAGE_AT = 1_000  # members above which a domain is paged
UNPAGE_AT = PAGE_AT // 2  # and at or below which it goes back to one row: no flapping at the edge
PAGE_MEMBERS = 500  # members a page is sized for; pages double as the domain grows


def empty_page() -> JsonObject:
    """A page row with no one on it: each paged map empty (also what a head row keeps of them)."""
    return {name: {} for name in PAGED}


def page_key(domain: str, page: int) -> str:
    return f"{domain}#{page}"


def is_page_key(key: str) -> bool:
    return "#" in key


def member_count(members: dict[str, dict[str, Any]]) -> int:
    return sum(len(addresses) for addresses in members.values())


def has_members(row: JsonObject) -> bool:
    """Whether a head or single row's domain has members (a memberless row only keeps an allow)."""
    return bool(row.get("members")) or row.get("pages", 0) > 0


def pages_for(members: int, current: int) -> int:
    """How many pages a domain with `members` members gets, given the `current` count (0: one row)."""
    if members <= UNPAGE_AT or (current == 0 and members <= PAGE_AT):
        return 0
    pages = max(current, 1)
    while pages * PAGE_MEMBERS < members:
        pages *= 2
    while pages > 1 and pages * PAGE_MEMBERS > members * 4:  # shrink only when far too many
        pages //= 2
    return pages


def page_of(account_id: str, pages: int) -> int:
    return zlib.crc32(account_id.encode()) % pages


def _account_of(entry_key: str) -> str:
    """`emitted` and `reregistered` are keyed "account id\\naddress key"; `members` by account id."""
    return entry_key.split("\n", 1)[0]


def split(domain: str, value: JsonObject, current_pages: int = 0) -> dict[str, JsonObject]:
    """The rows that hold `value`: {domain: value} or {domain: head, domain#0: page, ...}."""
    pages = pages_for(member_count(value["members"]), current_pages)
    if not pages:
        return {domain: value}
    head = {key: item for key, item in value.items() if key not in PAGED}
    head.update(empty_page(), pages=pages)
    rows = {page_key(domain, page): empty_page() for page in range(pages)}
    for name in PAGED:
        for entry_key, entry in value[name].items():
            rows[page_key(domain, page_of(_account_of(entry_key), pages))][name][entry_key] = entry
    return {domain: head, **rows}


def join(head: JsonObject, pages: list[JsonObject]) -> JsonObject:
    """The domain's value from its head row and its pages (none for a one-row domain)."""
    if "pages" not in head:
        return head
    value = {key: item for key, item in head.items() if key != "pages"}
    for name in PAGED:
        merged: JsonObject = {}
        for page in pages:
            merged.update(page[name])
        value[name] = merged
    return value
