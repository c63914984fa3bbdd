"""The account service's database: each event applied in one transaction that also records its id.

SQLite (stdlib) by default, PostgreSQL through psycopg when it is installed. The SQL is written once for both:
`?` placeholders (turned into psycopg's `%s`), TEXT timestamps, INSERT ... ON CONFLICT DO NOTHING.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = [
    # One row per event id ever applied (or found malformed and parked, see parked_events): the primary key
    # is what makes a redelivered event a no-op.
    """CREATE TABLE IF NOT EXISTS processed_events (
        event_id TEXT PRIMARY KEY,
        topic TEXT NOT NULL,
        kafka_partition INTEGER NOT NULL,
        kafka_offset BIGINT NOT NULL,
        processed_at TEXT NOT NULL
    )""",
    # A stand-in for the service's own accounts table: only what the apply needs.
    """CREATE TABLE IF NOT EXISTS accounts (
        account_id TEXT PRIMARY KEY,
        email TEXT NOT NULL,
        email_verified BOOLEAN NOT NULL
    )""",
    # The audit trail: what each event did and why. No unique key on purpose: processed_events alone keeps it
    # to one row per event, and the tests count rows here to prove it.
    """CREATE TABLE IF NOT EXISTS email_unverifications (
        event_id TEXT NOT NULL,
        account_id TEXT NOT NULL,
        email TEXT NOT NULL,
        domain TEXT NOT NULL,
        reason TEXT NOT NULL,
        confirmed_at TEXT NOT NULL,
        outcome TEXT NOT NULL,
        applied_at TEXT NOT NULL
    )""",
    # Records that are not valid events: kept for a person to look at, keyed by where they were read.
    """CREATE TABLE IF NOT EXISTS parked_events (
        topic TEXT NOT NULL,
        kafka_partition INTEGER NOT NULL,
        kafka_offset BIGINT NOT NULL,
        record_key TEXT,
        record_value TEXT,
        error TEXT NOT NULL,
        parked_at TEXT NOT NULL,
        PRIMARY KEY (topic, kafka_partition, kafka_offset)
    )""",
]

# What an event did to the account (email_unverifications.outcome).
UNVERIFIED = "unverified"  # the account's current, verified address: now unverified
ALREADY_UNVERIFIED = "already_unverified"  # its current address, unverified before this event
NOT_CURRENT = "not_current"  # the account has another address now (or is gone): nothing to change
DUPLICATE = "duplicate"  # the event id was applied before: nothing done (not written to the table)
PARKED = "parked"


@dataclass(frozen=True, slots=True)
class Position:
    """Where a record was read: kept with each event id, so an operator can find it on the topic."""

    topic: str
    partition: int
    offset: int


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Database:
    """One connection, used from one thread at a time (the subscriber gives it a thread of its own)."""

    def __init__(self, url: str):
        self.url = url
        self.connection: Any
        if url.startswith("sqlite:///"):
            path = url.removeprefix("sqlite:///")
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: transactions are begun and ended here, explicitly, not by the module.
            self.connection = sqlite3.connect(path, isolation_level=None, timeout=30)
            self.connection.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk before the offset commit that trusts it.
            self.connection.execute("PRAGMA synchronous=FULL")
            self.postgres = False
        elif url.startswith(("postgresql://", "postgres://")):
            try:
                import psycopg  # type: ignore[import-not-found]
            except ImportError as error:
                raise SystemExit(f"a PostgreSQL URL needs psycopg: pip install 'psycopg[binary]' ({error})") from None
            self.connection = psycopg.connect(url)  # not autocommit: the first statement begins a transaction
            self.postgres = True
        else:
            raise SystemExit(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://...")
        with self.transaction():
            for statement in SCHEMA:
                self.execute(statement)

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> Any:
        if self.postgres:
            sql = sql.replace("?", "%s")
        return self.connection.execute(sql, params)

    def transaction(self) -> _Transaction:
        return _Transaction(self)

    def apply(self, event: dict[str, Any], where: Position) -> str:
        """Applies one valid event, in one transaction with its id; returns its outcome. DUPLICATE: no change."""
        data = event["data"]
        with self.transaction():
            claimed = self.execute(
                "INSERT INTO processed_events (event_id, topic, kafka_partition, kafka_offset, processed_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
                (event["id"], where.topic, where.partition, where.offset, now_iso()),
            )
            if claimed.rowcount == 0:
                return DUPLICATE  # the transaction commits nothing new
            # Only the account's current address is unverified: after a change of address the event is about
            # one the account no longer uses, and the new one must stay as it is.
            row = self.execute(
                "SELECT email_verified FROM accounts WHERE account_id = ? AND email = ?",
                (data["account_id"], data["email"]),
            ).fetchone()
            if row is None:
                outcome = NOT_CURRENT
            elif not row[0]:
                outcome = ALREADY_UNVERIFIED
            else:
                self.execute(
                    "UPDATE accounts SET email_verified = FALSE WHERE account_id = ? AND email = ?",
                    (data["account_id"], data["email"]),
                )
                outcome = UNVERIFIED
            self.execute(
                "INSERT INTO email_unverifications"
                " (event_id, account_id, email, domain, reason, confirmed_at, outcome, applied_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event["id"],
                    data["account_id"],
                    data["email"],
                    data["domain"],
                    data["reason"],
                    data["confirmed_at"],
                    outcome,
                    now_iso(),
                ),
            )
            return outcome

    def park(self, where: Position, key: bytes | None, value: bytes | None, error: str) -> str:
        """Keeps a record that is not a valid event; parking the same record again changes nothing."""
        with self.transaction():
            self.execute(
                "INSERT INTO parked_events"
                " (topic, kafka_partition, kafka_offset, record_key, record_value, error, parked_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (topic, kafka_partition, kafka_offset) DO NOTHING",
                (where.topic, where.partition, where.offset, _text(key), _text(value), error, now_iso()),
            )
        return PARKED

    def close(self) -> None:
        self.connection.close()


class _Transaction:
    """Commits when the block ends normally, rolls back when it raises."""

    def __init__(self, database: Database):
        self.database = database

    def __enter__(self) -> None:
        if not self.database.postgres:
            # IMMEDIATE: take the write lock now, so two subscribers on one file wait rather than fail midway.
            self.database.connection.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if kind is None:
            self.database.connection.commit()
        else:
            self.database.connection.rollback()


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="backslashreplace")
