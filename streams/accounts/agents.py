"""Input events → account commands (repartitioned by account) → account table → domain commands.

Both hops work in batches (streams/core/batches.py): the input agent takes many
events at a time and sends one record per account partition; the account
agent applies a whole record, writes each account it changed once, and sends
one record per domain partition. Faust acks an input event only after its
batch is handled, and commits only after the producer has flushed (a flush
streams/kafka/faust_fixes.py makes complete), so the at-least-once guarantee is the
same as one event at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from streams import topics
from streams.accounts.address_book import AccountState, apply_command
from streams.accounts.events import AccountCommand, parse_email_event, parse_login_event
from streams.app import app, settings
from streams.core import batches, metrics
from streams.core.addresses import PublicMailboxes
from streams.core.inbound import Rejected
from streams.deadletters import dead_letter_command, send_dead_letter

log = logging.getLogger("lapsewatch.accounts")
PUBLIC = PublicMailboxes(settings.public_domains_extra)
Parser = Callable[..., AccountCommand]
# Input events per batch, and how long a batch waits to fill: a bound on the latency it adds.
BATCH_EVENTS = 2000
BATCH_WAIT_SECONDS = 0.05


async def send_batches(topic, batcher: batches.Batcher) -> list:
    """Sends every record; returns the futures of their delivery."""
    return [await topic.send(key=None, value=value, partition=partition) for partition, value in batcher.drain()]


async def ingest(stream, parse: Parser) -> None:
    batcher = batches.Batcher(settings.partitions)
    async for events in stream.take_events(BATCH_EVENTS, within=BATCH_WAIT_SECONDS):
        for event in events:
            message = event.message
            try:
                command = parse(message.key, message.value, public=PUBLIC, max_bytes=settings.max_event_bytes)
            except Rejected as exc:
                await send_dead_letter(message, exc.reason, exc.message)
                continue
            except Exception as exc:  # a bug must not stall the stream: keep the input, say why
                log.exception("could not parse %s[%s]@%s", message.topic, message.partition, message.offset)
                await send_dead_letter(message, "processing_error", f"{type(exc).__name__}: {exc}")
                continue
            metrics.events_in.labels(message.topic, command.event_type).inc()
            if command.warnings:
                await send_dead_letter(message, "invalid_address", "; ".join(command.warnings))
            if command.upsert or command.remove or command.replace or command.login:
                batcher.add(command.account_id, command.to_dict())
        await send_batches(topics.account_commands, batcher)


@app.agent(topics.email_events)
async def ingest_email_events(stream):
    await ingest(stream, parse_email_event)


@app.agent(topics.logins)
async def ingest_logins(stream):
    await ingest(stream, parse_login_event)


async def apply_account_record(event) -> None:
    """One record of account commands, all from one partition: each account read and written once."""
    message = event.message
    try:
        commands = batches.decode(message.value)
    except Exception as exc:
        await dead_letter_command(message, None, message.value, exc)
        return
    states: dict[str, AccountState | None] = {}
    changed: set[str] = set()
    out = batches.Batcher(settings.partitions)
    for value in commands:
        try:
            command = AccountCommand.from_dict(value)
            account = command.account_id
            before = states[account] if account in states else topics.accounts.get(account)
            state, domain_commands = apply_command(before, command)
        except Exception as exc:  # apply_command is pure: a failed command leaves the state as it was
            await dead_letter_command(message, value.get("account_id") if isinstance(value, dict) else None, value, exc)
            continue
        states[account] = state
        if state is not None and state is not before:
            changed.add(account)
        for domain_command in domain_commands:  # typed (streams/domains/commands.py) until here, the wire edge
            out.add(domain_command.domain, domain_command.to_dict())
    # The domain commands are delivered before the table remembers the events:
    # after a crash the replayed input then finds either no trace of an event
    # (and derives its commands again) or commands already delivered.
    await asyncio.gather(*await send_batches(topics.domain_commands, out))
    # One changelog record per account per batch, written while this record is the
    # current event: the changelog partition is this record's partition.
    for account in changed:
        topics.accounts[account] = states[account]


@app.agent(topics.account_commands)
async def apply_account_commands(stream):
    async for event in stream.events():
        await apply_account_record(event)
