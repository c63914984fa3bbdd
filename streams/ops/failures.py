"""Where records that cannot be processed go: the dead-letter topic, never a crash loop."""

from __future__ import annotations

import logging

import orjson

from streams import topics
from streams.ops import metrics
from streams.ops.deadletter import dead_letter_record

log = logging.getLogger("lapsewatch.failures")


async def send_dead_letter(message, reason: str, error: str) -> None:
    record = dead_letter_record(reason=reason, error=error, topic=message.topic, partition=message.partition,
                                offset=message.offset, timestamp_ms=int(message.timestamp * 1000) if message.timestamp else None,
                                key=message.key, value=message.value)
    log.info("dead-lettered %s[%s]@%s: %s", message.topic, message.partition, message.offset, reason)
    await topics.dead_letter.send(key=message.key, value=orjson.dumps(record))
    metrics.dead_lettered.labels(reason).inc()


async def guarded(stream, handle) -> None:
    """Apply each internal record; a bug dead-letters the record instead of replaying it forever."""
    async for event in stream.events():
        try:
            await handle(event.value)
        except Exception as exc:
            log.exception("could not apply %s[%s]@%s", event.message.topic, event.message.partition,
                          event.message.offset)
            await send_dead_letter(event.message, "processing_error", f"{type(exc).__name__}: {exc}")
