"""Ingest: email and login events per second through the whole pipeline on one worker.

The input: 3 `email_added` (new accounts, 10 per custom domain) to 1 login
with an `emails` snapshot (for one of those accounts), on two 8-partition
topics. Every event is one account-table write; the email events also make a
domain-table write each (new member). Public mailbox addresses, which the
pipeline drops early, are left out: this is the heavier path.

Beside it, on the same topic contents: (b) a Faust agent that only iterates the
raw topics, and (c) a plain aiokafka consumer decoding each value with orjson.
They show how much of the gap is Faust and the broker, and how much is ours.

(a) The worker is ready before the first record is produced; the clock runs
from the first produce until every event's id is in an account row on the
`<app id>-accounts-changelog` topic (each row keeps the ids of its account's
latest events): one changelog record per event no longer holds once an
account's events share a batch and so a write. (b) and (c) then drain the topics (already full); their
progress is timed as they go.
The figure compared across all three is the steady rate, from 10 % to 90 % of
the records, which leaves out start-up and the tail.

(d) A login-heavy mix, on input topics of its own: 20,000 accounts are created
(and their domains checked) first, then N logins arrive, each carrying the
account's `emails` snapshot unchanged. Such a login changes no membership and
asks for no check (its domain was checked moments ago), so it makes no domain
write; what it costs is reading, parsing, the account hop and the `Login`
command. Logins make no record anyone can count one by one, so progress is the
input offsets the worker commits: under the app id (Faust's agents) or under
`<app id>-input` (the batched input reader), whichever group is further. The
run ends when one of them has committed every login and the app id's group
has no lag left on the two repartition topics. (e) Beside it, the ceiling of
our own parsing: `parse_login_event` on the same bytes, in process.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.common import (
    Figure,
    Process,
    Progress,
    TopicReader,
    account_events,
    cancel,
    create_topic,
    embedded_broker,
    env_int,
    lapsewatch_worker,
    login,
    new_accounts,
    owned_partitions,
    produce,
    wait_until,
    workdir,
    worker_env,
    write_scenario,
)
from streams.accounts.events import parse_login_event
from streams.core.addresses import PublicMailboxes
from streams.kafka.broker import EmbeddedBroker
from streams.kafka.end_offsets import end_offsets
from streams.settings import load_settings

NAME = "ingest"
GOAL = 20_000  # events/s, full pipeline
PARTITIONS = 8  # of the input topic, as a platform might have it
DOMAIN_PARTITIONS = set(range(8))  # LAPSEWATCH_PARTITIONS, default 8


COMMIT_POLL_SECONDS = 0.2


def event_count() -> int:
    return env_int("BENCH_INGEST_N", 20_000)


@dataclass
class PipelineRun:
    workers: int
    events: int
    produce_seconds: float
    overall: float  # events/s, first produce → every event applied
    steady: float  # events/s, 10 % → 90 %


def input_topics(prefix: str) -> tuple[str, str]:
    return f"{prefix}.email-events", f"{prefix}.logins"


def events_for(prefix: str, total: int) -> list[tuple[str, bytes, bytes]]:
    return account_events(prefix.replace(".", "-"), total, max(1, total // 10), *input_topics(prefix))


async def pipeline_rate(
    broker: EmbeddedBroker, scratch: Path, prefix: str, events: list[tuple[str, bytes, bytes]], workers: int = 1
) -> PipelineRun:
    """Produces `events` (see `events_for(prefix)`) to fresh 8-partition input topics read by `workers`
    lapsewatch workers in one group."""
    email_topic, login_topic = input_topics(prefix)
    for topic in (email_topic, login_topic):
        await create_topic(broker.bootstrap, topic, PARTITIONS)
    scenario = write_scenario(scratch / "scenario.json")
    app_id = f"bench-{uuid.uuid4().hex[:8]}"
    processes = [
        lapsewatch_worker(
            worker_env(
                broker,
                app_id,
                scratch / f"{app_id}-{i}-data",
                scenario,
                LAPSEWATCH_TOPIC_EMAIL_EVENTS=email_topic,
                LAPSEWATCH_TOPIC_LOGINS=login_topic,
            ),
            scratch,
            f"{app_id}-{i}",
        )
        for i in range(workers)
    ]
    applied = AppliedEvents()
    reader = TopicReader(broker.bootstrap, f"{app_id}-accounts-changelog", on_record=applied)
    try:
        for process in processes:
            await process.start()
        if workers > 1:
            await wait_until(
                lambda: _split(processes),
                120,
                "the workers to split the domain partitions",
                lambda: "\n".join(p.tail(10) for p in processes),
            )
        await reader.start()
        first, acknowledged = await produce(broker.bootstrap, None, events)
        await wait_until(
            lambda: len(applied.ids) >= len(events),
            60 + len(events) / 100,
            f"{len(events):,} event ids in the account rows",
            lambda: f"{len(applied.ids):,} found\n{processes[0].tail()}",
        )
    finally:
        await reader.stop()
        for process in processes:
            process.stop()
    total = len(events)
    return PipelineRun(
        workers,
        total,
        acknowledged - first,
        total / (applied.progress.reached(total) - first),
        applied.progress.steady_rate(total),
    )


class AppliedEvents:
    """The event ids the account table has applied: each account row on the changelog lists the ids of its
    account's latest events (`recent`, up to 64: the benchmark's accounts have one or two). Counted as they
    arrive, so the count's progress is the pipeline's, whether an account's events were written together or
    one by one."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.progress = Progress()

    def __call__(self, message, at: float) -> None:
        row = orjson.loads(message.value) if message.value else None
        if not isinstance(row, dict):
            return
        count = len(self.ids)
        self.ids.update(row.get("recent", ()))
        if len(self.ids) > count:
            self.progress.add(at, len(self.ids))


def _split(processes: list[Process]) -> bool:
    """Every worker owns some domain partitions, none twice, all of them together."""
    owned = [owned_partitions(p) for p in processes]
    return all(owned) and sum(map(len, owned)) == len(DOMAIN_PARTITIONS) and set().union(*owned) == DOMAIN_PARTITIONS


async def trivial_faust_progress(
    broker: EmbeddedBroker, scratch: Path, topics: tuple[str, ...], total: int
) -> Progress:
    """(b): the Faust app of bench/trivial_app.py drains the topics; its log says when it got how far."""
    env = {
        **os.environ,
        "BENCH_TRIVIAL_N": str(total),
        "BENCH_TRIVIAL_BROKER": broker.url,
        "BENCH_TRIVIAL_TOPICS": ",".join(topics),
        "BENCH_TRIVIAL_APP_ID": f"bench-trivial-{uuid.uuid4().hex[:8]}",
    }
    app = Process(
        [sys.executable, "-m", "faust", "-A", "bench.trivial_app", "worker", "-l", "info"], env, scratch / "trivial.log"
    )
    try:
        await app.start(ready=rf"progress {total} ", timeout=120 + total / 1000)
    finally:
        app.stop()
    progress = Progress()
    for count, at in re.findall(r"progress (\d+) ([\d.]+)", app.log()):
        progress.add(float(at), int(count))
    return progress


async def raw_consumer_progress(bootstrap: str, topics: tuple[str, ...], total: int) -> Progress:
    """(c): an aiokafka consumer without a group reads the topics and decodes every value."""
    reader = TopicReader(bootstrap, *topics, on_record=lambda message, _at: orjson.loads(message.value))
    try:
        await reader.start()
        await reader.wait_count(total, timeout=120)
    finally:
        await reader.stop()
    return reader.progress


def drain_rate(progress: Progress, total: int) -> float:
    """Records per second from the first record seen to the last."""
    return (total - progress.points[0][1]) / max(progress.reached(total) - progress.points[0][0], 1e-9)


# ---------------------------------------------------------------- (d) logins of known accounts


@dataclass
class LoginRun:
    accounts: int
    domains: int
    logins: int
    setup_seconds: float  # first creation produced → every account in the table and every domain checked
    produce_seconds: float
    overall: float  # logins/s, first login produced → every login committed and both hops without lag
    steady: float  # logins/s, input offsets committed, 10 → 90 %
    group: str  # the consumer group that committed the logins
    in_rows: int  # login ids found in the account rows on the changelog
    table_rate: float | None  # logins/s, first login produced → every login id in an account row (if all are)
    parse_rate: float  # logins/s, parse_login_event alone on the same bytes


def login_counts() -> tuple[int, int]:
    """(accounts created first, logins then)."""
    return env_int("BENCH_INGEST_LOGIN_ACCOUNTS", 20_000), env_int("BENCH_INGEST_LOGINS", 100_000)


def known_account_logins(tag: str, accounts: int, domains: int, logins: int) -> list[tuple[bytes, bytes]]:
    """`logins` logins, round-robin over the accounts of `new_accounts(tag, accounts, domains)`, each with the
    account's one address, verified as it was created: the snapshot the account book already holds."""
    return [
        login(f"{tag}-{i}", f"user{i}@shop{i % domains}-{tag}.com", f"{tag}-login-{n}")
        for n, i in ((n, n % accounts) for n in range(logins))
    ]


class InputCommits:
    """The worker's committed offsets, read without joining any group, polled while the input is processed.

    The input topics were read by Faust's agents under the app id; the batched input reader commits under
    `<app id>-input`. Both are asked: the one that has committed further is the one reading.
    """

    def __init__(self, bootstrap: str, app_id: str, inputs: tuple[str, ...], counted: str):
        self.bootstrap = bootstrap
        self.app_id = app_id
        self.groups = (app_id, f"{app_id}-input")
        self.inputs = inputs
        self.counted = counted  # the topic whose committed records make the progress
        self.internal = (f"{app_id}-account-commands", f"{app_id}-domain-commands")  # in pipeline order
        self.progress = Progress()
        self.leader = ""  # the group that committed furthest on `counted`
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> InputCommits:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await self._admin.start()
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False)
        await self._consumer.start()
        self._task = asyncio.ensure_future(self._poll())
        return self

    async def partitions(self, topic: str) -> list[TopicPartition]:
        await self._consumer.topics()  # fresh metadata: the internal topics appear once the worker made them
        return [TopicPartition(topic, p) for p in sorted(self._consumer.partitions_for_topic(topic) or ())]

    async def committed(self, group: str, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """The group's committed offset per partition, -1 where it never committed."""
        found = await self._admin.list_consumer_group_offsets(group, partitions=partitions)
        return {tp: found[tp].offset if tp in found else -1 for tp in partitions}

    async def _poll(self) -> None:
        counted = await self.partitions(self.counted)
        while True:
            best = 0
            for group in self.groups:
                done = sum(max(0, offset) for offset in (await self.committed(group, counted)).values())
                if done > best:
                    best, self.leader = done, group
            self.progress.add(time.monotonic(), best)
            await asyncio.sleep(COMMIT_POLL_SECONDS)

    async def drained(self) -> bool:
        """One group has committed every input record, and the app id's group every record of the
        repartition topics (in pipeline order, so a record the first hop sends is there before the second
        hop's end offsets are read)."""
        inputs = [tp for topic in self.inputs for tp in await self.partitions(topic)]
        ends = await end_offsets(self._consumer, inputs)  # ListOffsets alone under-reports on Tansu
        commits = [await self.committed(group, inputs) for group in self.groups]
        if not any(all(committed[tp] >= ends[tp] for tp in inputs) for committed in commits):
            return False
        for topic in self.internal:
            partitions = await self.partitions(topic)
            if not partitions:
                continue
            committed = await self.committed(self.app_id, partitions)
            ends = await end_offsets(self._consumer, partitions)
            if any(committed[tp] < ends[tp] for tp in partitions if ends[tp] > 0):
                return False
        return True

    async def wait_drained(self, timeout: float, on_fail) -> float:
        """Waits until `drained()`; returns when it first held."""
        deadline = time.monotonic() + timeout
        while not await self.drained():
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"timed out after {timeout:g}s waiting for the input to be committed "
                    f"({self.progress.count:,} on {self.counted} by {self.leader or 'no group'})\n{on_fail()}"
                )
            await asyncio.sleep(COMMIT_POLL_SECONDS)
        return time.monotonic()

    async def stop(self) -> None:
        await cancel(self._task)
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()


def parse_rate(records: list[tuple[bytes, bytes]], max_bytes: int) -> float:
    """Logins per second `parse_login_event` turns into commands, in this process, nothing else running."""
    public = PublicMailboxes()
    parse_login_event(*records[0], public=public, max_bytes=max_bytes)  # loads the schema: not per event
    started = time.perf_counter()
    for key, value in records:
        parse_login_event(key, value, public=public, max_bytes=max_bytes)
    return len(records) / (time.perf_counter() - started)


async def login_rate(broker: EmbeddedBroker, scratch: Path, prefix: str, accounts: int, logins: int) -> LoginRun:
    """Creates `accounts` accounts on fresh input topics and waits for them (and their domains' first
    checks); then times `logins` logins of those accounts, each snapshot unchanged."""
    email_topic, login_topic = input_topics(prefix)
    for topic in (email_topic, login_topic):
        await create_topic(broker.bootstrap, topic, PARTITIONS)
    tag = prefix.replace(".", "-")
    domains = max(1, accounts // 10)
    app_id = f"bench-{uuid.uuid4().hex[:8]}"
    env = worker_env(
        broker,
        app_id,
        scratch / f"{app_id}-data",
        write_scenario(scratch / "scenario.json"),
        LAPSEWATCH_TOPIC_EMAIL_EVENTS=email_topic,
        LAPSEWATCH_TOPIC_LOGINS=login_topic,
    )
    worker = lapsewatch_worker(env, scratch, app_id)
    suffix = f"-{tag}.com"
    checked: set[str] = set()

    def on_status(message, _at: float) -> None:
        data = orjson.loads(message.value).get("data") or {}
        if data.get("transition") == "active" and str(data.get("domain", "")).endswith(suffix):
            checked.add(data["domain"])

    applied = AppliedEvents()
    changelog = TopicReader(broker.bootstrap, f"{app_id}-accounts-changelog", on_record=applied)
    status = TopicReader(broker.bootstrap, "domains.status", on_record=on_status)
    commits = InputCommits(broker.bootstrap, app_id, (email_topic, login_topic), login_topic)
    records = known_account_logins(tag, accounts, domains, logins)
    try:
        await worker.start()
        await changelog.start()
        await status.start()
        began, _ = await produce(broker.bootstrap, email_topic, new_accounts(tag, accounts, domains))
        await wait_until(
            lambda: len(applied.ids) >= accounts,
            60 + accounts / 100,
            f"the {accounts:,} new accounts in the account table",
            worker.tail,
        )
        await wait_until(
            lambda: len(checked) >= domains, 60 + domains / 50, f"the {domains:,} domains checked", worker.tail
        )
        setup = time.monotonic() - began
        await status.stop()
        await commits.start()
        first, acknowledged = await produce(broker.bootstrap, login_topic, records)
        done = await commits.wait_drained(60 + logins / 100, worker.tail)
        await asyncio.sleep(2 * COMMIT_POLL_SECONDS)  # the poller's last point, at or past the end
    finally:
        await changelog.stop()
        await status.stop()
        await commits.stop()
        worker.stop()
    in_rows = len(applied.ids) - accounts
    return LoginRun(
        accounts,
        domains,
        logins,
        setup,
        acknowledged - first,
        logins / (done - first),
        commits.progress.steady_rate(logins),
        commits.leader,
        in_rows,
        logins / (applied.progress.reached(accounts + logins) - first) if in_rows >= logins else None,
        parse_rate(records, load_settings(env).max_event_bytes),
    )


def login_figures(run: LoginRun) -> list[Figure]:
    mix = (
        f"{run.logins:,} logins of {run.accounts:,} known accounts ({run.domains:,} domains, checked first), "
        f"each snapshot unchanged; produced in {run.produce_seconds:.2f} s"
    )
    return [
        Figure(
            NAME,
            "(d) logins of known accounts, steady 10 → 90 % (input offsets committed)",
            run.steady,
            "events/s",
            note=f"{mix}; committed by group {run.group}",
        ),
        Figure(
            NAME,
            "(d) logins of known accounts, first produce → all through both hops",
            run.overall,
            "events/s",
            note="ends when the input is committed and the repartition topics have no lag (commits lag "
            "processing by up to a commit interval); "
            + (
                f"every login id in the account rows at {run.table_rate:,.0f}/s"
                if run.table_rate is not None
                else f"{run.in_rows:,} login ids in the account rows (logins that change nothing need not write)"
            )
            + f"; setup: accounts in and domains checked in {run.setup_seconds:.0f} s",
        ),
        Figure(
            NAME,
            "(e) parse_login_event alone, in process, same bytes",
            run.parse_rate,
            "events/s",
            note="the ceiling our own parsing sets; no Kafka",
        ),
    ]


async def run() -> list[Figure]:
    total = event_count()
    prefix = "accounts"
    events = events_for(prefix, total)
    with embedded_broker() as broker, workdir(NAME) as scratch:
        full = await pipeline_rate(broker, scratch, prefix, events)
        trivial = await trivial_faust_progress(broker, scratch, input_topics(prefix), total)
        raw = await raw_consumer_progress(broker.bootstrap, input_topics(prefix), total)
        logins = await login_rate(broker, scratch, "login-mix", *login_counts())
    goal = f"≥ {GOAL:,} events/s"
    return [
        Figure(
            NAME,
            f"(a) full pipeline, first produce → {total:,} applied",
            full.overall,
            "events/s",
            goal,
            full.overall >= GOAL,
            f"{total:,} events (3 email_added : 1 login); produced in "
            f"{full.produce_seconds:.2f} s; worker started before",
        ),
        Figure(NAME, "(a) full pipeline, steady 10 → 90 %", full.steady, "events/s", goal, full.steady >= GOAL),
        Figure(
            NAME,
            "(b) Faust agent iterating the raw topics, steady 10 → 90 %",
            trivial.steady_rate(total),
            "events/s",
            note=f"drains the filled topics; first → last record {drain_rate(trivial, total):,.0f}/s",
        ),
        Figure(
            NAME,
            "(c) aiokafka consumer + orjson, steady 10 → 90 %",
            raw.steady_rate(total),
            "events/s",
            note=f"drains the filled topics; first → last record {drain_rate(raw, total):,.0f}/s",
        ),
        *login_figures(logins),
    ]
