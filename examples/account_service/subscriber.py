"""The consumer loop: read, validate, apply in the database, and only then commit the offset.

At-least-once delivery from Kafka plus an apply that records each event id in the same transaction: an event
read again after a crash (its offset not yet committed) is found in processed_events and changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from jsonschema import Draft202012Validator, FormatChecker

from examples.account_service.store import DUPLICATE, Database, Position

log = logging.getLogger("account_service")

# The published contract; the account service would keep its own copy of this file.
DEFAULT_SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "email-unverified.schema.json"
# Tests only: SIGKILL this process right after the Nth transaction that wrote (an event applied or a record
# parked; duplicates write nothing), before the offset commit that follows.
KILL_AFTER_ENV = "ACCOUNT_SERVICE_TEST_KILL_AFTER_DB_WRITES"


@dataclass(frozen=True, slots=True)
class Settings:
    bootstrap: str
    database: str
    topic: str = "accounts.email-unverified"
    group: str = "account-service-email-unverified"
    schema: Path = DEFAULT_SCHEMA
    # A lost member is noticed after session_timeout_ms; a restart rejoins after it at worst.
    session_timeout_ms: int = 10000
    heartbeat_interval_ms: int = 3000
    rebalance_timeout_ms: int = 30000
    max_records: int = 100


def load_validator(path: Path) -> Draft202012Validator:
    return Draft202012Validator(json.loads(path.read_text()), format_checker=FormatChecker())


def problem(validator: Draft202012Validator, raw: bytes | None) -> tuple[dict[str, Any] | None, str | None]:
    """The event, or why the record is not one (None, reason)."""
    if raw is None:
        return None, "no value (a tombstone)"
    try:
        event = json.loads(raw)
    except ValueError as error:  # UnicodeDecodeError included
        return None, f"not JSON: {error}"
    violation = next(iter(validator.iter_errors(event)), None)
    if violation is not None:
        where = "/".join(str(part) for part in violation.absolute_path) or "value"
        return None, f"{where}: {violation.message}"
    return event, None


class Subscriber:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.validator = load_validator(settings.schema)
        # sqlite3 and psycopg block: the database gets one thread of its own, so heartbeats keep going.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db")
        self.database: Database | None = None
        self.stopping = asyncio.Event()
        self.db_writes = 0  # transactions that changed the database (the test hook counts them)
        kill_after = os.environ.get(KILL_AFTER_ENV)
        self.kill_after = int(kill_after) if kill_after else None

    async def _db(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)

    async def run(self) -> None:
        settings = self.settings
        self.database = await self._db(Database, settings.database)
        consumer = AIOKafkaConsumer(
            settings.topic,
            bootstrap_servers=settings.bootstrap,
            group_id=settings.group,
            client_id=settings.group,
            enable_auto_commit=False,  # the offset is committed below, after the database commit
            auto_offset_reset="earliest",  # a new group starts with every retained event, not only new ones
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
            rebalance_timeout_ms=settings.rebalance_timeout_ms,
        )
        await consumer.start()
        log.info("subscribed to %s as group %s, database %s", settings.topic, settings.group, _redacted(settings))
        try:
            while not self.stopping.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=settings.max_records)
                for tp, records in batches.items():
                    if tp not in consumer.assignment():
                        continue  # revoked while an earlier partition's records were applied: its owner reads them
                    for record in records:
                        await self.handle(record)
                    await self.commit(consumer, {tp: records[-1].offset + 1})
        finally:
            await consumer.stop()
            await self._db(self.database.close)
            self.executor.shutdown()
            log.info("stopped")

    async def handle(self, record: Any) -> str:
        assert self.database is not None
        where = Position(record.topic, record.partition, record.offset)
        event, why = problem(self.validator, record.value)
        if event is None:
            # Parked, not stopped for: one bad record must not hold back every later event of its partition.
            outcome = await self._db(self.database.park, where, record.key, record.value, why)
            log.warning("parked the record at %s[%d]@%d: %s", *_at(where), why)
        else:
            outcome = await self._db(self.database.apply, event, where)
            if outcome == DUPLICATE:
                log.info("event %s at %s[%d]@%d was applied before: skipped", event["id"], *_at(where))
            else:
                log.info("applied event %s at %s[%d]@%d: %s", event["id"], *_at(where), outcome)
        if outcome != DUPLICATE:
            self.db_writes += 1
            if self.db_writes == self.kill_after:
                log.warning("test hook: SIGKILL after database write %d, before the offset commit", self.db_writes)
                logging.shutdown()
                os.kill(os.getpid(), signal.SIGKILL)
        return outcome

    async def commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as error:  # IllegalState: revoked during the batch
            # The partition moved to another member meanwhile: it reads these records again and skips them.
            log.warning("offset commit %s refused (%s): the next owner re-reads them as duplicates", offsets, error)


def _at(where: Position) -> tuple[str, int, int]:
    return where.topic, where.partition, where.offset


def _redacted(settings: Settings) -> str:
    """The database URL without a password, for the log."""
    url = settings.database
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        credentials, _, host = rest.rpartition("@")
        url = f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{host}"
    # libpq also takes it as a parameter: postgresql://host/db?password=...
    return re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", url)


def install_signal_handlers(subscriber: Subscriber) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, subscriber.stopping.set)
