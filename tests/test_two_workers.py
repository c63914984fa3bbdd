"""Two workers in one consumer group: they split the domains, and when one is
killed (-9, no goodbye) the other takes its partitions, recovers its tables
from the changelogs and finishes the job with nothing lost."""

from __future__ import annotations

import re
import signal
from collections import defaultdict

import httpx

from tests.conftest import close_pipeline, open_pipeline
from tests.harness import (
    InputWorkload,
    Worker,
    WorkerConfig,
    all_committed,
    commands_by_event,
    email_event,
    missing_report,
    snapshot,
    unique,
    unique_domain,
    wait_for,
    wait_until,
)

T = 90  # a kill costs a session timeout (6 s) before the rebalance, then recovery
ALL_PARTITIONS = {0, 1, 2, 3}  # LAPSEWATCH_PARTITIONS in the test harness


def owned_partitions(worker: Worker) -> set[int] | None:
    """The domain partitions the worker owned at its last due-index rebuild."""
    found = re.findall(r"due index rebuilt: \d+ domains in domain partitions \[([\d, ]*)\]", worker.log())
    return {int(p) for p in found[-1].split(",") if p.strip()} if found else None


def input_partitions(worker: Worker, topic: str) -> set[int] | None:
    """The partitions of input `topic` the worker's input reader got at its group's last assignment (None: none yet).

    aiokafka logs each assignment as a table (Faust's formatting), then "for group <app id>-input"."""
    found = None
    for block in worker.log().split("Setting newly assigned partitions")[1:]:
        table, _, rest = block.partition(" for group ")
        if not rest.startswith(f"{worker.config.app_id}-input"):
            continue
        found = set()
        for row in re.findall(rf"\| {re.escape(topic)} +\| \{{([^}}]*)\}}", table):
            for item in filter(None, (part.strip() for part in row.split(","))):
                low, _, high = item.partition("-")
                found |= set(range(int(low), int(high or low) + 1))
    return found


async def test_two_workers_split_the_work_and_one_survives_the_others_kill(broker_url, fastly, tmp_path_factory):
    first = WorkerConfig(broker_url, fastly.url, tmp_path_factory.mktemp("first"))
    second = WorkerConfig(broker_url, fastly.url, tmp_path_factory.mktemp("second"), app_id=first.app_id)
    pipeline = await open_pipeline(broker_url, first)
    other = await Worker(second).start()
    try:

        def split() -> bool:
            mine, theirs = owned_partitions(pipeline.worker), owned_partitions(other)
            return bool(mine and theirs and not mine & theirs and mine | theirs == ALL_PARTITIONS)

        await wait_for(
            split,
            T,
            "both workers to own half the domain partitions",
            lambda: pipeline.worker.log_tail(20) + "\n" + other.log_tail(20),
        )

        # Shared work: every domain is checked once, by one worker.
        domains = [unique_domain("split") for _ in range(16)]
        for index, domain in enumerate(domains):
            fastly.scenario.set(domain, "inactive" if index % 2 else "active")
            await pipeline.email(email_event("email_added", unique("acct"), f"u@{domain}", verified=True))
        await wait_for(
            lambda: all(len(pipeline.transitions(d)) >= 2 for d in domains),
            T,
            "a verdict for every domain",
            pipeline.worker.log_tail,
        )
        assert [fastly.scenario.calls[d] for d in domains] == [1] * len(domains)
        assert len(pipeline.unverified()) == len(domains) // 2

        # Either worker answers /domains/{name}: the one that does not own the domain forwards to the one that does.
        async with httpx.AsyncClient(timeout=10) as client:
            owners = set()
            for domain in domains:
                answers = [(await client.get(f"{w.web_url}/domains/{domain}")) for w in (pipeline.worker, other)]
                assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
                assert answers[0].json() == answers[1].json()
                owners.add(answers[0].json()["worker"])
            assert len(owners) == 2, owners

        # A kill in the middle of a run.
        lapsed = [unique_domain("takeover") for _ in range(16)]
        expected = set()
        for index, domain in enumerate(lapsed):
            fastly.scenario.set(domain, "inactive")
            for n in range(2):
                account = unique("acct")
                expected.add((account, domain))
                await pipeline.email(email_event("email_added", account, f"m{n}@{domain}", verified=True))
            if index == len(lapsed) // 2:
                other.process.kill()
        received = lambda: {
            (e["data"]["account_id"], e["data"]["domain"])
            for e in pipeline.unverified()
            if e["data"]["domain"] in lapsed
        }
        await wait_for(
            lambda: received() == expected,
            T,
            "every email-unverified event after the kill",
            lambda: missing_report(expected - received(), pipeline.worker, other),
        )
        assert owned_partitions(pipeline.worker) == ALL_PARTITIONS

        ids = defaultdict(set)
        for event in pipeline.unverified():
            ids[(event["data"]["account_id"], event["data"]["email"])].add(event["id"])
        assert all(len(same) == 1 for same in ids.values()), "a duplicate event carried a different id"
    finally:
        other.stop()
        await close_pipeline(pipeline)


async def test_a_worker_killed_between_sending_and_committing_input_leaves_its_batch_to_the_other(
    broker_url, fastly, tmp_path_factory
):
    """The second worker dies on its first input batch, after the batch's commands are acknowledged and before its
    offsets are committed (the intake-sent failpoint). The first worker takes its partitions over, input and tables,
    reads that batch again from the offset committed before it, and every event's effect is there exactly once."""
    first = WorkerConfig(broker_url, fastly.url, tmp_path_factory.mktemp("first"))
    second = WorkerConfig(
        broker_url,
        fastly.url,
        tmp_path_factory.mktemp("second"),
        {"LAPSEWATCH_FAILPOINTS": "intake-sent=1"},
        app_id=first.app_id,
    )
    app, outputs = first.app_id, InputWorkload.topics(first)
    pipeline = await open_pipeline(broker_url, first)
    other = Worker(second)
    try:
        bus, email_topic = pipeline.bus, first.topics["email_events"]
        await bus.follow(*outputs[2:])
        workload = InputWorkload.build(app, accounts=3000, domains=100, lapsed=10, fastly=fastly)
        head, tail = workload.events[:1000], workload.events[1000:]
        # Read and committed by the first worker alone: the second one will start from these offsets.
        await bus.send_many(email_topic, head)
        await wait_until(
            lambda: all_committed(first, inputs_only=True), T, "the first events committed", pipeline.worker.log_tail
        )

        await other.start()
        await wait_for(
            lambda: input_partitions(other, email_topic),
            T,
            "the second worker to read input partitions",
            lambda: other.log_tail(40),
        )
        await bus.send_many(email_topic, tail)
        assert await other.exited(T) == -signal.SIGKILL, other.log_tail()

        await wait_for(
            lambda: not workload.problems(bus, first.topics, app),
            T,
            "every event applied once after the takeover",
            lambda: workload.report(bus, first.topics, app, pipeline.worker, other),
            every=0.5,
        )
        await wait_until(lambda: all_committed(first), T, "every offset committed to its end", pipeline.worker.log_tail)
        assert input_partitions(pipeline.worker, email_topic) == ALL_PARTITIONS
        assert owned_partitions(pipeline.worker) == ALL_PARTITIONS
        final = await snapshot(broker_url.split("://", 1)[1], *outputs)
        assert workload.problems(final, first.topics, app) == [], workload.report(
            final, first.topics, app, pipeline.worker
        )
        # The killed batch was read again by the survivor: its commands went out twice, and changed nothing twice.
        sent = commands_by_event(final, f"{app}-account-commands")
        assert any(count > 1 for count in sent.values()), "no command was sent twice: the kill proved nothing"
        assert set(sent) == {event["event_id"] for _, event in workload.events}
    finally:
        other.stop()
        await close_pipeline(pipeline)
