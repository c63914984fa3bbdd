"""Batched internal records: many commands for one partition of a repartition topic in one record.

Faust's cost is per record, so each hop sends one record per destination
partition per batch instead of one per command. The destination is the
partition the producer would have picked for the command's own key (murmur2),
so a key keeps its partition, and its table rows, across this format change.

Wire format (internal, ours to change): a JSON array of command objects, in
order. A JSON object is a single command, as the checker sends its results.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from murmurhash2 import murmurhash2

from streams.core.jsontypes import JsonObject

# Kafka's default max.request.size is 1 MiB: a record stays well under it.
MAX_RECORD_BYTES = 512 * 1024


# Kafka's default partitioner: murmur2 with this seed, as aiokafka's DefaultPartitioner and the Java client.
KAFKA_MURMUR2_SEED = 0x9747B28C


def partition_for(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives `key` (tests hold it to aiokafka's DefaultPartitioner)."""
    return (murmurhash2(key.encode(), KAFKA_MURMUR2_SEED) & 0x7FFFFFFF) % partitions


def decode(value: bytes) -> list[JsonObject]:
    """The commands of one internal record, in order."""
    document = orjson.loads(value)
    return document if isinstance(document, list) else [document]


class Batcher:
    """Collects encoded commands per destination partition; yields records of at most MAX_RECORD_BYTES."""

    def __init__(self, partitions: int):
        self.partitions = partitions
        self._pending: dict[int, list[bytes]] = {}
        self._sizes: dict[int, int] = {}
        self.full: list[tuple[int, bytes]] = []  # records ready before the end of the batch

    def add(self, key: str, command: Mapping[str, object]) -> None:
        partition = partition_for(key, self.partitions)
        encoded = orjson.dumps(command)
        pending = self._pending.setdefault(partition, [])
        size = self._sizes.get(partition, 2) + len(encoded) + 1
        if pending and size > MAX_RECORD_BYTES:
            self.full.append((partition, _join(pending)))
            pending.clear()
            size = 2 + len(encoded) + 1
        pending.append(encoded)
        self._sizes[partition] = size

    def drain(self) -> list[tuple[int, bytes]]:
        """Every record, (partition, value), in the order each partition's commands were added."""
        records = self.full + [(partition, _join(pending)) for partition, pending in self._pending.items() if pending]
        self.full = []
        self._pending.clear()
        self._sizes.clear()
        return records


def _join(encoded: list[bytes]) -> bytes:
    return b"[" + b",".join(encoded) + b"]"
