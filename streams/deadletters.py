"""Where records that cannot be processed go: the dead-letter topic, never a crash loop.

What a dead letter holds is streams/core/dead_letters.py; this sends it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

import orjson
from aiokafka.structs import ConsumerRecord, RecordMetadata

from streams import topics
from streams.app import app
from streams.core import metrics
from streams.core.dead_letters import dead_letter_record

log = logging.getLogger("lapsewatch.failures")


_SAME = object()


def _dead_letter(source, reason: str, error: str, timestamp_ms: int | None, key, value) -> bytes:
    """The dead-letter value for a record of `source` (a Faust message or an aiokafka record), logged and counted."""
    record = dead_letter_record(
        reason=reason,
        error=error,
        topic=source.topic,
        partition=source.partition,
        offset=source.offset,
        timestamp_ms=timestamp_ms,
        key=key,
        value=value,
    )
    log.info("dead-lettered %s[%s]@%s: %s", source.topic, source.partition, source.offset, reason)
    metrics.dead_lettered.labels(reason).inc()
    return orjson.dumps(record)


async def send_dead_letter(message, reason: str, error: str, *, key=_SAME, value=_SAME) -> None:
    """`key`/`value` stand in for the message's own: one command out of a batched internal record."""
    key = message.key if key is _SAME else key
    value = message.value if value is _SAME else value
    timestamp_ms = int(message.timestamp * 1000) if message.timestamp else None
    await topics.dead_letter.send(key=key, value=_dead_letter(message, reason, error, timestamp_ms, key, value))


async def send_input_dead_letter(record: ConsumerRecord, reason: str, error: str) -> Awaitable[RecordMetadata]:
    """An input record (read by streams/accounts/intake.py, outside Faust) kept with why; returns its delivery."""
    timestamp_ms = record.timestamp if record.timestamp is not None and record.timestamp >= 0 else None
    value = _dead_letter(record, reason, error, timestamp_ms, record.key, record.value)
    return await app.producer.send(topics.dead_letter.get_topic_name(), record.key, value, None, None, None)


async def dead_letter_command(message, key: str | None, command, exc: Exception) -> None:
    """A command of an internal record raised (a bug): kept on the dead-letter topic, the rest goes on."""
    log.error("could not apply a command of %s[%s]@%s", message.topic, message.partition, message.offset, exc_info=exc)
    try:
        value = orjson.dumps(command)
    except TypeError:
        value = repr(command).encode()
    await send_dead_letter(
        message,
        "processing_error",
        f"{type(exc).__name__}: {exc}",
        key=key.encode() if isinstance(key, str) else message.key,
        value=value,
    )


async def dead_letter_failed_record(message, exc: Exception) -> None:
    """A hop's record whose handling raised (a send the broker refuses for good, a bug): kept whole on the
    dead-letter topic so the partition goes on; a hop that raised instead would read it again for ever."""
    log.error("could not apply %s[%s]@%s", message.topic, message.partition, message.offset, exc_info=exc)
    await send_dead_letter(message, "processing_error", f"{type(exc).__name__}: {exc}")
