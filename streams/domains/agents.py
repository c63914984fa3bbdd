"""The domain stage's agents: domain commands → domain table → outbound events, and operators' control commands.

Each domain is read, decided (lifecycle.py, pure), written (table.py) and its
events sent (publish.py) by the worker that owns its partition, in order;
control commands reach it through the same domain-commands topic.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import assert_never

from streams import topics
from streams.app import app, settings
from streams.core import batches
from streams.core.inbound import Rejected
from streams.deadletters import dead_letter_command, dead_letter_failed_record, send_dead_letter
from streams.domains import commands
from streams.domains.commands import CheckResult, ControlCommand, DomainCommand, Login, MemberAdded, MemberRemoved
from streams.domains.controls import parse_control
from streams.domains.lifecycle import (
    Decision,
    apply_check,
    apply_control,
    apply_login,
    apply_member,
    apply_unmember,
    login_changes_nothing,
)
from streams.domains.outbound import Outbound
from streams.domains.publish import send
from streams.domains.scheduler import checker
from streams.domains.state import DomainState
from streams.domains.table import load, store
from streams.kafka.faust_fixes import in_offset_order
from streams.kafka.table_batches import PartitionWrites, read_many

log = logging.getLogger("lapsewatch.domains")
control_log = logging.getLogger("lapsewatch.control")
POLICY = settings.policy


def decide(state: DomainState | None, command: DomainCommand, now: float) -> Decision:
    match command:
        case MemberAdded():
            return apply_member(state, command, now)
        case MemberRemoved():
            return apply_unmember(state, command, now)
        case Login():
            return apply_login(state, now, POLICY)
        case CheckResult():
            return apply_check(state, command, now, POLICY)
        case ControlCommand():
            return apply_control(state, command, now)
        case _:
            assert_never(command)


def apply_domain_commands_to(before: dict | None, records: list[dict]) -> Decision:
    """(state after every command in order, the events to send); raises if any command does,
    a record that holds no command (commands.InvalidCommand) included."""
    state = DomainState.from_dict(before) if before else None
    events: list[Outbound] = []
    for record in records:
        command = commands.from_dict(record)
        # Each command its own time, as when they came one per record: status event ids differ.
        state, more = decide(state, command, time.time())
        events.extend(more)
    return state, events


async def apply_domain_record(event) -> None:
    """One record of domain commands, all from one partition: each domain read and written once.

    Commands apply in order per domain. If one raises (a bug), that domain's
    commands are applied one at a time, so only the failing one is
    dead-lettered and the others still count.
    """
    message = event.message
    try:
        commands = batches.decode(message.value)
    except Exception as exc:
        await dead_letter_command(message, None, message.value, exc)
        return
    by_domain: dict[str, list[dict]] = {}
    for command in commands:
        domain = command.get("domain") if isinstance(command, dict) else None
        if not isinstance(domain, str):
            await dead_letter_command(message, None, command, ValueError("the command names no domain"))
            continue
        by_domain.setdefault(domain, []).append(command)
    decided = []
    heads = read_many(topics.domains, message.partition, by_domain)
    now = time.time()
    for domain, group in by_domain.items():
        if only_logins(group) and login_changes_nothing(heads[domain], now, POLICY):
            continue  # nothing to decide, store or send: the most common input costs no state
        stored, before = load(domain, heads[domain])
        try:
            state, events = apply_domain_commands_to(before, group)
        except Exception:
            await apply_one_by_one(message, domain, stored, before, group)
            release_checks(domain, group)
            continue
        decided.append((domain, stored, state, events))
    # Events are delivered before the table records them as emitted: after a crash
    # the replay finds either no trace of them (and emits them again) or them delivered.
    await asyncio.gather(*[await send(outgoing) for *_, events in decided for outgoing in events])
    writes = PartitionWrites(topics.domains, message.partition)
    for domain, stored, state, _ in decided:
        store(domain, stored, state, writes)
    await writes.apply(app.producer)
    for domain, *_ in decided:
        release_checks(domain, by_domain[domain])


def only_logins(group: list[dict]) -> bool:
    try:
        return all(isinstance(commands.from_dict(record), Login) for record in group)
    except Exception:  # the full path dead-letters what it cannot read
        return False


def release_checks(domain: str, group: list[dict]) -> None:
    """The checks whose results were applied leave flight, only now that the table holds the next check
    time: released any sooner, the dispatcher could ask again on a due time the result has not yet moved."""
    for command in group:  # the records as they came: one whose result could not be read still leaves flight
        if command.get("kind") == CheckResult.kind:
            checker.done(domain, command.get("check_id"))


async def apply_one_by_one(
    message, domain: str, stored: dict[str, dict], before: dict | None, group: list[dict]
) -> None:
    for command in group:
        try:
            state, events = apply_domain_commands_to(before, [command])
        except Exception as exc:
            await dead_letter_command(message, domain, command, exc)
            continue
        await asyncio.gather(*[await send(outgoing) for outgoing in events])
        writes = PartitionWrites(topics.domains, message.partition)
        store(domain, stored, state, writes)
        await writes.apply(app.producer)  # now: the next command reads what this one wrote
        stored, before = load(domain)


@app.agent(topics.domain_commands)
async def apply_domain_commands(stream):
    async for event in in_offset_order(stream):
        try:
            await apply_domain_record(event)
        except Exception as exc:
            await dead_letter_failed_record(event.message, exc)


@app.agent(topics.control)
async def forward_control_commands(stream):
    """Operators' commands (`lapsewatch recheck/allow/unallow`) → the domain-commands hop, so the worker that
    owns the domain applies them in order with its other commands (`apply_control` in lifecycle.py).
    With LAPSEWATCH_CONTROL_KEY(_FILE) set, only signed ones (streams/core/control_auth.py)."""
    if not settings.control_keys:
        control_log.warning(
            "control commands are not authenticated: anyone who can write to %s can allow a domain "
            "(set LAPSEWATCH_CONTROL_KEY_FILE)",
            settings.topics.control,
        )
    async for event in stream.events():
        message = event.message
        try:
            command = parse_control(
                message.key,
                message.value,
                max_bytes=settings.max_event_bytes,
                keys=settings.control_keys,
                max_age=settings.control_max_age,
                now=time.time(),
            )
        except Rejected as exc:
            await send_dead_letter(message, exc.reason, exc.message)
            continue
        control_log.info(
            "control: %s %s by %s (%s)", command.action, command.domain, command.requested_by, command.command_id
        )
        batcher = batches.Batcher(settings.partitions)
        batcher.add(command.domain, command.to_dict())
        for partition, value in batcher.drain():
            # Delivered before the offset can be committed: a crash replays, the audit id dedups.
            await (await topics.domain_commands.send(key=None, value=value, partition=partition))
