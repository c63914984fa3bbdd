"""The producer buffer a commit waits on is empty when the wait ends."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from faust.transport.producer import ProducerBuffer

from streams.kafka import faust_fixes

faust_fixes.install()


class SlowChannel:
    """Publishes one message per 0.25 s: slower than Faust's 0.1 s patience."""

    def __init__(self):
        self.published = []

    async def publish_message(self, fut, wait=False):
        await asyncio.sleep(0.25)
        self.published.append(fut)


async def test_flush_returns_only_when_every_buffered_message_was_handed_over():
    buffer = ProducerBuffer()
    buffer.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))
    channel = SlowChannel()
    await buffer.start()
    try:
        for n in range(3):
            buffer.put(SimpleNamespace(n=n, message=SimpleNamespace(channel=channel)))
        await buffer.flush()
        assert buffer.size == 0
        assert [fut.n for fut in channel.published] == [0, 1, 2]
    finally:
        await buffer.stop()


def test_the_worker_consumer_waits_at_most_the_configured_fetch_time():
    from types import SimpleNamespace as Made

    create = faust_fixes._with_fetch_max_wait(lambda thread, transport: Made(_fetch_max_wait_ms=1500), 100)
    assert create(None, None)._fetch_max_wait_ms == 100


def test_an_encoded_table_key_holds_only_its_own_bytes():
    """Faust's store keeps up to 1,000 encoded keys per table; orjson's 4 KiB buffer each was 8 MiB a worker."""
    import tracemalloc

    import faust
    from faust.stores.base import SerializedStore

    app = faust.App("lapsewatch-unit-keys", broker="memory://", store="memory://")
    store = SimpleNamespace(app=app, key_type=None, key_serializer="json")
    SerializedStore._encode_key(store, "warm-up.example")  # the codec registry's first use is not a key
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        keys = [SerializedStore._encode_key(store, f"shop-{n}.example") for n in range(200)]
        grown = sum(stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(before, "filename"))
    finally:
        tracemalloc.stop()
    assert keys[0] == b'"shop-0.example"'
    assert grown < 200 * 256, f"{grown} bytes held for 200 short keys"


class Offsets:
    """The offset book-keeping of Faust's consumer that `_new_offset` reads (acks, gaps, committed)."""

    def __init__(self, committed: int | None, acked: list[int]):
        from collections import defaultdict

        from faust.types import TP
        from intervaltree import IntervalTree

        self.tp = TP("events", 0)
        self._committed_offset = defaultdict(lambda: None, {self.tp: committed})
        self._acked = defaultdict(list, {self.tp: sorted(acked)})
        self._acked_index = defaultdict(set, {self.tp: set(acked)})
        self._gap = defaultdict(IntervalTree)


def test_a_commit_never_passes_the_record_at_the_committed_offset_until_it_is_processed():
    from faust.transport.consumer import Consumer

    new_offset = faust_fixes._strict_new_offset(faust_fixes._new_offset_as_faust_has_it)
    skipped = Offsets(committed=2, acked=[3, 4, 5])  # record 2 was dropped on its way to the stream
    assert new_offset(skipped, skipped.tp) is None
    assert faust_fixes._new_offset_as_faust_has_it(Offsets(2, [3, 4, 5]), skipped.tp) == 6  # Faust would pass it
    assert Consumer._new_offset is not faust_fixes._new_offset_as_faust_has_it  # install() replaced it


def test_a_commit_goes_on_once_the_record_at_the_committed_offset_is_processed():
    new_offset = faust_fixes._strict_new_offset(faust_fixes._new_offset_as_faust_has_it)
    done = Offsets(committed=2, acked=[2, 3, 4, 6])
    assert new_offset(done, done.tp) == 5
    first = Offsets(committed=0, acked=[0, 1])  # Faust skips its check for a committed offset of 0
    assert new_offset(first, first.tp) == 2
    assert new_offset(Offsets(0, [1, 2]), first.tp) is None


class Mendable(Offsets):
    """A consumer whose only I/O is the seek the mender asks for."""

    def __init__(self, committed: int | None, acked: list[int], position: int | None = None):
        super().__init__(committed, acked)
        self.app = SimpleNamespace(tables=SimpleNamespace(changelog_topics=set()), rebalancing=False)
        self.commit_interval = 2.8
        self.seeks: list[tuple[object, int]] = []
        self._unacked_messages: list = []  # messages its agents hold now (Faust: tracked, not acked)
        self.fetched_up_to = position if position is not None else (max(acked) + 1 if acked else committed)

        async def position_of(tp):
            return self.fetched_up_to

        self._thread = SimpleNamespace(position=position_of)

    def assignment(self):
        return {self.tp}

    async def seek(self, tp, offset):
        self.seeks.append((tp, offset))


async def mend(consumer, now: float) -> None:
    """One commit's mending, its re-reads awaited (the mender starts them without waiting)."""
    for reread in await faust_fixes._mend_holes(consumer, now=now):
        await reread


async def test_the_mender_called_while_a_batch_is_delivered_does_not_wait_for_the_fetch_lock():
    """Faust commits from inside the delivery of a batch, which holds the fetch lock: the re-read waits for it,
    the commit does not (awaited there, it would wait for itself for ever)."""
    consumer = Mendable(committed=2, acked=[3, 4])
    await mend(consumer, now=100.0)
    async with faust_fixes._fetch_lock(consumer):
        rereads = await asyncio.wait_for(faust_fixes._mend_holes(consumer, now=103.0), timeout=5)
        assert rereads and consumer.seeks == []
    await asyncio.wait_for(asyncio.gather(*rereads), timeout=5)
    assert consumer.seeks == [(consumer.tp, 2)]


async def test_a_hole_that_outlasts_a_commit_interval_is_read_again_from_the_committed_offset():
    consumer = Mendable(committed=2, acked=[3, 4])
    await mend(consumer, now=100.0)
    await mend(consumer, now=101.0)
    assert consumer.seeks == []  # a hole younger than a commit interval may be a record still on its way
    await mend(consumer, now=102.9)
    assert consumer.seeks == [(consumer.tp, 2)]
    await mend(consumer, now=106.0)
    assert consumer.seeks == [(consumer.tp, 2)]  # the re-read gets two intervals before another
    await mend(consumer, now=108.6)
    assert consumer.seeks == [(consumer.tp, 2), (consumer.tp, 2)]


async def test_acknowledgements_in_order_are_no_hole():
    consumer = Mendable(committed=2, acked=[2, 3])
    for now in (100.0, 103.0, 106.0):
        await mend(consumer, now=now)
    assert consumer.seeks == []


async def test_a_record_fetched_and_never_acknowledged_is_read_again():
    """The dropped record is the last one fetched: no later acknowledgement shows it, the position does."""
    consumer = Mendable(committed=7, acked=[], position=8)
    await mend(consumer, now=100.0)
    await mend(consumer, now=103.0)
    assert consumer.seeks == [(consumer.tp, 7)]


async def test_a_partition_with_nothing_fetched_past_its_commit_is_left_alone():
    consumer = Mendable(committed=7, acked=[], position=7)
    for now in (100.0, 103.0, 106.0):
        await mend(consumer, now=now)
    assert consumer.seeks == []


async def test_a_hole_that_moves_is_progress_not_a_drop():
    consumer = Mendable(committed=2, acked=[], position=5)
    await mend(consumer, now=100.0)
    consumer._committed_offset[consumer.tp] = 5  # a commit went out meanwhile
    consumer.fetched_up_to = 9
    await mend(consumer, now=103.0)
    assert consumer.seeks == []


async def test_a_record_still_with_its_agent_is_no_hole_however_long_it_takes():
    """The position is past the committed offset because records wait behind a slow one: not a drop."""
    consumer = Mendable(committed=7, acked=[], position=12)
    in_progress = SimpleNamespace(topic=consumer.tp.topic, tracked=True, acked=False)
    consumer._unacked_messages.append(in_progress)
    for now in (100.0, 103.0, 106.0, 109.0):
        await mend(consumer, now=now)
    assert consumer.seeks == []
    in_progress.acked = True  # the agent is idle again and nothing of offset 7 was acknowledged: now a drop
    await mend(consumer, now=112.0)
    await mend(consumer, now=115.0)
    assert consumer.seeks == [(consumer.tp, 7)]


async def test_a_busy_agent_of_another_topic_does_not_hold_a_hole_back():
    consumer = Mendable(committed=7, acked=[], position=8)
    consumer._unacked_messages.append(SimpleNamespace(topic="other-topic", tracked=True, acked=False))
    await mend(consumer, now=100.0)
    await mend(consumer, now=103.0)
    assert consumer.seeks == [(consumer.tp, 7)]
