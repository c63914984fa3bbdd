"""Latency: from an `email_added` on an already-lapsed domain to its `email-unverified` event.

One worker (simulated provider: the domain answers "inactive"; no confirmation
delay; LAPSEWATCH_TICK=0.05s). A first account makes the domain known and
lapsed; then each sample is a new account on that domain, timed from the
moment its event is sent until its `email-unverified` event is read back from
accounts.email-unverified. Up to BENCH_LATENCY_CONCURRENCY samples are in
flight at once (default 10), each timed on its own.

Beside it, a probe of the broker itself: how long a plain aiokafka consumer
waits for a new record, with the fetch wait Faust hard-codes (1,500 ms), on an
8-partition topic and on a 1-partition one. Kafka answers a waiting fetch as
soon as a record arrives; a broker that lets the fetch run on first charges
that delay to every hop of the pipeline (input → account commands → domain
commands → output).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import (
    Figure,
    TopicReader,
    create_topic,
    email_added,
    embedded_broker,
    env_int,
    lapsewatch_worker,
    workdir,
    worker_env,
    write_scenario,
)

NAME = "latency"
GOAL = 1.0  # seconds, p99
DOMAIN = "lapsed-bakery-bench.com"
INPUT, OUTPUT = "accounts.email-events", "accounts.email-unverified"
FAUST_FETCH_WAIT_MS = 1500  # faust/transport/drivers/aiokafka.py passes fetch_max_wait_ms=1500 to its consumer


async def fetch_wakeup(bootstrap: str, partitions: int, samples: int = 8) -> list[float]:
    """Seconds from each record's acknowledgement until a consumer waiting in a fetch gets it.

    The records come at random moments (seeded) of the consumer's fetch cycle, as the pipeline's do.
    """
    topic = f"bench-fetch-probe-{partitions}"
    await create_topic(bootstrap, topic, partitions)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="latest",
        fetch_max_wait_ms=FAUST_FETCH_WAIT_MS,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await consumer.start()
    await producer.start()
    pauses = random.Random(partitions)
    delays = []
    try:
        for index in range(samples + 1):  # the first one only settles the consumer's position
            await producer.send_and_wait(topic, b"probe", partition=index % partitions)
            acknowledged = time.monotonic()
            await asyncio.wait_for(consumer.getone(), 30)
            delays.append(time.monotonic() - acknowledged)
            await asyncio.sleep(pauses.uniform(0, FAUST_FETCH_WAIT_MS / 1000))
    finally:
        await producer.stop()
        await consumer.stop()
    return delays[1:]


async def run() -> list[Figure]:
    samples = env_int("BENCH_LATENCY_N", 1_000)
    concurrency = env_int("BENCH_LATENCY_CONCURRENCY", 10)
    arrivals: dict[str, asyncio.Future] = {}

    def arrived(message, at: float) -> None:
        future = arrivals.get(orjson.loads(message.value)["data"]["account_id"])
        if future is not None and not future.done():
            future.set_result(at)

    with embedded_broker() as broker, workdir(NAME) as scratch:
        scenario = write_scenario(scratch / "scenario.json", domains={DOMAIN: "inactive"})
        worker = lapsewatch_worker(
            worker_env(broker, "bench-latency", scratch / "data", scenario, LAPSEWATCH_TICK="0.05s"), scratch, "worker"
        )
        reader = TopicReader(broker.bootstrap, OUTPUT, on_record=arrived)
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        try:
            await create_topic(broker.bootstrap, INPUT, 8)
            await worker.start()
            await reader.start()
            await producer.start()

            async def one(account: str) -> float:
                arrival = arrivals[account] = asyncio.get_running_loop().create_future()
                key, value = email_added(account, f"{account}@{DOMAIN}", f"ev-{account}")
                sent = time.monotonic()
                await producer.send_and_wait(INPUT, key=key, value=value)
                return await asyncio.wait_for(arrival, 60) - sent

            first = await one("first")  # includes the provider check that finds the lapse
            slots = asyncio.Semaphore(concurrency)

            async def sample(index: int) -> float:
                async with slots:
                    return await one(f"sample-{index}")

            began = time.monotonic()
            latencies = await asyncio.gather(*(sample(i) for i in range(samples)))
            elapsed = time.monotonic() - began
        finally:
            await producer.stop()
            await reader.stop()
            worker.stop()
        several, single = await fetch_wakeup(broker.bootstrap, 8), await fetch_wakeup(broker.bootstrap, 1, samples=4)

    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    p50, p99 = cuts[49], cuts[98]
    setting = f"{samples:,} samples, {concurrency} in flight, {samples / elapsed:.0f} samples/s"
    return [
        Figure(NAME, "email_added on a lapsed domain → email-unverified, p50", p50 * 1000, "ms", note=setting),
        Figure(
            NAME,
            "email_added on a lapsed domain → email-unverified, p99",
            p99 * 1000,
            "ms",
            f"< {GOAL * 1000:,.0f} ms",
            p99 < GOAL,
            f"max {max(latencies) * 1000:,.0f} ms",
        ),
        Figure(
            NAME,
            "first account: check, lapse, email-unverified",
            first * 1000,
            "ms",
            note="one provider call (simulated, 50 ms) and tick 0.05 s included",
        ),
        Figure(
            NAME,
            "broker: new record → consumer waiting in a fetch of 8 partitions, max",
            max(several) * 1000,
            "ms",
            note=f"plain aiokafka with Faust's fetch wait ({FAUST_FETCH_WAIT_MS} ms), {len(several)} records "
            f"at random moments: median {statistics.median(several) * 1000:.0f} ms; one partition: max "
            f"{max(single) * 1000:.0f} ms. The pipeline has 3 such hops",
        ),
    ]
