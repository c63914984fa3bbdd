"""Account commands (repartitioned by account) → account table → domain commands.

The input reader (intake.py) sends one record of commands per account
partition per batch; this agent applies a whole record, writes each account it
changed once, and sends one record per domain partition. Faust acks a record
only after it is handled, and commits only after the producer has flushed (a
flush streams/kafka/faust_fixes.py makes complete).
"""

from __future__ import annotations

import asyncio
import logging

from streams import topics
from streams.accounts.address_book import AccountState, apply_command
from streams.accounts.events import AccountCommand
from streams.app import app, settings
from streams.core import batches
from streams.core.jsontypes import JsonObject
from streams.deadletters import dead_letter_command, dead_letter_failed_record
from streams.kafka.faust_fixes import in_offset_order
from streams.kafka.table_batches import PartitionWrites, read_many

log = logging.getLogger("lapsewatch.accounts")


async def send_batches(topic, batcher: batches.Batcher) -> list:
    """Sends every record; returns the futures of their delivery."""
    return [await topic.send(key=None, value=value, partition=partition) for partition, value in batcher.drain()]


async def apply_account_record(event) -> None:
    """One record of account commands, all from one partition: each account read and written once."""
    message = event.message
    try:
        commands = batches.decode(message.value)
    except Exception as exc:
        await dead_letter_command(message, None, message.value, exc)
        return
    parsed: list[tuple[JsonObject, AccountCommand]] = []
    for value in commands:
        try:
            parsed.append((value, AccountCommand.from_dict(value)))
        except Exception as exc:
            await dead_letter_command(message, value.get("account_id") if isinstance(value, dict) else None, value, exc)
    states: dict[str, AccountState | None] = read_many(
        topics.accounts, message.partition, {command.account_id for _, command in parsed}
    )
    changed: set[str] = set()
    out = batches.Batcher(settings.partitions)
    for value, command in parsed:
        account = command.account_id
        before = states[account]
        try:
            state, domain_commands = apply_command(before, command)
        except Exception as exc:  # apply_command is pure: a failed command leaves the state as it was
            await dead_letter_command(message, account, value, exc)
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
    # One changelog record per account per batch, on this record's partition, delivered before the
    # record is acknowledged.
    writes = PartitionWrites(topics.accounts, message.partition)
    for account in changed:
        writes[account] = states[account]
    await writes.apply(app.producer)


@app.agent(topics.account_commands)
async def apply_account_commands(stream):
    async for event in in_offset_order(stream):
        try:
            await apply_account_record(event)
        except Exception as exc:
            await dead_letter_failed_record(event.message, exc)
