"""`lapsewatch lag` against the real broker: committed offsets, end offsets, the oldest unprocessed age."""

from __future__ import annotations

import asyncio
import os
import time

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from click.testing import CliRunner

from streams.cli import main
from streams.kafka.broker import free_port
from streams.ops.lag import measure_groups, measure_lag
from streams.settings import load_settings
from tests.harness import email_event, unique, unique_domain


async def _topic_with_records(bootstrap: str, topic: str, counts: list[int], written_ago: float) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, len(counts), 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=100)
    await producer.start()
    try:
        stamp = int((time.time() - written_ago) * 1000)
        # One batch per partition: a broker that lists a batch's base offset as its end (Tansu) would hide lag.
        sent = [
            await producer.send(topic, b"x", key=b"k%d" % n, partition=partition, timestamp_ms=stamp)
            for partition, count in enumerate(counts)
            for n in range(count)
        ]
        await producer.flush()
        for future in sent:
            await future
    finally:
        await producer.stop()


async def _commit(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def test_lag_is_end_minus_committed_and_ages_come_from_the_oldest_record(broker_url):
    bootstrap = broker_url.split("://", 1)[1]
    topic, group = unique("lag-topic"), unique("lag-group")
    await _topic_with_records(bootstrap, topic, [5, 3, 0], written_ago=3600)
    await _commit(bootstrap, group, {TopicPartition(topic, 0): 2})
    report = await measure_lag(bootstrap, group, [topic, unique("absent")])
    rows = {row.partition: row for row in report.partitions}
    assert (rows[0].committed, rows[0].lag) == (2, 3)
    assert (rows[1].committed, rows[1].lag) == (None, 3)  # never committed: everything is unprocessed
    assert (rows[2].lag, rows[2].oldest_age) == (0, None)
    assert report.total == 6 and report.by_topic() == {topic: 6} and len(report.missing) == 1
    # The records were stamped an hour ago: that is how long they have waited.
    assert 3500 < rows[0].oldest_age < 4000 and 3500 < report.oldest_age() < 4000


async def test_a_group_that_never_committed_counts_from_where_the_group_it_inherits_from_stopped(broker_url):
    bootstrap = broker_url.split("://", 1)[1]
    topic, old, new = unique("lag-inherit"), unique("lag-old"), unique("lag-new")
    await _topic_with_records(bootstrap, topic, [5, 4, 3], written_ago=60)
    await _commit(bootstrap, old, {TopicPartition(topic, 0): 4, TopicPartition(topic, 1): 1})
    await _commit(bootstrap, new, {TopicPartition(topic, 1): 3})
    report = await measure_lag(bootstrap, new, [topic], ages=False, inherit_from=old)
    rows = {row.partition: (row.committed, row.lag, row.inherited_from) for row in report.partitions}
    # Partition 0: `new` never committed, its reader starts where `old` stopped. Partition 1: `new`'s own offset
    # wins over `old`'s. Partition 2: neither committed, so all of it.
    assert rows == {0: (4, 1, old), 1: (3, 1, None), 2: (None, 3, None)}


async def test_a_running_worker_catches_up_to_zero_lag_in_both_its_groups(shared, broker_url):
    bootstrap = broker_url.split("://", 1)[1]
    settings = load_settings(shared.config.env())  # what `lapsewatch lag` measures for this worker
    app_id = shared.config.app_id
    assert set(settings.groups) == {app_id, f"{app_id}-input"}
    for domain in (unique_domain("lag"), unique_domain("lag")):
        await shared.email(email_event("email_added", unique("acct"), f"lag@{domain}", verified=True))

    deadline = time.monotonic() + 60
    measured = await measure_groups(bootstrap, settings.groups, ages=False)
    while measured.total or not all(report.partitions for report in measured.reports):
        assert time.monotonic() < deadline, f"the worker never caught up: {measured.to_dict()}"
        await asyncio.sleep(0.5)
        measured = await measure_groups(bootstrap, settings.groups, ages=False)
    assert not measured.missing
    reports = {report.group: report for report in measured.reports}
    topics = {group: {row.topic for row in report.partitions} for group, report in reports.items()}
    assert topics == {
        f"{app_id}-input": {shared.topics["email_events"], shared.topics["logins"]},
        app_id: {shared.topics["control"], f"{app_id}-account-commands", f"{app_id}-domain-commands"},
    }
    # Zero because each group committed what it read, not because nothing was there to read.
    for group, topic in ((f"{app_id}-input", shared.topics["email_events"]), (app_id, f"{app_id}-account-commands")):
        written = [row for row in reports[group].partitions if row.topic == topic and row.end]
        assert written and all(row.committed == row.end for row in written), (group, topic, written)


def test_the_cli_prints_json_for_scripts_and_a_clear_error_without_a_broker(broker_url, monkeypatch):
    runner = CliRunner()
    monkeypatch.setenv("LAPSEWATCH_BROKER", broker_url)
    monkeypatch.setenv("LAPSEWATCH_APP_ID", unique("lag-cli"))
    for name in ("EMAIL_EVENTS", "LOGINS", "CONTROL"):
        monkeypatch.setenv(f"LAPSEWATCH_TOPIC_{name}", unique("lag-cli-input"))
    result = runner.invoke(main, ["lag", "--json"])
    assert result.exit_code == 0, result.output
    document = orjson.loads(result.output)
    assert document["total_lag"] == 0 and len(document["missing_topics"]) == 5  # nothing deployed yet
    app_id = os.environ["LAPSEWATCH_APP_ID"]
    groups = {group["group"]: group for group in document["groups"]}
    assert set(groups) == {app_id, f"{app_id}-input"}
    assert len(groups[f"{app_id}-input"]["missing_topics"]) == 2 and len(groups[app_id]["missing_topics"]) == 3
    table = runner.invoke(main, ["lag"])
    assert table.exit_code == 0 and "total lag 0" in table.output
    assert f"{app_id}-input:" in table.output and f"{app_id}:" in table.output  # a table per group

    monkeypatch.setenv("LAPSEWATCH_BROKER", f"kafka://127.0.0.1:{free_port()}")
    failed = runner.invoke(main, ["lag"])
    assert failed.exit_code == 1 and "cannot reach the broker" in failed.output
