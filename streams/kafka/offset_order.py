"""Which records of a partition a hop may apply, so that it applies them in offset order, each once.

The hops' handlers are order-sensitive: an email change applied before the
addition it follows leaves the account on its old address. Faust delivers a
partition's records in order, except around rebalances, where it has been
seen to hand over a record while dropping the one before it. Each hop therefore
tracks, per partition, the next offset it must apply: it starts at the
group's committed offset when the consumer seeks there (a rebalance), and
moves only when that record is applied.

A record below it was applied already (a re-read): skipped. A record past it
means the one in between never came: it is held back (neither applied nor
acknowledged) and the partition is read again from the missing offset. The
hops' topics are written by lapsewatch alone, without transactions or
compaction, so their offsets have no gaps but one: retention may have
removed the missing records, which the re-read checks (`log_starts_at`).
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Mapping
from dataclasses import dataclass


class Verdict(enum.Enum):
    APPLY = "apply"
    DUPLICATE = "duplicate"  # below the next offset: applied already
    EARLY = "early"  # past the next offset: the record at it has not come


@dataclass
class _Partition:
    next: int | None  # None: whatever is delivered first (no known start)
    reread_at: float | None = None
    rereads: int = 0


class OffsetOrder:
    def __init__(self, reread_every: float = 2.0) -> None:
        self.reread_every = reread_every
        self._partitions: dict[Hashable, _Partition] = {}

    def restart(self, starts: Mapping[Hashable, int | None]) -> None:
        """The consumer sought its partitions to `starts` (the next offsets to process); others are gone."""
        known = {tp: start if start is not None and start >= 0 else None for tp, start in starts.items()}
        self._partitions = {tp: _Partition(start) for tp, start in known.items()}

    def next_offset(self, tp: Hashable) -> int | None:
        partition = self._partitions.get(tp)
        return None if partition is None else partition.next

    def verdict(self, tp: Hashable, offset: int) -> Verdict:
        partition = self._partitions.get(tp)
        if partition is None or partition.next is None or offset == partition.next:
            return Verdict.APPLY
        return Verdict.DUPLICATE if offset < partition.next else Verdict.EARLY

    def reread(self, tp: Hashable, now: float) -> int | None:
        """For an early record: the offset to read the partition again from, unless that was asked lately."""
        partition = self._partitions[tp]
        if partition.reread_at is not None and now - partition.reread_at < self.reread_every:
            return None
        partition.reread_at = now
        partition.rereads += 1
        return partition.next

    def rereads(self, tp: Hashable) -> int:
        """Re-reads asked since the partition last moved."""
        partition = self._partitions.get(tp)
        return 0 if partition is None else partition.rereads

    def log_starts_at(self, tp: Hashable, start: int) -> bool:
        """The log holds no record below `start` any more: a next offset below it moves there. True if it moved."""
        partition = self._partitions.get(tp)
        if partition is None or partition.next is None or partition.next >= start:
            return False
        self._partitions[tp] = _Partition(start)
        return True

    def applied(self, tp: Hashable, offset: int) -> None:
        self._partitions[tp] = _Partition(offset + 1)
