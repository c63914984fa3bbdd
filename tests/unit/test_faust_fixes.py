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
