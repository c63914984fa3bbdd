"""Corrections to faust-streaming 0.15.3 that at-least-once processing depends on.

Each was found by killing a worker mid-batch on a loaded machine
(tests/test_batching.py) and each lost input without it:

1. `ProducerBuffer.flush()` gives up after 0.1 s without a message sent, so
   the offset commit that calls it could go out before the tables' changelog
   records, and even when it waits it ignores the message being sent. `drain`
   waits until the buffer is empty and nothing is in the middle of a send.
2. After a rebalance Faust resumes the stream partitions, then seeks them to
   their committed offsets, then clears the stream queues. The fetcher keeps
   delivering while the seek runs, so a batch straddles the new read offsets
   (its records are marked as a gap, acknowledged and never processed), and a
   partition with no committed offset is not rewound at all (aiokafka seeks
   only those with one), so whatever the queues held is gone. `seek` holds
   the fetcher off during the seek and rewinds uncommitted partitions to their
   beginning; a batch fetched before a seek is delivered only for partitions
   the seek did not move. At worst records are processed twice, which
   lapsewatch's handlers tolerate, never not at all.
   A stream also skips, without a word, a record stamped with an older
   consumer generation: a batch fetched before a rebalance and delivered
   after it is dropped and its partitions read again from its first record.

3. Recovery reads a changelog up to the end offset ListOffsets reports, which
   Tansu under-reports after a batch of several records: `_highwaters` takes
   the true ones (streams/kafka/end_offsets.py).

4. Faust reads the committed offset as the last record processed, where
   Kafka means the next one to process: with that record skipped and the
   next acknowledged, it commits past the skipped one. `_new_offset`
   commits only from the committed offset (or the log's first record), and
   a record fetched but still unprocessed a whole commit interval later is
   read again: a safety net for any drop not found yet, which logs a
   warning when it acts.

5. Even so, a stream has been seen, under load after a takeover, to hand a
   hop the record after its committed offset without the one at it (found
   by tests/test_two_workers.py; the drop's cause inside Faust is not
   pinned down). The hops' handlers are order-sensitive, so they read
   through `in_offset_order`: a record past the next offset to apply is
   held back, unacknowledged, and the partition read again from the
   missing one; a record below it is not applied twice (offset_order.py).

6. The RocksDB store remembers the encoded key of up to 1,000 keys per table
   (`_key_index`), and orjson's output keeps a 4 KiB buffer whatever its
   length: 8 MiB per worker held for short keys. `_encode_key` hands back an
   exact-size copy.

And one limit made a setting: Faust builds its consumer with a hard-coded
`fetch_max_wait_ms=1500`, so a broker that holds fetches to the end of the
wait (Tansu does, over several partitions) adds up to 1.5 s per hop.
`install()` applies them once; streams/app.py calls it before the app
exists, with LAPSEWATCH_BROKER_FETCH_MAX_WAIT. It refuses any faust-streaming
but the one they were written for (pyproject.toml pins it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from importlib import metadata
from typing import Any

from aiokafka import TopicPartition
from faust.stores import base as stores_base
from faust.transport import consumer as consumers
from faust.transport import producer as producers
from faust.transport.drivers import aiokafka as aiokafka_driver

from streams.kafka import failpoints
from streams.kafka.end_offsets import end_offsets
from streams.kafka.offset_order import OffsetOrder, Verdict

log = logging.getLogger("lapsewatch.faust")

# The release these fixes were written and tested against (pyproject.toml pins it).
FAUST_VERSION = "0.15.3"

# Set for a partition with no committed offset when its log start is unknown:
# Faust's commit logic then waits for offset 0 to be acknowledged.
NOTHING_COMMITTED = -1


async def drain(buffer: producers.ProducerBuffer) -> None:
    """Waits until every buffered message has been handed to the client (ProducerBuffer.flush)."""
    while buffer.size or getattr(buffer, "_lapsewatch_sending", 0):
        if buffer.state != "running":
            raise RuntimeError("Cannot flush: Producer not Running")
        buffer.message_sent.clear()
        try:
            await asyncio.wait_for(buffer.message_sent.wait(), timeout=1.0)
        except TimeoutError:
            log.warning("producer buffer: %d messages still waiting to be sent", buffer.size)


def _counted(send_pending):
    # The message being sent has left the queue: `size` no longer counts it.
    async def send_counted(self, fut) -> None:
        self._lapsewatch_sending = getattr(self, "_lapsewatch_sending", 0) + 1
        try:
            await send_pending(self, fut)
        finally:
            self._lapsewatch_sending -= 1

    return send_counted


def _fetch_lock(consumer: Any) -> asyncio.Lock:
    lock = getattr(consumer, "_lapsewatch_fetch_lock", None)
    if lock is None:
        lock = consumer._lapsewatch_fetch_lock = asyncio.Lock()
    return lock


async def _still_current(consumer: Any, items: list) -> list:
    """The records of partitions no seek has moved since they were fetched (a seek refetches the others)."""
    last: dict = {}
    for tp, message in items:
        last[tp] = message.offset
    moved = set()
    for tp, offset in last.items():
        try:
            position = await consumer._thread.position(TopicPartition(tp.topic, tp.partition))
        except Exception:  # revoked meanwhile: whoever owns it now reads it from the committed offset
            position = None
        if position != offset + 1:
            moved.add(tp)
    if moved:
        log.info(
            "dropped a fetched batch of %s: a seek moved them, their records are read again",
            sorted(f"{tp.topic}[{tp.partition}]" for tp in moved),
        )
    return [(tp, message) for tp, message in items if tp not in moved]


async def _of_this_generation(consumer: Any, items: list) -> list:
    """The records fetched in the current consumer generation; the others are read again.

    A stream silently skips a record stamped with an older generation, while the
    fetch position has already moved past it: a batch fetched before a rebalance
    and delivered after it would be lost. Its partitions, if still ours, are
    sought back to the first such record.
    """
    generation = consumer.app.consumer_generation_id
    changelogs = consumer.app.tables.changelog_topics  # read by table recovery, not by a stream
    stale: dict = {}
    fresh = []
    for tp, message in items:
        if tp.topic not in changelogs and (tp in stale or message.generation_id != generation):
            stale.setdefault(tp, message.offset)
        else:
            fresh.append((tp, message))
    if stale:
        assigned = consumer.assignment()
        for tp, offset in stale.items():
            if tp in assigned:
                await consumer.seek(tp, offset)
        log.info(
            "read again from %s: fetched before the rebalance",
            sorted(f"{tp.topic}[{tp.partition}]@{offset}" for tp, offset in stale.items()),
        )
    return fresh


def _guarded_getmany(getmany):
    async def getmany_under_lock(self, timeout: float) -> AsyncIterator:
        seeks = getattr(self, "_lapsewatch_seeks", 0)
        # Fetch without the lock: the fetch waits for the flow to resume, which the seek precedes.
        items = [item async for item in getmany(self, timeout)]
        if not items:
            return
        # Deliver a batch whole, before or after a seek, never across one.
        async with _fetch_lock(self):
            if getattr(self, "_lapsewatch_seeks", 0) != seeks:
                items = await _still_current(self, items)
            items = await _of_this_generation(self, items)
            for item in items:
                yield item

    return getmany_under_lock


def _guarded_seek(perform_seek):
    async def seek(self) -> None:
        async with _fetch_lock(self):
            self._lapsewatch_seeks = getattr(self, "_lapsewatch_seeks", 0) + 1
            await perform_seek(self)
            changelogs = self.app.tables.changelog_topics
            streams = [tp for tp in self.assignment() if tp.topic not in changelogs]
            # perform_seek leaves the read offset None (or 0) where the group has no commit. Not
            # `_committed_offset`: it keeps NOTHING_COMMITTED from an earlier assignment of the partition.
            uncommitted = [tp for tp in streams if not self._read_offset.get(tp)]
            if uncommitted:
                await self._thread.seek_to_beginning(*(TopicPartition(tp.topic, tp.partition) for tp in uncommitted))
                for tp in uncommitted:
                    self._read_offset[tp] = None
                    self._committed_offset[tp] = NOTHING_COMMITTED
            await _floor_at_log_start(self, streams)
            for tp in streams:
                # Acks and gaps from before the seek describe records that are read again.
                self._acked[tp] = []
                self._acked_index[tp] = set()
                self._gap.pop(tp, None)
            order_of(self).restart({tp: self._committed_offset.get(tp) for tp in streams})

    return seek


async def _floor_at_log_start(consumer: Any, partitions: list) -> dict:
    """The next record to process is the committed offset, or the log's first record if that is later
    (nothing committed, or retention removed what was): the strict commit rule below counts from it.
    Returns the log starts ({} when the broker could not say)."""
    try:
        starts = await consumer._thread.earliest_offsets(*partitions)
    except Exception as exc:  # keep the committed offsets as they are rather than stall a rebalance or a re-read
        log.warning("log start offsets unavailable (%r): committed offsets not floored at them", exc)
        return {}
    for tp, start in starts.items():
        committed = consumer._committed_offset.get(tp)
        if start is not None and (committed is None or committed < start):
            consumer._committed_offset[tp] = start
    return starts


_new_offset_as_faust_has_it = consumers.Consumer._new_offset


def _acked_past_commit(consumer: Any, tp: Any) -> int | None:
    """The first acknowledged offset, where it lies past an unacknowledged record at the committed offset."""
    acked = consumer._acked.get(tp)
    committed = consumer._committed_offset.get(tp)
    if not acked or committed is None or committed < 0 or consumer._gap.get(tp):
        return None
    first: int = min(acked)
    return first if first > committed else None


def _strict_new_offset(new_offset):
    # Kafka's committed offset is the next record to process. Faust's `_new_offset` treats it as the last
    # one processed: with that record skipped and the next acknowledged, it commits past the skipped one.
    def _new_offset(self, tp):
        if _acked_past_commit(self, tp) is not None:
            return None  # the record at the committed offset is not processed yet
        return new_offset(self, tp)

    return _new_offset


def _mending_holes(commit):
    """A record fetched but never processed is read again.

    Acknowledgements come in offset order, so the record at the committed offset
    left unacknowledged for a whole commit interval, while a later one was
    acknowledged or while the fetch position is past it, was dropped on its way
    to the stream (around a rebalance). The strict rule keeps the commit from
    passing it; this reads it again, and its followers, which are tolerated twice.
    """

    async def commit_mending_holes(self, *args, **kwargs):
        if not self.app.rebalancing:
            await _mend_holes(self)
        return await commit(self, *args, **kwargs)

    return commit_mending_holes


async def _hole(consumer: Any, tp: Any) -> tuple[int, int] | None:
    """(the committed offset, what shows a record there went unprocessed), or None.

    Either a later record was acknowledged, or records from the committed offset
    on were fetched (the position is past it) and none was acknowledged.
    """
    committed = consumer._committed_offset.get(tp)
    if committed is None or committed < 0 or consumer._gap.get(tp) or _busy(consumer, tp.topic):
        return None
    if consumer._acked.get(tp):
        first = _acked_past_commit(consumer, tp)
        return None if first is None else (committed, first)
    position = await consumer._thread.position(TopicPartition(tp.topic, tp.partition))
    return (committed, position) if position is not None and position > committed else None


def _busy(consumer: Any, topic: str) -> bool:
    """A record of `topic` is with its agent now. A slow record (awaiting its sends, on a loaded machine)
    is neither acknowledged nor a hole, and the records fetched behind it wait in the stream's queue:
    read again, they would be applied twice. A dropped record shows once the agent is idle."""
    return any(
        message.topic == topic and message.tracked and not message.acked for message in list(consumer._unacked_messages)
    )


def _in_background(tasks: set[asyncio.Task], coroutine: Any) -> asyncio.Task:
    task = asyncio.ensure_future(coroutine)
    tasks.add(task)  # held until done: the loop keeps only a weak reference
    task.add_done_callback(tasks.discard)
    task.add_done_callback(_log_failure)
    return task


def _log_failure(task: asyncio.Task) -> None:
    # A re-read that fails (the consumer stopping, a revoked partition) is asked again by what still sees the hole.
    if not task.cancelled() and task.exception() is not None:
        log.warning("a re-read failed: %r", task.exception())


_rereads: set[asyncio.Task] = set()  # every re-read in progress: the mender's and the hops'


async def _mend_holes(consumer: Any, now: float | None = None) -> list[asyncio.Task]:
    """Starts a re-read of each partition whose hole outlasted a commit interval; returns those re-reads."""
    changelogs = consumer.app.tables.changelog_topics
    seen: dict[Any, tuple[tuple[int, int], float]] = getattr(consumer, "_lapsewatch_holes", {})
    now = time.monotonic() if now is None else now
    started: list[asyncio.Task] = []
    remembered = {}
    for tp in consumer.assignment():
        if tp.topic in changelogs:
            continue
        hole = await _hole(consumer, tp)
        if hole is None:
            continue
        earlier, since = seen.get(tp, (None, now))
        since = since if earlier == hole else now
        remembered[tp] = (hole, since)
        if now - since >= consumer.commit_interval:  # unchanged for a whole commit interval
            # Not awaited: Faust commits from inside the delivery of a batch, which holds the fetch lock.
            started.append(_in_background(_rereads, read_again(consumer, tp, hole[0])))
            log.warning(
                "%s[%s]: the record at offset %d was never processed (acknowledged or fetched up to %d): "
                "reading again from it",
                tp.topic,
                tp.partition,
                hole[0],
                hole[1],
            )
            remembered[tp] = (hole, now + consumer.commit_interval)  # the re-read gets two intervals
    consumer._lapsewatch_holes = remembered
    return started


async def read_again(consumer: Any, tp: Any, offset: int) -> None:
    """Seeks `tp` back to `offset` between two delivered batches (a batch in delivery is dropped for it)."""
    async with _fetch_lock(consumer):
        consumer._lapsewatch_seeks = getattr(consumer, "_lapsewatch_seeks", 0) + 1
        if tp in consumer.assignment():
            await consumer.seek(tp, offset)


def order_of(consumer: Any) -> OffsetOrder:
    """The next offset each stream partition's hop must apply; restarted by every seek to the committed offsets."""
    order = getattr(consumer, "_lapsewatch_order", None)
    if order is None:
        order = consumer._lapsewatch_order = OffsetOrder()
    return order


def _withhold_ack(consumer: Any, message: Any) -> None:
    # Marked acknowledged so the stream's own ack records nothing: the commit cannot pass the record, and
    # nothing waits for it (`wait_empty`, `_busy`). It is read again.
    message.acked = True
    consumer._unacked_messages.discard(message)


async def _read_again_from(consumer: Any, order: OffsetOrder, tp: Any, offset: int) -> None:
    """The re-read of a held-back record's partition, from the missing offset, or from the log's start where
    retention removed the missing records (the only gap the hops' topics can have)."""
    start = (await _floor_at_log_start(consumer, [tp])).get(tp)
    if start is not None and order.log_starts_at(tp, start):
        log.error(
            "%s[%s]: offsets %d to %d were removed from the log before they were applied: going on from %d",
            tp.topic,
            tp.partition,
            offset,
            start - 1,
            start,
        )
        offset = start
    await read_again(consumer, tp, offset)


async def in_offset_order(stream: Any) -> AsyncIterator[Any]:
    """`stream.events()`, each record of a partition in offset order and once (offset_order.py)."""
    consumer = stream.app.consumer
    pending: dict[Any, asyncio.Task] = {}  # per partition, its latest re-read
    async for event in stream.events():
        message = event.message
        tp, offset = message.tp, message.offset
        order = order_of(consumer)
        verdict = order.verdict(tp, offset)
        if verdict is Verdict.APPLY and order.next_offset(tp) is not None and failpoints.passes("hop-drop"):
            _withhold_ack(consumer, message)  # the tests' stand-in for the drop: as if it had not come
            continue
        if verdict is Verdict.DUPLICATE:
            continue
        if verdict is Verdict.EARLY:
            _withhold_ack(consumer, message)
            if tp in pending and not pending[tp].done():
                continue  # records fetched before that re-read: it brings them again
            start = order.reread(tp, time.monotonic())
            if start is not None:
                log_at = log.error if order.rereads(tp) > 5 else log.warning
                log_at("%s[%s]: offset %d came before %d: reading again from it", tp.topic, tp.partition, offset, start)
                # Not awaited: the seek waits for the batch in delivery, which may wait for this agent.
                pending[tp] = _in_background(_rereads, _read_again_from(consumer, order, tp, start))
            continue
        yield event
        order.applied(tp, offset)


def _with_fetch_max_wait(create, milliseconds: int):
    def create_worker_consumer(self, transport):
        consumer = create(self, transport)
        consumer._fetch_max_wait_ms = milliseconds  # read when the consumer starts its fetcher
        return consumer

    return create_worker_consumer


async def _true_highwaters(self, partitions: list) -> dict:
    consumer = self._ensure_consumer()
    if self.consumer.in_transaction:
        return {tp: consumer.last_stable_offset(tp) for tp in partitions}
    return await end_offsets(consumer, partitions)


def _exact_size(encode_key):
    def _encode_key(self, key):
        return bytes(memoryview(encode_key(self, key)))  # bytes(b) would return b itself

    return _encode_key


class FaustVersionError(RuntimeError):
    """The installed faust-streaming is not the release these fixes were written for."""


def check_faust_version(installed: str) -> None:
    # They replace private internals (_acked, _gap, _send_pending, _highwaters,
    # _encode_key, ...): on another release a patch may miss or misfire, and
    # either way input is lost without a word. Another release means new fixes.
    if installed != FAUST_VERSION:
        raise FaustVersionError(
            f"faust-streaming {installed} is installed, but streams/kafka/faust_fixes.py was written for "
            f"faust-streaming {FAUST_VERSION}: it patches Faust's private internals (_acked, _gap, "
            f"_send_pending, _highwaters, _encode_key, ...), and without them, or with them on "
            f"another release, a worker can lose input. Refusing to start: install "
            f"faust-streaming=={FAUST_VERSION} (requirements.lock pins it)."
        )


def install(fetch_max_wait: float = 1.5) -> None:
    # Checked before anything is patched, and every time: a worker must not start half-fixed.
    try:
        check_faust_version(metadata.version("faust-streaming"))
    except FaustVersionError as exc:
        raise SystemExit(f"lapsewatch: {exc}") from None
    if getattr(consumers.Consumer, "_lapsewatch_fixed", False):
        return
    thread = aiokafka_driver.AIOKafkaConsumerThread
    thread._highwaters = _true_highwaters
    thread._create_worker_consumer = _with_fetch_max_wait(
        thread._create_worker_consumer, max(1, round(fetch_max_wait * 1000))
    )
    # mypy reads the class's flush as already bound (`def flush(self, self: ProducerBuffer)`): no function matches.
    producers.ProducerBuffer.flush = drain  # type: ignore[assignment]
    producers.ProducerBuffer._send_pending = _counted(producers.ProducerBuffer._send_pending)
    consumers.Consumer.getmany = _guarded_getmany(consumers.Consumer.getmany)
    consumers.Consumer.perform_seek = _guarded_seek(consumers.Consumer.perform_seek)
    consumers.Consumer._new_offset = _strict_new_offset(_new_offset_as_faust_has_it)
    consumers.Consumer.commit = _mending_holes(consumers.Consumer.commit)
    stores_base.SerializedStore._encode_key = _exact_size(stores_base.SerializedStore._encode_key)
    consumers.Consumer._lapsewatch_fixed = True  # type: ignore[attr-defined]  # our mark on Faust's class
