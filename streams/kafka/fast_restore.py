"""Table partitions restored from their changelogs at the broker's pace, before Faust's recovery starts.

Faust replays a changelog one record at a time through its stream machinery:
a worker that takes over partitions with an empty data directory spent most
of five minutes on 1.2M records. Here a plain consumer reads each assigned
changelog partition (active and standby) in large batches from the offset
the partition's RocksDB already holds to the true end, and writes each batch
with one RocksDB write batch: the same key and value bytes Faust writes, and,
in the same write batch, the offset Faust keeps beside them. Faust's own
recovery then starts at that offset and finds nothing left to replay.

It runs at the first step of each recovery round, where Faust waits without
a time limit and gives up the round when another rebalance starts: a new
rebalance stops the restore between two batches, and each written batch holds
its own offset, so nothing is written twice or skipped. The partitions are
paused for Faust's fetcher meanwhile (Faust pauses them on assignment).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import rocksdict
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.tables import TableManager
from faust.tables.recovery import Recovery
from faust.types import TP

from streams.kafka import failpoints
from streams.kafka.end_offsets import end_offsets

log = logging.getLogger("lapsewatch.restore")
PROGRESS_SECONDS = 5.0


@dataclass(frozen=True)
class RestoreOptions:
    bootstrap: str  # host:port,...
    client_options: dict = field(default_factory=dict, repr=False)  # aiokafka security options
    batch_records: int = 50_000  # records per RocksDB write batch: bounds the memory a restore holds


@dataclass
class Progress:
    records: int = 0
    partitions: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        return self.records / max(time.monotonic() - self.started, 1e-9)


async def restore_partitions(
    consumer: AIOKafkaConsumer, targets: dict[TP, tuple[Any, int | None]], batch_records: int
) -> dict[TP, int]:
    """Writes every changelog record after each partition's held offset into its table's store.

    `targets`: changelog partition → (table, the offset its store holds or None). Returns the offset
    each partition holds after the restore, for the partitions it read.
    """
    partitions = [TopicPartition(tp.topic, tp.partition) for tp in targets]
    ends = await end_offsets(consumer, partitions)
    starts = await consumer.beginning_offsets(partitions)
    todo: dict[TopicPartition, int] = {}
    for tp, (_, held) in targets.items():
        tpk = TopicPartition(tp.topic, tp.partition)
        start = max(-1 if held is None else held + 1, starts[tpk])
        if start < ends[tpk]:
            todo[tpk] = start
    if not todo:
        return {}
    consumer.assign(list(todo))
    for tpk, start in todo.items():
        consumer.seek(tpk, start)
    progress = Progress(partitions=len(todo))
    total = sum(ends[tpk] - start for tpk, start in todo.items())
    log.info("restoring %d changelog partitions from the broker: up to %d records", len(todo), total)
    reported = time.monotonic()
    held_now: dict[TP, int] = {}
    while todo:
        fetched = await consumer.getmany(*todo, timeout_ms=500, max_records=batch_records)
        for tpk, records in fetched.items():
            if not records:
                continue
            tp = TP(tpk.topic, tpk.partition)
            table = targets[tp][0]
            _write(table.data, tp.partition, records)
            failpoints.reach("restore-batch")
            held_now[tp] = records[-1].offset
            progress.records += len(records)
        for tpk in list(todo):
            # The position, not the last record: compaction and transaction markers leave gaps.
            if await consumer.position(tpk) >= ends[tpk]:
                del todo[tpk]
                consumer.pause(tpk)
        if time.monotonic() - reported >= PROGRESS_SECONDS:
            reported = time.monotonic()
            log.info("restored %d of %d changelog records (%.0f/s)", progress.records, total, progress.rate)
    log.info(
        "restored %d changelog records of %d partitions in %.1f s (%.0f/s)",
        progress.records,
        progress.partitions,
        time.monotonic() - progress.started,
        progress.rate,
    )
    return held_now


def _write(store: Any, partition: int, records: list) -> None:
    """One write batch: the records in order, and the offset the partition then holds (Faust's key and format)."""
    batch = rocksdict.WriteBatch(raw_mode=True)
    for record in records:
        if record.value is None:
            batch.delete(record.key)
        else:
            batch.put(record.key, record.value)
    batch.put(store.offset_key, str(records[-1].offset).encode())
    store._db_for_partition(partition).write(batch)


class FastRecovery(Recovery):
    options: RestoreOptions  # set by table_manager()
    _restore_due = False

    async def on_rebalance(self, assigned, revoked, newly_assigned, generation_id: int = 0) -> None:
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)
        if generation_id == self.app.consumer_generation_id:  # Faust started a recovery round for it
            self._restore_due = True

    async def _wait(self, coro: Any, timeout: Any = None) -> None:
        if self._restore_due:
            try:
                await super()._wait(self._restore(), timeout=None)
            except BaseException:
                if asyncio.iscoroutine(coro):
                    coro.close()
                raise
            self._restore_due = False
        await super()._wait(coro, timeout)

    async def _restore(self) -> None:
        self.flush_buffers()  # records Faust holds from before go in first, in order
        targets: dict[TP, tuple[Any, int | None]] = {}
        for tps, offsets in ((self.active_tps, self.active_offsets), (self.standby_tps, self.standby_offsets)):
            for tp in tps:
                table = self.tp_to_table.get(tp)
                if table is not None:
                    targets[TP(tp.topic, tp.partition)] = (table, offsets.get(tp))
        if not targets:
            return
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.options.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # retention moved the log start meanwhile: what is left, not the end
            fetch_max_bytes=64 * 1024**2,
            max_partition_fetch_bytes=16 * 1024**2,
            **self.options.client_options,
        )
        await consumer.start()
        try:
            held = await restore_partitions(consumer, targets, self.options.batch_records)
        finally:
            await consumer.stop()
        for tp, offset in held.items():
            offsets_of = self.active_offsets if tp in self.active_tps else self.standby_offsets
            offsets_of[tp] = offset


def table_manager(options: RestoreOptions) -> type[TableManager]:
    """Faust's TableManager setting: its recovery restores with `options` first."""
    recovery_class = type("FastRecovery", (FastRecovery,), {"options": options})

    class FastRestoreTableManager(TableManager):
        @property
        def recovery(self) -> Recovery:
            if self._recovery is None:
                self._recovery = recovery_class(self.app, self, beacon=self.beacon, loop=self.loop)
            return self._recovery

    return FastRestoreTableManager
