"""Domain commands → domain table → outbound events; the timer that starts due checks."""

from __future__ import annotations

import asyncio
import logging
import time

import orjson

from streams import topics
from streams.core import batches, metrics
from streams.deadletters import dead_letter_command
from streams.app import app, settings
from streams.domains.checker import Checker, start_due_checks
from streams.domains.due import URGENT, DueIndex, priority_of
from streams.domains.lifecycle import (CheckResult, apply_check, apply_control, apply_login, apply_member,
                                       apply_unmember)
from streams.domains import outbound, rows
from streams.domains.outbound import Outbound
from streams.domains.state import DomainState
from streams.domains.provider_setup import build_gate, build_provider
from streams.providers.breakers import Breakers, CircuitChange

log = logging.getLogger("lapsewatch.domains")
POLICY = settings.policy
CHANNELS = {"unverified": topics.email_unverified, "status": topics.domain_status}


async def publish_result(result: CheckResult) -> None:
    await topics.domain_commands.send(key=result.domain.encode(), value=orjson.dumps(result.to_dict()))


async def announce_circuit(provider: str, change: CircuitChange) -> None:
    await send(outbound.circuit_status(provider, change.server, change.state, change.failures, change.reason,
                                       change.retry_at, time.time()))


def proven(domain: str) -> bool:
    """The domain answered a check before and has not failed since: its failure speaks of its server."""
    value = topics.domains.get(domain)
    return isinstance(value, dict) and value.get("last_success_at") is not None and not value.get("errors")


def requeue(domain: str, at: float) -> None:
    """A check that was not sent after all (its circuit opened meanwhile) comes due again at `at`."""
    value = topics.domains.get(domain)
    if value is not None:
        due.set(domain, at, priority_of(value))


gate = build_gate(settings)
checker = Checker(
    build_provider(settings.provider, settings, gate), publish_result,
    confirm=build_provider(settings.confirm_provider, settings, gate) if settings.confirm_provider else None,
    concurrency=settings.check_concurrency, deadline=settings.check_deadline, gate=gate,
    breakers=Breakers(settings.breaker_failures, settings.breaker_cooldown, settings.breaker_max_cooldown,
                      settings.breaker_window),
    announce=announce_circuit, requeue=requeue, proven=proven)


def decide(state: DomainState | None, command: dict, now: float):
    kind = command["kind"]
    if kind == "member":
        return apply_member(state, command, now)
    if kind == "unmember":
        return apply_unmember(state, command, now)
    if kind == "login":
        return apply_login(state, now, POLICY)
    if kind == "check":
        return apply_check(state, CheckResult.from_dict(command), now, POLICY)
    if kind == "control":
        return apply_control(state, command, now)
    raise ValueError(f"unknown domain command {kind!r}")


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


def apply_domain_commands_to(before: dict | None, commands: list[dict]):
    """(state after every command in order, the events to send); raises if any command does."""
    state = DomainState.from_dict(before) if before else None
    events: list[Outbound] = []
    for command in commands:
        # Each command its own time, as when they came one per record: status event ids differ.
        state, more = decide(state, command, time.time())
        events.extend(more)
    return state, events


def load(domain: str) -> tuple[dict[str, dict], dict | None]:
    """The domain's rows as stored ({} if none) and its value joined from them (None if none)."""
    head = topics.domains.get(domain)
    if head is None:
        return {}, None
    stored = {domain: head}
    for page in range(head.get("pages", 0)):
        key = rows.page_key(domain, page)
        row = topics.domains.get(key)
        if row is None:  # head and pages are written under one offset commit: this is a bug
            log.error("domain %s: page row %s is missing; its members are lost until they log in again",
                      domain, key)
            row = rows.empty_page()
        stored[key] = row
    return stored, rows.join(head, [stored[key] for key in stored if key != domain])


def store(domain: str, before: dict[str, dict], state: DomainState | None) -> None:
    """Writes the rows (changelog records) of the domain that changed, and deletes those it no longer has."""
    head = before.get(domain)
    after = {} if state is None else rows.split(domain, state.to_dict(), head.get("pages", 0) if head else 0)
    if after and rows.has_members(after[domain]):
        due.set(domain, state.next_check_at, priority_of(after[domain]))
    else:  # gone, or kept only for its allow: nothing to check
        due.discard(domain)
    for key, row in after.items():
        if row != before.get(key):
            topics.domains[key] = row
    for key in before.keys() - after.keys():
        del topics.domains[key]


async def apply_domain_record(event) -> None:
    """One record of domain commands, all from one partition: each domain read and written once.

    Commands apply in order per domain. If one raises (a bug), that domain's
    commands are applied one by one as before, so only the failing one is
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
    for domain, group in by_domain.items():
        stored, before = load(domain)
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
    for domain, stored, state, _ in decided:
        store(domain, stored, state)
        release_checks(domain, by_domain[domain])


def release_checks(domain: str, group: list[dict]) -> None:
    """The checks whose results were applied leave flight, only now that the table holds the next check
    time: released any sooner, the dispatcher could ask again on a due time the result has not yet moved."""
    for command in group:
        if command.get("kind") == "check":
            checker.done(domain, command.get("check_id"))


async def apply_one_by_one(message, domain: str, stored: dict[str, dict], before: dict | None,
                           group: list[dict]) -> None:
    for command in group:
        try:
            state, events = apply_domain_commands_to(before, [command])
        except Exception as exc:
            await dead_letter_command(message, domain, command, exc)
            continue
        await asyncio.gather(*[await send(outgoing) for outgoing in events])
        store(domain, stored, state)
        stored, before = load(domain)


@app.agent(topics.domain_commands)
async def apply_domain_commands(stream):
    async for event in stream.events():
        await apply_domain_record(event)


def ready() -> bool:
    """Not rebalancing, and the tables are recovered from their changelogs."""
    recovery = getattr(app.tables, "recovery", None)
    completed = getattr(recovery, "completed", None)
    return not app.rebalancing and (completed is None or completed.is_set())


# Due times of the domains in this worker's partitions. Rebuilt once per
# rebalance from the recovered table, then kept current by every table write.
due = DueIndex()
_due_stale = True
_owned: set[int] = set()  # the domain partitions at the last rebuild


@app.on_partitions_assigned.connect
async def _partitions_assigned(app, assigned, **kwargs) -> None:
    global _due_stale
    _due_stale = True


@app.on_partitions_revoked.connect
async def _partitions_revoked(app, revoked, **kwargs) -> None:
    global _due_stale
    _due_stale = True
    topic = topics.domain_commands.get_topic_name()
    gone = {tp.partition for tp in revoked if tp.topic == topic}
    if gone:
        dropped = checker.drop(lambda domain: batches.partition_for(domain, settings.partitions) not in gone)
        if dropped:
            log.info("rebalance: %d checks not yet sent were dropped; the new owner asks", dropped)


def _rebuild_due(now: float) -> None:
    """The due index from the table; domains of partitions new to this worker wait a moment.

    Their previous owner may still have a check of them on the wire: its result,
    or `LAPSEWATCH_RETRY_MIN` (at most the check deadline), comes first.
    """
    global _owned
    owned = {tp.partition for tp in app.assignor.assigned_actives()
             if tp.topic == topics.domain_commands.get_topic_name()}
    acquired, _owned = owned - _owned, owned
    settle = now + min(settings.check_deadline, POLICY.retry_min)
    due.clear()
    for domain, value in topics.domains.items():
        if rows.is_page_key(domain):
            continue
        if isinstance(value, dict) and not rows.has_members(value):
            continue  # an allow without members: nothing to check
        try:
            at = value["next_check_at"]
            if at < settle and batches.partition_for(domain, settings.partitions) in acquired:
                due.set(domain, settle, priority_of(value), rank=at)
            else:
                due.set(domain, at, priority_of(value))
        except (KeyError, TypeError, ValueError):  # one bad row must not stop every domain's checks
            log.error("domain %s has no valid next check time (%r): checking it now", domain,
                      value.get("next_check_at") if isinstance(value, dict) else value)
            due.set(domain, now, URGENT)
    log.info("due index rebuilt: %d domains in domain partitions %s", len(due), sorted(owned))


def dispatch_due_checks() -> None:
    global _due_stale
    if not ready():
        return
    now = time.time()
    if _due_stale:
        _due_stale = False
        _rebuild_due(now)
    start_due_checks(due, checker, now)


@app.task
async def keep_checking() -> None:
    """Start due checks every tick, and as soon as a finished check frees room for the next."""
    while True:
        dispatch_due_checks()
        await checker.room_freed(settings.tick)


@app.task
async def refresh_rdap_bootstrap():
    """Keep the RDAP bootstrap current; a failed refresh keeps the newest copy we have."""
    refreshers = [p for p in checker.providers if hasattr(p, "refresh_bootstrap")]
    while refreshers:
        for provider in refreshers:
            try:
                await provider.refresh_bootstrap()
            except Exception:  # the next refresh may do better; this task must outlive any one
                log.exception("RDAP bootstrap refresh failed; keeping the copy in use")
        await asyncio.sleep(settings.rdap_bootstrap_refresh)


@app.on_before_shutdown.connect
def _stop_checks(app, **kwargs) -> None:
    app.loop.create_task(checker.close())
