"""The domain table: a domain's rows read and written as one value, and the due index the writes keep current."""

from __future__ import annotations

import logging

from streams import topics
from streams.domains import rows
from streams.domains.due import DueIndex, priority_of
from streams.domains.state import DomainState
from streams.kafka.table_batches import PartitionWrites

log = logging.getLogger("lapsewatch.domains")

# Due times of the domains in this worker's partitions. Rebuilt once per
# rebalance from the recovered table (scheduler.py), then kept current by every table write.
due = DueIndex()


def proven(domain: str) -> bool:
    """The domain answered a check before and has not failed since: its failure speaks of its server."""
    value = topics.domains.get(domain)
    return isinstance(value, dict) and value.get("last_success_at") is not None and not value.get("errors")


def requeue(domain: str, at: float) -> None:
    """A check that was not sent after all (its circuit opened meanwhile) comes due again at `at`."""
    value = topics.domains.get(domain)
    if value is not None:
        due.set(domain, at, priority_of(value))


_UNREAD: dict = {}


def load(domain: str, head: dict | None = _UNREAD) -> tuple[dict[str, dict], dict | None]:
    """The domain's rows as stored ({} if none) and its value joined from them (None if none).

    `head`: the domain's head row when the caller read it already (read_many, for a whole record)."""
    if head is _UNREAD:
        head = topics.domains.get(domain)
    if head is None:
        return {}, None
    stored = {domain: head}
    for page in range(head.get("pages", 0)):
        key = rows.page_key(domain, page)
        row = topics.domains.get(key)
        if row is None:  # head and pages are written under one offset commit: this is a bug
            log.error("domain %s: page row %s is missing; its members are lost until they log in again", domain, key)
            row = rows.empty_page()
        stored[key] = row
    return stored, rows.join(head, [stored[key] for key in stored if key != domain])


def store(domain: str, before: dict[str, dict], state: DomainState | None, writes: PartitionWrites) -> None:
    """Writes the rows (changelog records) of the domain that changed, and deletes those it no longer has.

    The writes land when the caller applies `writes`: a domain is stored once per record, after it was read."""
    head = before.get(domain)
    after = {} if state is None else rows.split(domain, state.to_dict(), head.get("pages", 0) if head else 0)
    if state is not None and rows.has_members(after[domain]):
        due.set(domain, state.next_check_at, priority_of(after[domain]))
    else:  # gone, or kept only for its allow: nothing to check
        due.discard(domain)
    for key, row in after.items():
        if row != before.get(key):
            writes[key] = row
    for key in before.keys() - after.keys():
        del writes[key]
