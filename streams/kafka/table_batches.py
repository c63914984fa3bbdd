"""Many keys of one partition of a Faust table read and written at once: one RocksDB multi-get, one write batch.

`table[key] = value` costs Faust a trip through its producer buffer, its
sensors and a RocksDB put for every key. A hop that changes many keys of one
partition per record collects them here instead and applies them together:
the same key and value bytes Faust would store and send (the store's own
serializers), the same changelog partition (the record's), and the store's
persisted changelog offset moved as Faust moves it, so a restart replays only
what came after.

The changelog records are acknowledged before `apply` returns. The caller
applies before the record that caused the writes is acknowledged, so a table
change is on its changelog before that record's offset can be committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any

import rocksdict
from faust.types import TP

_DELETE = object()


def read_many(table: Any, partition: int, keys: Iterable[Any]) -> dict[Any, Any]:
    """key → its value in `table`'s partition `partition` (None where absent), in one RocksDB multi-get."""
    store = table.data
    wanted = list(keys)
    found = store._db_for_partition(partition).get([store._encode_key(key) for key in wanted])
    return {key: None if raw is None else store._decode_value(raw) for key, raw in zip(wanted, found, strict=True)}


class PartitionWrites:
    """Writes to `table` for changelog partition `partition`; the last write of a key wins."""

    def __init__(self, table: Any, partition: int):
        self.table = table
        self.partition = partition
        self._writes: dict[Any, Any] = {}

    def __setitem__(self, key: Any, value: Any) -> None:
        self._writes[key] = value

    def __delitem__(self, key: Any) -> None:
        self._writes[key] = _DELETE

    def __len__(self) -> int:
        return len(self._writes)

    async def apply(self, producer: Any) -> None:
        """Stores every write and waits for its changelog record; `producer` is the app's (Faust's) producer."""
        if not self._writes:
            return
        store = self.table.data
        batch = rocksdict.WriteBatch(raw_mode=True)
        records: list[tuple[bytes, bytes | None]] = []
        for key, value in self._writes.items():
            key_bytes = store._encode_key(key)
            if value is _DELETE:
                batch.delete(key_bytes)
                store._key_index.pop(key_bytes, None)
                records.append((key_bytes, None))
            else:
                value_bytes = store._encode_value(value)
                batch.put(key_bytes, value_bytes)
                store._key_index[key_bytes] = self.partition
                records.append((key_bytes, value_bytes))
        self._writes.clear()
        store._db_for_partition(self.partition).write(batch)
        topic = self.table.changelog_topic.get_topic_name()
        last = await send_in_batches(producer._ensure_producer(), topic, self.partition, records)
        store.set_persisted_offset(TP(topic, self.partition), last)


async def send_in_batches(sender: Any, topic: str, partition: int, records: list[tuple[bytes, bytes | None]]) -> int:
    """Sends `records` to one partition as whole producer batches (aiokafka's `sender`); returns the last offset.

    One future per batch instead of one per record: the per-record send was most of a hop's write time.
    """
    deliveries: list[tuple[Awaitable[Any], int]] = []
    batch, count = sender.create_batch(), 0
    for key, value in records:
        if batch.append(key=key, value=value, timestamp=None) is None:  # full
            deliveries.append((await sender.send_batch(batch, topic, partition=partition), count))
            batch, count = sender.create_batch(), 0
            if batch.append(key=key, value=value, timestamp=None) is None:
                raise ValueError(f"a {topic} record of {len(key) + len(value or b'')} bytes exceeds a producer batch")
        count += 1
    if count:
        deliveries.append((await sender.send_batch(batch, topic, partition=partition), count))
    delivered = await asyncio.gather(*(future for future, _ in deliveries))
    # A batch's metadata holds its first record's offset.
    return max(metadata.offset + count - 1 for metadata, (_, count) in zip(delivered, deliveries, strict=True))
