"""restore_partitions against a real changelog on the broker and real Faust RocksDB stores.

The changelogs hold records shaped like Faust's (JSON keys and values from
Faust's own codec, keys overwritten, tombstones, several partitions, one
empty), produced in multi-record batches as Faust's producer sends them (the
batches Tansu's ListOffsets under-reports). Each restored store is compared
with the model (every key's latest value, tombstoned keys gone, the offset
key at the last offset) and with what Faust's own changelog replay
(`Store.apply_changelog_batch`) writes from the same records.

The last test runs a Faust app with table_manager's TableManager over a
filled changelog: the fast restore fills the table and Faust's own recovery
finds nothing left to replay.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import SimpleNamespace

import faust
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faust.serializers import codecs
from faust.types import TP

from streams.kafka import fast_restore
from tests.harness import faust_app_in_process, run_faust_as_lapsewatch_does, unique, wait_for

pytestmark = pytest.mark.broker

DEADLINE = 30.0  # seconds for any one wait; a restore test takes well under one, the app test about five
PARTITIONS = 4
EMPTY = 3  # the partition no record goes to

Record = tuple[int, object, object]  # (partition, key, value or None for a tombstone)


def encode(obj: object) -> bytes:
    return codecs.dumps("json", obj)  # the tables' default codec: Faust's changelog bytes


def faust_shaped_records() -> list[Record]:
    """Partition 0: ten accounts written over and over, some deleted, one deleted and written again;
    partition 1: a few, with a tombstone for a key never written; partition 2: one record; partition 3: none."""
    records: list[Record] = []
    for round_ in range(4):
        for n in range(10):
            records.append((0, f"acct-{n}", {"round": round_, "addresses": [f"a{n}@shop-{round_}.example"]}))
    records += [(0, "acct-3", None), (0, "acct-7", None), (0, "acct-5", None), (0, "acct-5", {"back": True})]
    records += [
        (1, "shop.example", {"members": {"acct-1": "a@shop.example"}, "pages": 1}),
        (1, "shop.example#0", {"rows": list(range(40))}),
        (1, "never-written", None),
        (1, "ü-ключ", "text"),
        (1, "shop.example#0", None),
        (1, "shop.example", {"members": {}, "pages": 0}),
        (1, "n", 7),
    ]
    records.append((2, "only", [1, 2, 3]))
    return records


def model(records: list[Record]) -> dict[int, dict[bytes, bytes]]:
    """partition → key bytes → the latest value's bytes, tombstoned keys left out."""
    state: dict[int, dict[bytes, bytes]] = {p: {} for p in range(PARTITIONS)}
    for partition, key, value in records:
        if value is None:
            state[partition].pop(encode(key), None)
        else:
            state[partition][encode(key)] = encode(value)
    return state


class Changelog:
    """A changelog topic on the broker and the offset each record got."""

    def __init__(self, bootstrap: str, name: str):
        self.bootstrap = bootstrap
        self.name = name
        self.offsets: list[tuple[int, int]] = []  # (partition, offset) of each record sent, in order

    async def create(self) -> Changelog:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(self.name, PARTITIONS, 1, topic_configs={"cleanup.policy": "compact"})])
        finally:
            await admin.close()
        return self

    async def send(self, records: list[Record]) -> None:
        # A linger, so records go in batches of several, as Faust's producer sends them.
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=20)
        await producer.start()
        try:
            sent = [
                await producer.send(
                    self.name, key=encode(key), value=None if value is None else encode(value), partition=partition
                )
                for partition, key, value in records
            ]
            delivered = await asyncio.wait_for(asyncio.gather(*sent), DEADLINE)
        finally:
            await producer.stop()
        self.offsets += [(metadata.partition, metadata.offset) for metadata in delivered]

    def last(self, partition: int) -> int | None:
        return max((offset for p, offset in self.offsets if p == partition), default=None)

    def tp(self, partition: int) -> TP:
        return TP(self.name, partition)

    async def read(self) -> list:
        """Every record, as a consumer returns them (for Faust's own replay)."""
        consumer = AIOKafkaConsumer(
            self.name, bootstrap_servers=self.bootstrap, group_id=None, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            records: list = []

            async def drain() -> None:
                while len(records) < len(self.offsets):
                    for batch in (await consumer.getmany(timeout_ms=200)).values():
                        records.extend(batch)

            await asyncio.wait_for(drain(), DEADLINE)
            return records
        finally:
            await consumer.stop()


def a_table(tmp: Path, name: str = "t"):
    """A table of an un-started Faust app: its store is Faust's RocksDB store under `tmp`."""
    app = faust.App(unique("lw-restore"), store="rocksdb://", datadir=str(tmp))
    app.conf.tabledir.mkdir(parents=True, exist_ok=True)
    return app.Table(name, partitions=PARTITIONS)


def contents(table) -> dict[int, dict[bytes, bytes]]:
    """partition → the table's RocksDB for it, without Faust's offset key."""
    store = table.data
    return {
        p: {key: value for key, value in store._db_for_partition(p).items() if key != store.offset_key}
        for p in range(PARTITIONS)
    }


def held(table, changelog: Changelog) -> dict[int, int | None]:
    return {p: table.data.persisted_offset(changelog.tp(p)) for p in range(PARTITIONS)}


def close(*tables) -> None:
    for table in tables:
        for db in table.data._dbs.values():
            db.close()


async def restore(bootstrap: str, targets: dict, batch_records: int = 50_000) -> dict[TP, int]:
    """restore_partitions with a consumer made as FastRecovery makes it."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        return await asyncio.wait_for(fast_restore.restore_partitions(consumer, targets, batch_records), DEADLINE)
    finally:
        await consumer.stop()


@pytest.fixture
def written(monkeypatch) -> list[tuple[int, list[int]]]:
    """Each write batch restore_partitions makes: (partition, the offsets of its records)."""
    batches: list[tuple[int, list[int]]] = []
    write = fast_restore._write

    def recording_write(store, partition: int, records: list) -> None:
        batches.append((partition, [record.offset for record in records]))
        write(store, partition, records)

    monkeypatch.setattr(fast_restore, "_write", recording_write)
    return batches


@pytest.fixture
async def changelog(broker_url) -> Changelog:
    """A changelog filled with faust_shaped_records()."""
    log = await Changelog(broker_url.split("://", 1)[1], unique("lw-restore-changelog")).create()
    await log.send(faust_shaped_records())
    return log


async def test_a_restore_holds_each_key_latest_value_and_the_last_offset(changelog, tmp_path, written):
    table = a_table(tmp_path / "fast")
    try:
        got = await restore(changelog.bootstrap, {changelog.tp(p): (table, None) for p in range(PARTITIONS)})
        last = {p: changelog.last(p) for p in range(PARTITIONS)}
        assert last[EMPTY] is None and all(last[p] is not None for p in range(PARTITIONS) if p != EMPTY)
        assert got == {changelog.tp(p): last[p] for p in range(PARTITIONS) if p != EMPTY}
        assert held(table, changelog) == last
        expected = model(faust_shaped_records())
        assert contents(table) == expected
        assert encode("acct-5") in expected[0] and encode("acct-3") not in expected[0]  # the model is not trivial
        assert encode("never-written") not in expected[1] and encode("shop.example#0") not in expected[1]
        assert {p for p, _ in written} == {0, 1, 2}  # nothing read for the empty partition

        # What Faust's own replay of the same records writes, offset key included.
        replayed = a_table(tmp_path / "faust")
        try:
            records = await changelog.read()
            events = [
                SimpleNamespace(
                    message=SimpleNamespace(
                        tp=TP(r.topic, r.partition), offset=r.offset, partition=r.partition, key=r.key, value=r.value
                    )
                )
                for r in records
            ]
            replayed.data.apply_changelog_batch(events, to_key=None, to_value=None)
            assert contents(table) == contents(replayed)
            assert held(table, changelog) == held(replayed, changelog)
        finally:
            close(replayed)
    finally:
        close(table)


async def test_small_batches_restore_the_same_store(changelog, tmp_path, written):
    whole, small = a_table(tmp_path / "whole"), a_table(tmp_path / "small")
    try:
        await restore(changelog.bootstrap, {changelog.tp(p): (whole, None) for p in range(PARTITIONS)})
        whole_batches = len(written)
        got = await restore(changelog.bootstrap, {changelog.tp(p): (small, None) for p in range(PARTITIONS)}, 3)
        small_batches = written[whole_batches:]
        assert len(small_batches) >= len(changelog.offsets) // 3  # many batches indeed, none over the limit
        assert all(len(offsets) <= 3 for _, offsets in small_batches)
        # Every record written once, in order.
        for p in range(PARTITIONS):
            offsets = [o for partition, batch in small_batches if partition == p for o in batch]
            assert offsets == sorted(offset for q, offset in changelog.offsets if q == p)
        assert got == {changelog.tp(p): changelog.last(p) for p in range(PARTITIONS) if p != EMPTY}
        assert contents(small) == contents(whole) == model(faust_shaped_records())
        assert held(small, changelog) == held(whole, changelog) == {p: changelog.last(p) for p in range(PARTITIONS)}
    finally:
        close(whole, small)


async def test_a_restore_from_a_held_offset_reads_only_what_follows_it(broker_url, tmp_path, written):
    log = await Changelog(broker_url.split("://", 1)[1], unique("lw-restore-changelog")).create()
    # Offsets 0..5 of partition 0, each key written once: which keys the store holds shows where the read began.
    first = [(0, f"k{n}", {"n": n}) for n in range(6)]
    await log.send(first)
    assert log.offsets == [(0, n) for n in range(6)]
    table = a_table(tmp_path)
    try:
        got = await restore(log.bootstrap, {log.tp(0): (table, 2)})  # the store holds up to offset 2
        assert [offsets for _, offsets in written] == [[3, 4, 5]]
        assert contents(table)[0] == {encode(f"k{n}"): encode({"n": n}) for n in (3, 4, 5)}
        assert got == {log.tp(0): 5} and held(table, log)[0] == 5

        # More records come; the next restore starts from the offset the store now holds.
        more = [(0, "k4", None), (0, "k9", {"n": 9}), (0, "k3", {"n": 33})]
        await log.send(more)
        written.clear()
        got = await restore(log.bootstrap, {log.tp(0): (table, table.data.persisted_offset(log.tp(0)))}, 2)
        assert [o for _, offsets in written for o in offsets] == [6, 7, 8]
        never_read = {encode(f"k{n}") for n in range(3)}  # written at or before the first held offset
        assert contents(table)[0] == {k: v for k, v in model(first + more)[0].items() if k not in never_read}
        assert got == {log.tp(0): 8} and held(table, log)[0] == 8
    finally:
        close(table)


async def test_an_empty_or_fully_restored_partition_reads_nothing(changelog, tmp_path, written):
    table = a_table(tmp_path)
    try:
        done = {p: changelog.last(p) for p in (0, 2)}
        for p, offset in done.items():
            table.data.set_persisted_offset(changelog.tp(p), offset)
        targets = {changelog.tp(EMPTY): (table, None), **{changelog.tp(p): (table, o) for p, o in done.items()}}
        assert await restore(changelog.bootstrap, targets) == {}
        assert written == []
        assert contents(table) == {p: {} for p in range(PARTITIONS)}
        assert held(table, changelog) == {0: done[0], 1: None, 2: done[2], EMPTY: None}

        # With one partition still to read among them, only that one is read.
        targets[changelog.tp(1)] = (table, None)
        assert await restore(changelog.bootstrap, targets) == {changelog.tp(1): changelog.last(1)}
        assert {p for p, _ in written} == {1}
        assert contents(table)[1] == model(faust_shaped_records())[1]
    finally:
        close(table)


async def test_a_faust_app_starts_with_its_table_restored_by_the_fast_path(
    broker_url, tmp_path, monkeypatch, caplog, written
):
    """table_manager's TableManager in a running app: the table is restored before Faust's recovery, in
    batches of `batch_records`, and Faust's own changelog replay applies nothing."""
    run_faust_as_lapsewatch_does(monkeypatch)
    bootstrap = broker_url.split("://", 1)[1]
    app_id = unique("lw-fast-restore")
    log = await Changelog(bootstrap, f"{app_id}-t-changelog").create()
    await log.send(faust_shaped_records())
    app = await faust_app_in_process(
        broker_url,
        app_id,
        tmp_path / "data",
        PARTITIONS,
        TableManager=fast_restore.table_manager(fast_restore.RestoreOptions(bootstrap, batch_records=5)),
    )
    table = app.Table("t", partitions=PARTITIONS)
    replayed_by_faust: list[int] = []
    apply_changelog_batch = table.apply_changelog_batch

    def counting_apply(batch):
        batch = list(batch)
        replayed_by_faust.append(len(batch))
        apply_changelog_batch(batch)

    table.apply_changelog_batch = counting_apply

    @app.agent(app.topic(f"{app_id}-source", key_serializer="raw", value_serializer="raw"))
    async def reads_nothing(stream):
        async for _ in stream:
            pass

    assert isinstance(app.tables.recovery, fast_restore.FastRecovery)
    caplog.set_level(logging.INFO, logger="lapsewatch.restore")
    try:
        await asyncio.wait_for(app.start(), DEADLINE)
        await wait_for(lambda: app.tables.recovery.completed.is_set(), DEADLINE, "table recovery to complete")
        assert sum(replayed_by_faust) == 0, replayed_by_faust
        assert len(written) >= len(log.offsets) // 5
        assert contents(table) == model(faust_shaped_records())
        assert held(table, log) == {p: log.last(p) for p in range(PARTITIONS)}
        assert f"restored {len(log.offsets)} changelog records of 3 partitions" in caplog.text
    finally:
        await asyncio.wait_for(app.stop(), DEADLINE)
