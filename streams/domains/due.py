"""Which domains are due, without looking at the ones that are not. Pure.

One min-heap of (due time, rank, domain) per priority, with a map of each
domain's current entry: changing a domain pushes a fresh entry and the stale
one is skipped when it surfaces, so every operation is O(log n) and a tick
costs O(due), never O(table). The rank is the time the domain first came due:
domains put off to one moment (a circuit's reopening) keep their own order.
"""

from __future__ import annotations

import heapq
import math

from streams.core.jsontypes import JsonObject

URGENT, CONFIRM, ROUTINE, RETRY = 0, 1, 2, 3
PRIORITY_NAMES = ("urgent", "confirm", "routine", "retry")


def priority_of(state: JsonObject) -> int:
    """New domains and login-triggered checks first, confirmations next, routine rechecks, then retries.

    A suspected lapse is always a confirmation, even when a login hurries it,
    so it goes to the confirming provider. A domain whose last check failed
    waits behind every domain that answers, so names that never answer can
    never starve the others.
    """
    if state["status"] == "lapse_suspected":
        return CONFIRM
    if state.get("errors"):
        return RETRY
    if state["status"] == "new" or state.get("urgent"):
        return URGENT
    return ROUTINE


class DueIndex:
    def __init__(self) -> None:
        self._heaps: tuple[list[tuple[float, float, str]], ...] = tuple([] for _ in PRIORITY_NAMES)
        self._entries: dict[str, tuple[float, int, float]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, domain: str) -> bool:
        return domain in self._entries

    def set(self, domain: str, at: float, priority: int, rank: float | None = None) -> None:
        """Due at `at`; among domains due at once, lower `rank` first (default: `at` itself)."""
        if not isinstance(at, (int, float)) or not math.isfinite(at):
            raise ValueError(f"due time of {domain} is {at!r}, not a finite time")
        entry = (at, priority, at if rank is None else rank)
        if self._entries.get(domain) == entry:
            return
        self._entries[domain] = entry
        heapq.heappush(self._heaps[priority], (at, entry[2], domain))
        self._compact(priority)

    def discard(self, domain: str) -> None:
        self._entries.pop(domain, None)

    def clear(self) -> None:
        for heap in self._heaps:
            heap.clear()
        self._entries.clear()

    def take_due(self, now: float, limit: int) -> list[tuple[str, int, float]]:
        """Up to `limit` due domains as (domain, priority, rank), most urgent first, removed from the index.

        The caller puts each one back (`set`) with its next time: a lease while
        its check is in flight, or, with its rank, a delay when it could not start.
        """
        taken: list[tuple[str, int, float]] = []
        for priority, heap in enumerate(self._heaps):
            while heap and heap[0][0] <= now and len(taken) < limit:
                at, rank, domain = heapq.heappop(heap)
                if self._entries.get(domain) == (at, priority, rank):
                    del self._entries[domain]
                    taken.append((domain, priority, rank))
        return taken

    def backlog(self, now: float) -> dict[str, int]:
        """How many domains are due now, by priority (for metrics); O(n), not for every tick."""
        counts = dict.fromkeys(PRIORITY_NAMES, 0)
        for at, priority, _ in self._entries.values():
            if at <= now:
                counts[PRIORITY_NAMES[priority]] += 1
        return counts

    def _compact(self, priority: int) -> None:
        """Drop stale entries once they outnumber live ones, so memory stays O(domains)."""
        heap = self._heaps[priority]
        if len(heap) > 64 and len(heap) > 2 * len(self._entries) + 64:
            live = [(at, rank, d) for at, rank, d in heap if self._entries.get(d) == (at, priority, rank)]
            heapq.heapify(live)
            self._heaps[priority][:] = live
