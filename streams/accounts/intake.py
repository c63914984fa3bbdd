"""The platform's input topics, read in batches by a plain consumer: events → account commands.

Faust's stream costs more per record than everything lapsewatch does with an
event, so the two input topics are read here with aiokafka's `getmany`, under
a consumer group of their own (`<app id>-input`, settings.input_group). The
rest of the pipeline (the repartition hops, the tables and their changelogs)
stays Faust's.

At least once, as before: a batch's offsets are committed only after every
record derived from it (account commands, dead letters) is acknowledged by
the broker. A crash before that reads the batch again, and the same events
give the same commands, whose ids make them idempotent downstream. A batch
holds the lock from its first send to its commit; a rebalance waits for it
before the partitions go, so the next owner starts exactly where this one
stopped. A batch that cannot be delivered is read again from its first offset.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from functools import lru_cache

import mode
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from streams import topics
from streams.accounts.events import AccountCommand, parse_email_event, parse_login_event
from streams.app import app, broker_url, settings
from streams.core import batches, metrics
from streams.core.addresses import PublicMailboxes
from streams.core.inbound import Rejected
from streams.deadletters import send_input_dead_letter
from streams.kafka import failpoints
from streams.settings import bootstrap_servers

log = logging.getLogger("lapsewatch.intake")
PUBLIC = PublicMailboxes(settings.public_domains_extra)
Parser = Callable[..., AccountCommand]
PARSERS: dict[str, Parser] = {
    settings.topics.email_events: parse_email_event,
    settings.topics.logins: parse_login_event,
}
# Input events per batch, and how long a fetch waits for more: a bound on the latency a batch adds.
BATCH_EVENTS = 5000
FETCH_WAIT_MS = 50
RETRY_SECONDS = 1.0


def to_commands(
    records: Iterable[ConsumerRecord], dead_letter: Callable[[ConsumerRecord, str, str], None]
) -> batches.Batcher:
    """Parses a batch; every command that changes something goes to its account's partition, in order."""
    batcher = batches.Batcher(settings.partitions)
    for record in records:
        try:
            command = PARSERS[record.topic](record.key, record.value, public=PUBLIC, max_bytes=settings.max_event_bytes)
        except Rejected as exc:
            dead_letter(record, exc.reason, exc.message)
            continue
        except Exception as exc:  # a bug must not stall the input: keep the event, say why
            log.exception("could not parse %s[%s]@%s", record.topic, record.partition, record.offset)
            dead_letter(record, "processing_error", f"{type(exc).__name__}: {exc}")
            continue
        _events_in(record.topic, command.event_type).inc()
        if command.warnings:
            dead_letter(record, "invalid_address", "; ".join(command.warnings))
        if command.upsert or command.remove or command.replace or command.login:
            batcher.add(command.account_id, command.to_dict())
    return batcher


@lru_cache(maxsize=256)
def _events_in(topic: str, event_type: str):  # labels() looks the child up under a lock, for every event
    return metrics.events_in.labels(topic, event_type)


class _Handover(ConsumerRebalanceListener):
    def __init__(self, intake: Intake):
        self.intake = intake

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # The batch in hand commits before the partitions go: none of it is left to a guess.
        async with self.intake.batch_lock:
            pass

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self.intake.start_where_faust_stopped(assigned)


class Intake(mode.Service):
    """Started with the app's own services (App.early_services); one per worker."""

    batch_lock: asyncio.Lock
    consumer: AIOKafkaConsumer | None = None

    def __post_init__(self) -> None:
        self.batch_lock = asyncio.Lock()
        self._closing = False
        running.append(self)

    async def on_start(self) -> None:
        for topic in (topics.account_commands, topics.dead_letter):
            await topic.maybe_declare()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers(broker_url),
            group_id=settings.input_group,
            client_id=f"{settings.app_id}-input",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=FETCH_WAIT_MS,
            max_partition_fetch_bytes=4 * 1024**2,
            session_timeout_ms=int(settings.session_timeout * 1000),
            heartbeat_interval_ms=int(settings.heartbeat_interval * 1000),
            rebalance_timeout_ms=int(settings.rebalance_timeout * 1000),
            **settings.broker_security.client_options(),
        )
        self.consumer.subscribe(list(PARSERS), listener=_Handover(self))
        await self.consumer.start()

    async def on_stop(self) -> None:
        async with self.batch_lock:  # the batch in hand is delivered and committed first
            self._closing = True
        if self.consumer is not None:
            await self.consumer.stop()
        if self in running:
            running.remove(self)

    @mode.Service.task
    async def _read(self) -> None:
        assert self.consumer is not None
        while not self.should_stop and not self._closing:
            fetched = await self.consumer.getmany(timeout_ms=FETCH_WAIT_MS * 4, max_records=BATCH_EVENTS)
            if fetched:
                await self.handle(fetched)

    async def handle(self, fetched: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        assert self.consumer is not None
        async with self.batch_lock:
            owned = self.consumer.assignment()
            fetched = {tp: records for tp, records in fetched.items() if tp in owned and records}
            if self._closing or not fetched:
                return
            deliveries: list[Awaitable] = []
            pending_letters: list[tuple[ConsumerRecord, str, str]] = []
            batcher = to_commands(
                (record for records in fetched.values() for record in records),
                lambda record, reason, error: pending_letters.append((record, reason, error)),
            )
            try:
                for record, reason, error in pending_letters:
                    deliveries.append(await send_input_dead_letter(record, reason, error))
                name = topics.account_commands.get_topic_name()
                for partition, value in batcher.drain():
                    deliveries.append(await app.producer.send(name, None, value, partition, None, None))
                await asyncio.gather(*deliveries)
            except Exception as exc:  # the producer's errors, whatever their class
                # Nothing of this batch is committed: read it again, from its first record.
                log.error("could not deliver a batch of %d events (%s); reading it again", _count(fetched), exc)
                for tp, records in fetched.items():
                    self.consumer.seek(tp, records[0].offset)
                await asyncio.sleep(RETRY_SECONDS)
                return
            failpoints.reach("intake-sent")
            offsets = {tp: records[-1].offset + 1 for tp, records in fetched.items()}
            try:
                await self.consumer.commit(offsets)
            except KafkaError as exc:
                # Delivered, so nothing is lost: the next commit covers the batch, or, when a rebalance
                # took the partitions meanwhile, their next owner reads it again (same ids).
                log.warning("input offsets not committed (%s): a later commit or the next owner covers them", exc)
                return

    async def start_where_faust_stopped(self, assigned: list[TopicPartition]) -> None:
        """A partition this group never committed starts where the Faust group of earlier versions did.

        Until this reader, Faust's own group (the app id) read the inputs: without this an upgrade
        would read the whole retained history again. Either group's offset is a safe start.
        """
        assert self.consumer is not None
        fresh = [tp for tp in assigned if await self.consumer.committed(tp) is None]
        if not fresh:
            return
        for tp, offset in (await _committed(settings.app_id, fresh)).items():
            log.info(
                "input %s[%d] starts at offset %d, where group %s stopped",
                tp.topic,
                tp.partition,
                offset,
                settings.app_id,
            )
            self.consumer.seek(tp, offset)
            # Committed at once: a quiet partition must not depend on the old group's offset, which
            # the broker may expire now that the old group no longer reads the topic.
            await self.consumer.commit({tp: offset})


async def _committed(group: str, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    """`group`'s committed offsets, read without joining it (so asking starts no rebalance)."""
    reader = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers(broker_url),
        group_id=group,
        enable_auto_commit=False,
        **settings.broker_security.client_options(),
    )
    await reader.start()
    try:
        found = {tp: await reader.committed(tp) for tp in partitions}
    finally:
        await reader.stop()
    return {tp: offset for tp, offset in found.items() if offset is not None}


def _count(fetched: dict[TopicPartition, list[ConsumerRecord]]) -> int:
    return sum(len(records) for records in fetched.values())


running: list[Intake] = []
app.early_services.append(Intake)
