"""`lapsewatch lag` against the real broker: committed offsets, end offsets, the oldest unprocessed age."""

from __future__ import annotations

import asyncio
import time

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from click.testing import CliRunner

from streams.cli import main
from streams.kafka.broker import free_port
from streams.ops.lag import measure_lag
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


async def test_a_running_worker_catches_up_to_zero_lag(shared, broker_url):
    bootstrap = broker_url.split("://", 1)[1]
    account = unique("acct")
    await shared.email(email_event("email_added", account, f"lag@{unique_domain('lag')}", verified=True))
    topics = [shared.topics["email_events"], shared.topics["logins"]]
    app_id = shared.config.app_id
    topics += [f"{app_id}-account-commands", f"{app_id}-domain-commands"]

    deadline = time.monotonic() + 60
    report = await measure_lag(bootstrap, app_id, topics, ages=False)
    while report.total or not report.partitions:
        assert time.monotonic() < deadline, f"the worker never caught up: {report.to_dict()}"
        await asyncio.sleep(0.5)
        report = await measure_lag(bootstrap, app_id, topics, ages=False)
    assert not report.missing and all(
        row.committed is not None for row in report.partitions if row.topic == shared.topics["email_events"] and row.end
    )


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
    table = runner.invoke(main, ["lag"])
    assert table.exit_code == 0 and "total lag 0" in table.output

    monkeypatch.setenv("LAPSEWATCH_BROKER", f"kafka://127.0.0.1:{free_port()}")
    failed = runner.invoke(main, ["lag"])
    assert failed.exit_code == 1 and "cannot reach the broker" in failed.output
