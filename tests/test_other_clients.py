"""Input produced by another Kafka client library is consumed like any other."""

from __future__ import annotations

import orjson
from confluent_kafka import Producer

from tests.harness import email_event, unique, unique_domain, wait_for


async def test_events_from_confluent_kafka_are_consumed(shared, fastly, broker_url):
    domain = unique_domain("librdkafka")
    fastly.scenario.set(domain, "inactive")
    account = unique("acct")
    producer = Producer({"bootstrap.servers": broker_url.split("://", 1)[1]})
    producer.produce(
        shared.topics["email_events"],
        key=account.encode(),
        value=orjson.dumps(email_event("email_added", account, f"a@{domain}", verified=True)),
    )
    producer.produce(
        shared.topics["logins"],
        key=account.encode(),
        value=orjson.dumps({"event_id": unique("login"), "account_id": account}),
    )
    assert producer.flush(10) == 0
    events = await wait_for(lambda: shared.unverified(account=account), 30, "the event", shared.worker.log_tail)
    assert events[0]["data"]["email"] == f"a@{domain}"
