"""`lapsewatch backfill` end to end: a file → the input topic → a worker → email-unverified; twice."""

from __future__ import annotations

import asyncio
import os
import sys

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from streams.kafka.end_offsets import end_offsets
from streams.ops.backfill import produce
from tests.harness import email_event, unique, unique_domain, wait_for

T = 60  # seconds any single outcome may take on a loaded 2-core machine
VERIFIED = 24  # several records per input partition, so the producer sends multi-record batches


async def backfill(pipeline, *args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    """`python -m streams backfill ARGS` with only the broker and the input topic set."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LAPSEWATCH_")}
    env["LAPSEWATCH_BROKER"] = pipeline.config.broker_url
    env["LAPSEWATCH_TOPIC_EMAIL_EVENTS"] = pipeline.topics["email_events"]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streams",
        "backfill",
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), 120)
    return process.returncode, out.decode(), err.decode()


def without_timing(summary: str) -> list[str]:
    return [line for line in summary.splitlines() if not line.startswith("elapsed:")]


async def test_backfill_unverifies_lapsed_accounts_and_a_second_run_changes_nothing(start_pipeline, fastly, tmp_path):
    pipeline = await start_pipeline()
    domain = unique_domain("backfilled")
    fastly.scenario.set(domain, "inactive")
    verified = [unique("bf") for _ in range(VERIFIED)]
    unverified = unique("bf-unverified")
    rows = [
        {
            "account_id": account,
            "email": f"User{i}@{'mail.' if i % 2 else ''}{domain}",
            "verified": True,
            "verified_at": "2024-05-01T12:00:00Z",
        }
        for i, account in enumerate(verified)
    ]
    rows[3:3] = [
        {"account_id": unverified, "address": f"new@{domain}", "verified": False, "verified_at": None},
        {"account_id": unique("bf-public"), "email": "someone@gmail.com"},
        {"account_id": unique("bf-invalid"), "email": "nobody@localhost"},
    ]
    path = tmp_path / "accounts.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(row) for row in rows) + b"\n")

    code, first, err = await backfill(pipeline, str(path))
    assert code == 2, err
    assert f"rows read:   {VERIFIED + 3}" in first and f"produced:    {VERIFIED + 1}" in first
    assert "public mailbox rows skipped: 1" in first and "rejected:    1" in first
    assert "line 6: email: the domain has no top-level domain" in first

    # Every verified row arrives, the file's last one included (see produce() on Tansu's high watermark).
    await wait_for(
        lambda: len(pipeline.unverified(domain=domain)) >= VERIFIED,
        T,
        f"{VERIFIED} email-unverified events",
        pipeline.worker.log_tail,
    )
    assert pipeline.unverified(account=verified[-1])
    assert sorted(e["data"]["account_id"] for e in pipeline.unverified(domain=domain)) == sorted(verified)
    assert pipeline.unverified(account=unverified) == []

    code, second, err = await backfill(pipeline, str(path))
    assert code == 2, err
    assert without_timing(second) == without_timing(first)

    # Barrier: a live address for each backfilled account, sent after the second run. Each account's
    # records are in order on one input partition, and the domain commands they cause share the
    # domain's partition, so each barrier's event proves the rerun's records for that account were applied.
    accounts = [*verified, unverified]
    for account in accounts:
        await pipeline.email(email_event("email_added", account, f"barrier@{domain}", verified=True))
    await wait_for(
        lambda: all(
            any(e["data"]["email"] == f"barrier@{domain}" for e in pipeline.unverified(account=a)) for a in accounts
        ),
        T,
        "every barrier's email-unverified",
        pipeline.worker.log_tail,
    )

    for account in verified:
        assert len(pipeline.unverified(account=account)) == 2  # its backfilled address once, and the barrier
    assert len(pipeline.unverified(account=unverified)) == 1
    assert pipeline.transitions(domain) == ["first_seen", "lapsed"]
    assert fastly.calls(domain) == 1
    assert pipeline.dead_letters() == []


async def test_backfill_reads_csv_from_stdin(shared, fastly):
    domain = unique_domain("backfilled-csv")
    fastly.scenario.set(domain, "deleting")
    accounts = [unique("bf-csv") for _ in range(3)]
    text = "account_id,email,verified,verified_at\n" + "".join(
        f"{account},{account}@{domain},yes,2024-05-01\n" for account in accounts
    )

    code, out, err = await backfill(shared, "-", "--format", "csv", stdin=text.encode())
    assert code == 0, err
    assert "produced:    3" in out and "rejected:    0" in out
    await wait_for(
        lambda: len(shared.unverified(domain=domain)) == 3, T, "three email-unverified events", shared.worker.log_tail
    )
    assert {e["data"]["verified_at"] for e in shared.unverified(domain=domain)} == {"2024-05-01T00:00:00Z"}


async def test_every_record_is_below_the_end_offsets_where_the_default_partitioner_puts_it(broker_url):
    """Tansu 0.6.0 reports the end of a partition as its last batch's base offset + 1; produce() ends
    each partition with a one-record batch so that the end it reports after a backfill is exact."""
    bootstrap, topic = broker_url.split("://", 1)[1], unique("bf-offsets")
    records = [(f"acct-{i}".encode(), orjson.dumps({"n": i})) for i in range(500)]
    assert await produce(records, bootstrap=bootstrap, topic=topic, batch_bytes=2048) == len(records)

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        assert topic in await consumer.topics()  # also loads the topic's metadata
        numbers = sorted(consumer.partitions_for_topic(topic))
        partitions = [TopicPartition(topic, n) for n in numbers]
        ends = await end_offsets(consumer, partitions)
        assert sum(ends.values()) == len(records), ends
        consumer.assign(partitions)
        got = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for messages in (await asyncio.wait_for(consumer.getmany(timeout_ms=200), T)).values():
                got.extend(messages)
    finally:
        await consumer.stop()
    assert sorted((m.key, m.value) for m in got) == sorted(records)
    assert all(m.partition == DefaultPartitioner()(m.key, numbers, numbers) for m in got)
