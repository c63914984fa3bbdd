"""examples/account_service, the account service's reference subscriber: each event applied once.

On the real broker: the subscriber is killed (SIGKILL, by its test hook) between a database commit and the
offset commit that follows, restarted, and must leave every event applied exactly once, with the group's
committed offsets at the topic's end. Its database and validation rules are also checked without a broker.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from examples.account_service import subscriber
from examples.account_service.store import (
    ALREADY_UNVERIFIED,
    DUPLICATE,
    NOT_CURRENT,
    UNVERIFIED,
    Database,
    Position,
)
from examples.account_service.subscriber import DEFAULT_SCHEMA, KILL_AFTER_ENV, load_validator, problem
from schemas import first_error, load_schema
from streams.ops.lag import measure_lag
from tests.harness import unique, wait_for, wait_until

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = 3
POSTGRES_ENV = "ACCOUNT_SERVICE_TEST_POSTGRES_URL"  # e.g. postgresql://postgres@127.0.0.1:5432/postgres


def unverified_event(account: str, email: str, event_id: str | None = None) -> dict:
    """An email-unverified event as lapsewatch publishes it (checked against the schema below)."""
    event = {
        "specversion": "1.0",
        "id": event_id or unique("ev"),
        "source": "lapsewatch",
        "type": "lapsewatch.email.unverified",
        "subject": account,
        "time": "2026-11-22T18:40:53Z",
        "datacontenttype": "application/json",
        "data": {
            "account_id": account,
            "email": email,
            "domain": email.rsplit("@", 1)[1].lower(),
            "reason": "domain_expired",
            "domain_status": ["pending delete"],
            "provider": "rdap",
            "checked_at": "2026-11-22T18:40:50Z",
            "confirmed_at": "2026-11-22T18:40:52Z",
            "lapse_first_seen_at": "2026-11-20T08:00:00Z",
            "registered_at": "2019-03-02T10:00:00Z",
            "expires_at": "2026-09-02T10:00:00Z",
            "verified_at": "2024-05-01T12:00:00Z",
            "detail": "pending delete: about to be deleted by the registry",
        },
    }
    assert first_error("email-unverified", event) is None
    return event


def seed_accounts(url: str, accounts: dict[str, tuple[str, bool]]) -> None:
    database = Database(url)
    try:
        with database.transaction():
            for account, (email, verified) in accounts.items():
                database.execute(
                    "INSERT INTO accounts (account_id, email, email_verified) VALUES (?, ?, ?)",
                    (account, email, verified),
                )
    finally:
        database.close()


def tables(url: str) -> dict[str, list[tuple]]:
    """Every row the subscriber keeps, less the times it wrote them (booleans as 0 and 1 on either database)."""
    database = Database(url)
    try:
        with database.transaction():
            read = lambda sql: sorted(tuple(row) for row in database.execute(sql).fetchall())
            return {
                "processed": read("SELECT event_id, topic, kafka_partition, kafka_offset FROM processed_events"),
                "accounts": [
                    (account, email, int(verified))
                    for account, email, verified in read("SELECT account_id, email, email_verified FROM accounts")
                ],
                "log": read("SELECT event_id, account_id, email, outcome FROM email_unverifications"),
                "parked": read("SELECT kafka_partition, kafka_offset, record_value, error FROM parked_events"),
            }
    finally:
        database.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A database of the test's own: an SQLite file, or a fresh schema on ACCOUNT_SERVICE_TEST_POSTGRES_URL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'accounts.db'}"
        return
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        pytest.skip(f"{POSTGRES_ENV} is not set: the PostgreSQL path runs only against a server named there")
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (not a dependency of lapsewatch)")
    schema = unique("account_service").replace("-", "_")
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in server else "?"
    yield f"{server}{separator}options=-csearch_path%3D{schema}"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA {schema} CASCADE")


class SubscriberProcess:
    """`python -m examples.account_service` as the account service would run it, its output in a log file."""

    def __init__(self, bootstrap: str, topic: str, group: str, db_url: str, log_path: Path):
        self.args = [
            sys.executable, "-m", "examples.account_service",
            "--bootstrap", bootstrap, "--topic", topic, "--group", group, "--db", db_url,
            # Tansu holds a join until a killed member's session ends: keep that short.
            "--session-timeout-ms", "6000", "--heartbeat-interval-ms", "1000", "--rebalance-timeout-ms", "3000",
        ]  # fmt: skip
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, env: dict[str, str] | None = None) -> SubscriberProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self) -> str:
        return "subscriber log tail:\n" + "\n".join(self.log().splitlines()[-40:])

    async def exited(self, timeout: float) -> int:
        process = self.process
        assert process is not None
        await wait_for(lambda: process.poll() is not None, timeout, "the subscriber to exit", self.log_tail)
        return process.returncode

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


async def create_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()


async def offsets(bootstrap: str, group: str, topic: str) -> dict[int, tuple[int | None, int]]:
    """(committed, end) of the group on each partition of the topic."""
    report = await measure_lag(bootstrap, group, [topic], ages=False)
    return {p.partition: (p.committed, p.end) for p in report.partitions}


async def all_committed(bootstrap: str, group: str, topic: str) -> bool:
    found = await offsets(bootstrap, group, topic)
    return len(found) == PARTITIONS and all((committed or 0) == end for committed, end in found.values())


async def produce(bootstrap: str, topic: str, records: list[tuple[int, str, dict | bytes]]) -> None:
    """Each (partition, key, value) to the partition it names, so the layout the test counts on is fixed."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for partition, key, value in records:
            raw = value if isinstance(value, bytes) else json.dumps(value).encode()
            await producer.send_and_wait(topic, raw, key=key.encode(), partition=partition)
    finally:
        await producer.stop()


def skips(log: str, event_id: str) -> list[tuple[int, int]]:
    """The (partition, offset) of each record of `event_id` the subscriber logged as applied before."""
    found = re.findall(rf"event {re.escape(event_id)} at \S+\[(\d+)\]@(\d+) was applied before: skipped", log)
    return [(int(partition), int(offset)) for partition, offset in found]


@pytest.mark.broker
async def test_a_kill_between_database_and_offset_commit_leaves_each_event_applied_once(broker_url, db_url, tmp_path):
    bootstrap = broker_url.split("://", 1)[1]
    topic, group = unique("accounts.email-unverified"), unique("account-service")
    accounts = {unique("acct"): (f"user{n}@lapsed-{n}.example", True) for n in range(12)}
    moved, bystander = unique("acct-moved"), unique("acct-bystander")
    seed_accounts(
        db_url,
        {
            **accounts,
            moved: ("new@elsewhere.example", True),  # changed address since: the event is about the old one
            bystander: ("keep@fine.example", True),  # no event of its own
        },
    )
    events = [unverified_event(account, email) for account, (email, _) in accounts.items()]
    events.append(unverified_event(moved, "old@lapsed.example"))
    # Five records a partition, so each batch the subscriber commits holds at most five writes: a kill at
    # the 7th write comes after one offset commit at least, and before another.
    layout = (
        [(0, event["subject"], event) for event in events[0:4]]
        + [(0, events[0]["subject"], events[0])]  # the same event twice: the second changes nothing
        + [(1, event["subject"], event) for event in events[4:8]]
        + [(1, "acct-garbled", b"{not json")]
        + [(2, event["subject"], event) for event in events[8:13]]
    )
    await create_topic(bootstrap, topic)
    await produce(bootstrap, topic, layout)
    subscriber = SubscriberProcess(bootstrap, topic, group, db_url, tmp_path / "subscriber.log")
    try:
        # First run: killed right after its 7th database write, before that record's offset is committed.
        status = await subscriber.start({**_environ(), KILL_AFTER_ENV: "7"}).exited(30)
        assert status == -signal.SIGKILL, subscriber.log_tail()
        committed = {partition: c or 0 for partition, (c, _) in (await offsets(bootstrap, group, topic)).items()}
        stored = tables(db_url)
        assert len(stored["processed"]) + len(stored["parked"]) == 7
        assert sum(committed.values()) > 0, f"no offset was committed before the kill: {committed}"
        pending = [(e, p, o) for e, _, p, o in stored["processed"] if o >= committed[p]]
        pending_parked = [(p, o) for p, o, _, _ in stored["parked"] if o >= committed[p]]
        assert pending or pending_parked, f"nothing in the database waits for its offset commit: {committed}"
        first_run = len(subscriber.log())

        # Second run: re-reads from the committed offsets and skips what the database already holds.
        subscriber.start(_environ())
        await wait_until(
            lambda: all_committed(bootstrap, group, topic),
            30,
            "the group's committed offsets to reach the topic's end",
            subscriber.log_tail,
        )
        second_run = subscriber.log()[first_run:]
        for event_id, partition, offset in pending:
            assert (partition, offset) in skips(second_run, event_id), subscriber.log_tail()
        stored = tables(db_url)
        assert {event_id for event_id, *_ in stored["processed"]} == {event["id"] for event in events}
        assert Counter(event_id for event_id, *_ in stored["log"]) == Counter(event["id"] for event in events)
        outcomes = {account: outcome for _, account, _, outcome in stored["log"]}
        assert outcomes == {**dict.fromkeys(accounts, UNVERIFIED), moved: NOT_CURRENT}
        assert {account: verified for account, _, verified in stored["accounts"]} == {
            **dict.fromkeys(accounts, 0),
            moved: 1,
            bystander: 1,
        }
        assert [(p, o, value) for p, o, value, _ in stored["parked"]] == [(1, 4, "{not json")]
        assert (0, 4) in skips(subscriber.log(), events[0]["id"])

        # An event id seen before, now about the bystander: whatever a redelivery carries, it changes nothing.
        before = tables(db_url)
        replayed = unverified_event(bystander, "keep@fine.example", event_id=events[5]["id"])
        await produce(bootstrap, topic, [(1, bystander, replayed)])
        await wait_until(
            lambda: all_committed(bootstrap, group, topic), 30, "the replayed event's offset", subscriber.log_tail
        )
        assert (1, 5) in skips(subscriber.log(), replayed["id"])
        assert tables(db_url) == before

        assert subscriber.process is not None
        subscriber.process.send_signal(signal.SIGTERM)
        assert await subscriber.exited(15) == 0, subscriber.log_tail()
    finally:
        subscriber.kill()


def _environ() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key != KILL_AFTER_ENV}


def test_the_example_validates_against_the_published_schema():
    assert json.loads(DEFAULT_SCHEMA.read_text()) == load_schema("email-unverified")


def test_malformed_records_are_told_apart_from_events():
    validator = load_validator(DEFAULT_SCHEMA)
    good = unverified_event("42", "a@b.example")
    assert problem(validator, json.dumps(good).encode()) == (good, None)
    assert problem(validator, None)[1] == "no value (a tombstone)"
    assert problem(validator, b"\xff\xfe")[1].startswith("not JSON")
    assert problem(validator, b"[1, 2")[1].startswith("not JSON")
    wrong_reason = {**good, "data": {**good["data"], "reason": "bored"}}
    assert problem(validator, json.dumps(wrong_reason).encode())[1].startswith("data/reason: ")
    assert problem(validator, json.dumps({**good, "extra": 1}).encode())[1] is None  # unknown fields are ignored


def test_the_apply_unverifies_only_the_current_address_and_only_once(db_url):
    url = db_url
    seed_accounts(url, {"1": ("a@x.example", True), "2": ("b@x.example", False), "3": ("new@y.example", True)})
    database = Database(url)
    try:
        here = Position("t", 0, 0)
        first = unverified_event("1", "a@x.example")
        assert database.apply(first, here) == UNVERIFIED
        assert database.apply(first, Position("t", 0, 1)) == DUPLICATE
        assert database.apply(unverified_event("2", "b@x.example"), here) == ALREADY_UNVERIFIED
        assert database.apply(unverified_event("3", "old@y.example"), here) == NOT_CURRENT
        assert database.apply(unverified_event("4", "who@z.example"), here) == NOT_CURRENT
        database.park(Position("t", 1, 7), b"k", b"\xff", "not JSON")
        database.park(Position("t", 1, 7), b"k", b"\xff", "not JSON")  # read again after a crash
    finally:
        database.close()
    stored = tables(url)
    assert stored["accounts"] == [("1", "a@x.example", 0), ("2", "b@x.example", 0), ("3", "new@y.example", 1)]
    assert [row[0] for row in stored["processed"]].count(first["id"]) == 1
    assert len(stored["log"]) == 4
    assert stored["parked"] == [(1, 7, "\\xff", "not JSON")]


@pytest.mark.parametrize(
    "url, shown",
    [
        ("postgresql://app:s3cret@db.internal/accounts", "postgresql://app:***@db.internal/accounts"),
        (
            "postgresql://db.internal/accounts?sslmode=require&password=s3cret",
            "postgresql://db.internal/accounts?sslmode=require&password=***",
        ),
        ("sqlite:///var/lib/accounts.db", "sqlite:///var/lib/accounts.db"),
    ],
)
def test_the_database_url_is_logged_without_its_password(url, shown):
    assert subscriber._redacted(SimpleNamespace(database=url)) == shown
