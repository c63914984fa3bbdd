"""Two workers in one consumer group: they split the domains, and when one is
killed (-9, no goodbye) the other takes its partitions, recovers its tables
from the changelogs and finishes the job with nothing lost."""

from __future__ import annotations

import re
from collections import defaultdict

import httpx

from tests.conftest import close_pipeline, open_pipeline
from tests.harness import Worker, WorkerConfig, email_event, unique, unique_domain, wait_for

T = 90  # a kill costs a session timeout (6 s) before the rebalance, then recovery
ALL_PARTITIONS = {0, 1, 2, 3}  # LAPSEWATCH_PARTITIONS in the test harness


def owned_partitions(worker: Worker) -> set[int] | None:
    """The domain partitions the worker owned at its last due-index rebuild."""
    found = re.findall(r"due index rebuilt: \d+ domains in domain partitions \[([\d, ]*)\]", worker.log())
    return {int(p) for p in found[-1].split(",") if p.strip()} if found else None


def missing_report(missing: set[tuple[str, str]], *workers: Worker) -> str:
    """The missing (account, domain) pairs, and every log line of either worker that names one of them."""
    names = {name for pair in missing for name in pair}
    lines = [f"missing {sorted(missing)}"]
    for worker in workers:
        lines.append(f"--- {worker.log_path.name}")
        lines += [line for line in worker.log().splitlines() if any(name in line for name in names)]
    return "\n".join(lines)


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
