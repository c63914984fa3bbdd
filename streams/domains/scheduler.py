"""When checks run: the checker and its providers, the due index rebuilt at each rebalance, and the timers."""

from __future__ import annotations

import asyncio
import logging
import time

from streams import topics
from streams.app import app, settings
from streams.core import batches
from streams.domains import rows
from streams.domains.checker import Checker, start_due_checks
from streams.domains.due import URGENT, priority_of
from streams.domains.provider_setup import build_gate, build_provider
from streams.domains.publish import announce_circuit, publish_result
from streams.domains.table import due, proven, requeue
from streams.providers.breakers import Breakers

log = logging.getLogger("lapsewatch.domains")
POLICY = settings.policy

gate = build_gate(settings)
checker = Checker(
    build_provider(settings.provider, settings, gate),
    publish_result,
    confirm=build_provider(settings.confirm_provider, settings, gate) if settings.confirm_provider else None,
    concurrency=settings.check_concurrency,
    deadline=settings.check_deadline,
    gate=gate,
    breakers=Breakers(
        settings.breaker_failures, settings.breaker_cooldown, settings.breaker_max_cooldown, settings.breaker_window
    ),
    announce=announce_circuit,
    requeue=requeue,
    proven=proven,
)


def ready() -> bool:
    """Not rebalancing, and the tables are recovered from their changelogs."""
    recovery = getattr(app.tables, "recovery", None)
    completed = getattr(recovery, "completed", None)
    return not app.rebalancing and (completed is None or completed.is_set())


# The due index (table.py) is rebuilt from the table after every rebalance.
_due_stale = True
_owned: set[int] = set()  # the domain partitions at the last rebuild


@app.on_partitions_assigned.connect  # type: ignore[arg-type]  # Faust calls it (app, assigned, signal=...); SignalHandlerT wants *args too
async def _partitions_assigned(app, assigned, **kwargs) -> None:
    global _due_stale
    _due_stale = True


@app.on_partitions_revoked.connect  # type: ignore[arg-type]  # Faust calls it (app, revoked, signal=...); SignalHandlerT wants *args too
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
    owned = {
        tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topics.domain_commands.get_topic_name()
    }
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
            log.error(
                "domain %s has no valid next check time (%r): checking it now",
                domain,
                value.get("next_check_at") if isinstance(value, dict) else value,
            )
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


@app.on_before_shutdown.connect  # type: ignore[arg-type]  # Faust calls it (app, signal=...); SignalHandlerT wants *args
def _stop_checks(app, **kwargs) -> None:
    app.loop.create_task(checker.close())
