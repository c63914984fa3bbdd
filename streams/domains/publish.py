"""Sending what the domain stage decides: outbound events on their topics, check results back to the domain topic."""

from __future__ import annotations

import logging
import time

import orjson

from streams import topics
from streams.core import metrics
from streams.domains import outbound
from streams.domains.commands import CheckResult
from streams.domains.outbound import Outbound
from streams.providers.breakers import CircuitChange

log = logging.getLogger("lapsewatch.domains")
CHANNELS = {"unverified": topics.email_unverified, "status": topics.domain_status}


async def send(event: Outbound):
    """Sends the event; returns the future of its delivery."""
    if event.channel == "unverified":
        data = event.value["data"]
        log.info("email-unverified: account %s on %s (%s)", data["account_id"], data["domain"], data["reason"])
    elif event.value["data"].get("transition") in ("lapsed", "recovered", "reregistered"):
        log.info("domain %s: %s", event.key, event.value["data"]["transition"])
    sent = await CHANNELS[event.channel].send(key=event.key.encode(), value=orjson.dumps(event.value))
    if event.channel == "unverified":
        metrics.unverified.labels(event.value["data"]["reason"]).inc()
    return sent


async def publish_result(result: CheckResult) -> None:
    await topics.domain_commands.send(key=result.domain.encode(), value=orjson.dumps(result.to_dict()))


async def announce_circuit(provider: str, change: CircuitChange) -> None:
    await send(
        outbound.circuit_status(
            provider, change.server, change.state, change.failures, change.reason, change.retry_at, time.time()
        )
    )
