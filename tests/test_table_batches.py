"""PartitionWrites and read_many against Faust's own table path, in one Faust app in the test process.

One agent applies the same operations to two tables of the same (untyped,
JSON) kind: through Faust (`table[key] = value`, `del table[key]` inside the
stream event) for one, through PartitionWrites for the other. The two must end
up byte for byte alike: RocksDB contents per partition, changelog records (key,
value, headers, partition, offset), tombstones for deletes, and the persisted
changelog offset each store keeps. read_many is checked against `table.get` on
the same event, before and after each event's writes.
"""

from __future__ import annotations

import asyncio
import json

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faust.types import TP

from streams.kafka.end_offsets import end_offsets
from streams.kafka.table_batches import PartitionWrites, read_many
from tests.harness import faust_app_in_process, run_faust_as_lapsewatch_does, unique, wait_for

pytestmark = pytest.mark.broker

PARTITIONS = 3
DEADLINE = 30.0  # seconds for any one wait; the whole test takes a few

# Per event: the partition it is sent to and its operations, each key at most once per event (Faust sends a
# record per operation, PartitionWrites one per key: with one operation per key both send the same records).
# Partition 2 gets an event with nothing to write: neither path may send or store anything for it.
EVENTS: list[tuple[int, list[list]]] = [
    (0, [["set", "acct-1", {"addresses": ["a@shop.example"], "n": 1}], ["set", "acct-2", [1, 2, 3]]]),
    (1, [["set", "shop.example", {"members": {"acct-1": "a@shop.example"}, "pages": 0}], ["set", "ü-ключ", "text"]]),
    (0, [["set", "acct-1", {"addresses": [], "n": 2}], ["del", "acct-2"], ["del", "never-written"]]),
    (2, []),
    (1, [["del", "shop.example"], ["set", "shop.example#page-0", {"rows": list(range(50))}], ["set", "n", 7]]),
    (0, [["set", "acct-2", {"back": True}], ["set", "acct-3", 0.5]]),
    (1, [["set", "ü-ключ", None]]),  # a value of None is JSON null for both, not a tombstone
]
ABSENT = "no-such-key"


def events_for(partition: int) -> list[list]:
    return [ops for p, ops in EVENTS if p == partition]


def changelog_count(partition: int) -> int:
    return sum(len(ops) for ops in events_for(partition))


async def read_all(bootstrap: str, topic: str) -> dict[int, list[tuple]]:
    """partition → [(offset, key, value, headers)], from the first record to the true end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        ends = await end_offsets(consumer, partitions)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: dict[int, list[tuple]] = {p: [] for p in range(PARTITIONS)}

        async def done() -> bool:
            return all([await consumer.position(tp) >= ends[tp] for tp in partitions])

        async def drain() -> None:
            while not await done():
                for tp, batch in (await consumer.getmany(timeout_ms=200)).items():
                    records[tp.partition] += [(r.offset, r.key, r.value, tuple(r.headers)) for r in batch]

        await asyncio.wait_for(drain(), DEADLINE)
        return records
    finally:
        await consumer.stop()


def raw_contents(table) -> dict[int, dict[bytes, bytes]]:
    """partition → every key and value of the table's RocksDB for it (the offset key included), as bytes."""
    store = table.data
    return {p: dict(store._db_for_partition(p).items()) for p in range(PARTITIONS)}


async def test_partition_writes_store_and_send_what_faust_does(broker_url, tmp_path, monkeypatch):
    run_faust_as_lapsewatch_does(monkeypatch)  # none of the fixes changes what a table writes
    bootstrap = broker_url.split("://", 1)[1]
    app_id = unique("lw-table-batches")
    source_name = f"{app_id}-source"
    app = await faust_app_in_process(broker_url, app_id, tmp_path / "data", PARTITIONS)
    source = app.topic(source_name, key_serializer="raw", value_serializer="raw")
    by_faust = app.Table("by-faust", partitions=PARTITIONS)
    by_batch = app.Table("by-batch", partitions=PARTITIONS)
    handled: list[int] = []
    reads: list[tuple[str, dict, dict, dict]] = []  # (when, read_many, by_batch.get, by_faust.get)
    failures: list[BaseException] = []

    def read(when: str, partition: int, keys: list) -> None:
        reads.append(
            (
                f"{when} {partition}",
                read_many(by_batch, partition, keys),
                {key: by_batch.get(key) for key in keys},
                {key: by_faust.get(key) for key in keys},
            )
        )

    @app.agent(source)
    async def apply(stream):
        async for event in stream.events():
            partition = event.message.partition
            try:
                ops = orjson.loads(event.value)
                keys = [op[1] for op in ops] + [ABSENT]
                read("before", partition, keys)
                writes = PartitionWrites(by_batch, partition)
                for op in ops:
                    if op[0] == "set":
                        by_faust[op[1]] = op[2]
                        writes[op[1]] = op[2]
                    else:
                        del by_faust[op[1]]
                        del writes[op[1]]
                assert len(writes) == len(ops)
                await writes.apply(app.producer)
                assert len(writes) == 0  # applied writes are not applied again
                read("after", partition, keys)
            except BaseException as exc:  # reported by the test, not lost in the agent
                failures.append(exc)
                raise
            finally:
                handled.append(partition)

    try:
        await asyncio.wait_for(app.start(), DEADLINE)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for partition, ops in EVENTS:
                await producer.send_and_wait(source_name, key=b"k", value=orjson.dumps(ops), partition=partition)
        finally:
            await producer.stop()
        await wait_for(lambda: len(handled) == len(EVENTS) or failures, DEADLINE, "the agent to handle every event")
        assert not failures, failures
        faust_tps = {p: TP(by_faust.changelog_topic.get_topic_name(), p) for p in range(PARTITIONS)}
        batch_tps = {p: TP(by_batch.changelog_topic.get_topic_name(), p) for p in range(PARTITIONS)}
        last = {p: changelog_count(p) - 1 if changelog_count(p) else None for p in range(PARTITIONS)}
        # PartitionWrites has its records delivered and its offset moved by the time apply returns.
        assert {p: by_batch.data.persisted_offset(tp) for p, tp in batch_tps.items()} == last
        # Faust sends from a buffer and moves the offset as each delivery completes.
        await wait_for(
            lambda: {p: by_faust.data.persisted_offset(tp) for p, tp in faust_tps.items()} == last,
            DEADLINE,
            "Faust's changelog records to be delivered",
        )

        faust_log = await read_all(bootstrap, by_faust.changelog_topic.get_topic_name())
        batch_log = await read_all(bootstrap, by_batch.changelog_topic.get_topic_name())
        assert batch_log == faust_log
        for p in range(PARTITIONS):
            expected = [(op[1], op[2] if op[0] == "set" else "tombstone") for ops in events_for(p) for op in ops]
            got = [(json.loads(k), "tombstone" if v is None else json.loads(v)) for _, k, v, _ in batch_log[p]]
            assert got == expected, f"partition {p}"
            assert [offset for offset, *_ in batch_log[p]] == list(range(len(expected)))

        faust_db = raw_contents(by_faust)
        batch_db = raw_contents(by_batch)
        assert batch_db == faust_db
        offset_key = by_batch.data.offset_key
        assert {p: batch_db[p].get(offset_key) for p in range(PARTITIONS)} == {
            p: None if last[p] is None else str(last[p]).encode() for p in range(PARTITIONS)
        }
        assert {json.loads(k): json.loads(v) for k, v in batch_db[0].items() if k != offset_key} == {
            "acct-1": {"addresses": [], "n": 2},
            "acct-2": {"back": True},
            "acct-3": 0.5,
        }

        assert len(reads) == 2 * len(EVENTS)
        for when, many, got, faust_got in reads:
            assert many == got == faust_got, when
        assert all(many[ABSENT] is None for _, many, _, _ in reads)
        first_after_on_1 = next(many for when, many, _, _ in reads if when == "after 1")
        assert first_after_on_1 == {
            "shop.example": {"members": {"acct-1": "a@shop.example"}, "pages": 0},
            "ü-ключ": "text",
            ABSENT: None,
        }
    finally:
        await asyncio.wait_for(app.stop(), DEADLINE)
