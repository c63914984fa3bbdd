"""Sending what the domain stage decides: outbound events on their topics, check results back to the domain topic."""

from __future__ import annotations

import asyncio
import logging
import time

import orjson

from streams import topics
from streams.app import app, settings
from streams.core import batches, metrics
from streams.domains import outbound
from streams.domains.commands import CheckResult
from streams.domains.outbound import Outbound
from streams.providers.breakers import CircuitChange

log = logging.getLogger("lapsewatch.domains")
CHANNELS = {"unverified": topics.email_unverified, "status": topics.domain_status}


async def send(event: Outbound):
    """Sends the event (partitioned by its key, as any Kafka producer would); returns the future of its delivery."""
    if event.channel == "unverified":
        data = event.value["data"]
        log.info("email-unverified: account %s on %s (%s)", data["account_id"], data["domain"], data["reason"])
    elif event.value["data"].get("transition") in ("lapsed", "recovered", "reregistered"):
        log.info("domain %s: %s", event.key, event.value["data"]["transition"])
    topic = CHANNELS[event.channel].get_topic_name()
    sent = await app.producer.send(topic, event.key.encode(), orjson.dumps(event.value), None, None, None)
    if event.channel == "unverified":
        metrics.unverified.labels(event.value["data"]["reason"]).inc()
    return sent


# Check results finishing within this long of each other go back to the domain stage as one record per
# partition: one at a time, a first deployment's checks made the domain hop handle a record per domain.
RESULTS_WAIT_SECONDS = 0.02
_results = batches.Batcher(settings.partitions)
_flushing: asyncio.Task | None = None


async def publish_result(result: CheckResult) -> None:
    global _flushing
    _results.add(result.domain, result.to_dict())
    if _flushing is None or _flushing.done():
        _flushing = asyncio.ensure_future(_send_results())


async def _send_results() -> None:
    while True:  # results added while sending go in the next round; none left, the task ends
        await asyncio.sleep(RESULTS_WAIT_SECONDS)
        records = _results.drain()
        if not records:
            return
        for partition, value in records:
            await topics.domain_commands.send(key=None, value=value, partition=partition)


async def announce_circuit(provider: str, change: CircuitChange) -> None:
    await send(
        outbound.circuit_status(
            provider, change.server, change.state, change.failures, change.reason, change.retry_at, time.time()
        )
    )
