"""Input events → account commands (repartitioned by account) → account table → domain commands."""

from __future__ import annotations

import logging
from typing import Callable

from streams import topics
from streams.accounts.addresses import PublicMailboxes
from streams.accounts.book import apply_command
from streams.accounts.events import AccountCommand, Rejected, parse_email_event, parse_login_event
from streams.app import app, settings
from streams.ops import metrics
from streams.ops.failures import guarded, send_dead_letter

log = logging.getLogger("lapsewatch.accounts")
PUBLIC = PublicMailboxes(settings.public_domains_extra)
Parser = Callable[..., AccountCommand]


async def ingest(stream, parse: Parser) -> None:
    async for event in stream.events():
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
            await topics.account_commands.send(key=command.account_id.encode(), value=command.to_dict())


@app.agent(topics.email_events)
async def ingest_email_events(stream):
    await ingest(stream, parse_email_event)


@app.agent(topics.logins)
async def ingest_logins(stream):
    await ingest(stream, parse_login_event)


async def apply_account_command(value: dict) -> None:
    command = AccountCommand.from_dict(value)
    before = topics.accounts.get(command.account_id)
    state, domain_commands = apply_command(before, command)
    if state is not None and state is not before:
        topics.accounts[command.account_id] = state
    for domain_command in domain_commands:
        await topics.domain_commands.send(key=domain_command["domain"].encode(), value=domain_command)


@app.agent(topics.account_commands)
async def apply_account_commands(stream):
    await guarded(stream, apply_account_command)
