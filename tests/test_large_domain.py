"""A domain with more members than one record holds (a university, a large company) is watched whole."""

from __future__ import annotations

import subprocess
import sys

import httpx
import orjson

from tests.harness import Memberships, email_event, unique, unique_domain, wait_for

T = 120  # 8,000 events through a loaded 2-core machine
STUDENTS = 8_000  # one row of them would be about 1.3 MB: over Kafka's 1 MB record limit
RECORD_LIMIT = 1_000_000  # aiokafka's and Kafka's default max request size


def latest_records(bus, changelog: str, domain: str) -> list:
    """The domain's rows (its head and pages) as the changelog holds them now."""
    latest = {m.key: m for m in bus.records[changelog] if orjson.loads(m.key).split("#")[0] == domain}
    return [m for m in latest.values() if m.value is not None]


async def test_a_domain_too_large_for_one_record_keeps_every_member_and_lapses_whole(start_pipeline, fastly):
    pipeline = await start_pipeline()
    changelog = f"{pipeline.config.app_id}-domains-changelog"
    await pipeline.bus.follow(changelog)
    table = Memberships(pipeline.bus, changelog)
    university, other = unique_domain("university"), unique_domain("next-door")
    fastly.scenario.set(university, "active")
    fastly.scenario.set(other, "inactive undelegated")
    students = [unique(f"student{i}") for i in range(STUDENTS)]
    await pipeline.bus.send_many(
        pipeline.topics["email_events"],
        [
            (student, email_event("email_added", student, f"{student}@{university}", verified=True))
            for student in students
        ],
    )
    neighbour = unique("neighbour")
    await pipeline.email(email_event("email_added", neighbour, f"{neighbour}@{other}", verified=True))

    def watched() -> int:
        return table.per_domain().get(university, 0)

    await wait_for(
        lambda: watched() >= STUDENTS or pipeline.worker.process.poll() is not None,
        T,
        "every student in the domain table",
        lambda: f"{watched()} of {STUDENTS}\n{pipeline.worker.log_tail()}",
    )
    assert pipeline.worker.process.poll() is None, pipeline.worker.log_tail()
    assert watched() == STUDENTS
    # One row would not do: together the domain's rows hold more than one record can.
    assert sum(len(m.value) for m in latest_records(pipeline.bus, changelog, university)) > RECORD_LIMIT
    # The worker went on with the other domains, and refused no one.
    await wait_for(lambda: pipeline.unverified(domain=other), T, "the neighbour's lapse", pipeline.worker.log_tail)
    assert pipeline.dead_letters() == []
    async with httpx.AsyncClient(timeout=10) as client:
        shown = (await client.get(f"{pipeline.worker.web_url}/domains/{university}")).json()
    assert shown["members"]["addresses"] == STUDENTS and shown["status"] == "active"

    # The domain lapses: every student is unverified once, and the ids sent are kept without a giant row.
    fastly.scenario.set(university, "inactive undelegated")
    done = subprocess.run(
        [sys.executable, "-m", "streams", "recheck", university, "--by", "tester"],
        env=pipeline.config.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    await wait_for(
        lambda: len(pipeline.unverified(domain=university)) >= STUDENTS,
        T,
        "an email-unverified event for every student",
        lambda: f"{len(pipeline.unverified(domain=university))} so far\n{pipeline.worker.log_tail()}",
    )
    assert sorted(e["data"]["account_id"] for e in pipeline.unverified(domain=university)) == sorted(students)
    await wait_for(
        lambda: (
            sum(len(row["emitted"]) for key, row in table.rows().items() if key.split("#")[0] == university) >= STUDENTS
        ),
        T,
        "the table to remember every event sent",
        pipeline.worker.log_tail,
    )
    assert max(len(m.value or b"") for m in pipeline.bus.records[changelog]) < RECORD_LIMIT
    assert len(latest_records(pipeline.bus, changelog, university)) > 1
    assert pipeline.worker.process.poll() is None and watched() == STUDENTS
