"""Replaying dead letters: put the inputs that failed back on their topic, once the cause is fixed.

Reads the dead-letter topic up to its end at the start of the run (records
dead-lettered meanwhile wait for the next run), keeps those that match the
filters, and produces each one's original key and value to its source topic.
The pipeline deduplicates by event id, so replaying a record twice changes
nothing; one that fails again is dead-lettered again, with its new reason.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.kafka.end_offsets import end_offsets

REPLAY_HEADER = "lapsewatch-replayed-from"


@dataclass
class ReplaySummary:
    read: int = 0
    matched: int = 0
    replayed: Counter = field(default_factory=Counter)  # by target topic
    skipped: Counter = field(default_factory=Counter)  # by why

    def lines(self, dry_run: bool) -> list[str]:
        verb = "would replay" if dry_run else "replayed"
        lines = [f"dead letters read: {self.read:,}", f"matching the filters: {self.matched:,}"]
        lines += [f"{verb} to {topic}: {count:,}" for topic, count in sorted(self.replayed.items())]
        lines += [f"skipped ({why}): {count:,}" for why, count in sorted(self.skipped.items())]
        return lines


def _matches(record: dict, reasons: AbstractSet[str], sources: AbstractSet[str], since_ms: int | None) -> bool:
    if reasons and record.get("reason") not in reasons:
        return False
    if sources and record.get("source_topic") not in sources:
        return False
    stamp = record.get("source_timestamp_ms")
    return since_ms is None or (isinstance(stamp, int) and stamp >= since_ms)


async def replay_dead_letters(
    bootstrap: str,
    dead_letter_topic: str,
    allowed_targets: AbstractSet[str],
    *,
    reasons: AbstractSet[str] = frozenset(),
    sources: AbstractSet[str] = frozenset(),
    since_ms: int | None = None,
    to: str | None = None,
    dry_run: bool = False,
    client_options: dict | None = None,
) -> ReplaySummary:
    """Replay matching dead letters; only to `allowed_targets` (lapsewatch's own inputs) unless `to` is given."""
    summary = ReplaySummary()
    options = client_options or {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **options)
    producer = None if dry_run else AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **options)
    try:
        await consumer.start()
        if producer is not None:
            await producer.start()
        numbers = consumer.partitions_for_topic(dead_letter_topic) or set()
        if not numbers:
            await consumer.topics()
            numbers = consumer.partitions_for_topic(dead_letter_topic) or set()
        partitions = [TopicPartition(dead_letter_topic, n) for n in sorted(numbers)]
        if not partitions:
            return summary
        ends = await end_offsets(consumer, partitions)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        remaining = {tp for tp in partitions if ends[tp] > await consumer.position(tp)}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=2000)
            if not batches:
                break  # nothing more arrives: the end offsets were past the last record
            for tp, records in batches.items():
                for message in records:
                    if message.offset >= ends[tp]:
                        remaining.discard(tp)
                        break
                    summary.read += 1
                    await _replay_one(message, summary, producer, allowed_targets, reasons, sources, since_ms, to)
                    if message.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
        if producer is not None:
            await producer.flush()
    finally:
        await consumer.stop()
        if producer is not None:
            await producer.stop()
    return summary


async def _replay_one(
    message,
    summary: ReplaySummary,
    producer: AIOKafkaProducer | None,
    allowed: AbstractSet[str],
    reasons: AbstractSet[str],
    sources: AbstractSet[str],
    since_ms: int | None,
    to: str | None,
) -> None:
    try:
        record = orjson.loads(message.value)
    except (orjson.JSONDecodeError, TypeError):
        summary.skipped["not a dead-letter record"] += 1
        return
    if not isinstance(record, dict) or not _matches(record, reasons, sources, since_ms):
        return
    summary.matched += 1
    if record.get("value_truncated"):
        summary.skipped["value truncated: replay it from its source offset"] += 1
        return
    target = to or record.get("source_topic")
    if to is None and target not in allowed:
        summary.skipped[f"source topic {target} is not one lapsewatch reads"] += 1
        return
    key = base64.b64decode(record["key_b64"]) if record.get("key_b64") else None
    value = base64.b64decode(record["value_b64"]) if record.get("value_b64") else None
    summary.replayed[target] += 1
    if producer is not None:
        origin = f"{message.topic}/{message.partition}@{message.offset}".encode()
        await producer.send(target, value=value, key=key, headers=[(REPLAY_HEADER, origin)])
