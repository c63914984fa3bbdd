"""How a domain's state answers each command: membership, login, check result, operator control.

Pure: every function takes the state (or None), the command (typed: commands.py)
and `now`, and returns the new state (None deletes it) with the events to publish.
The domain agent only reads, calls one of these, writes and sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, assert_never

from streams.core.policy import Policy
from streams.core.times import epoch_seconds, iso_utc
from streams.domains import outbound
from streams.domains.commands import CheckResult, ControlCommand, MemberAdded, MemberRemoved
from streams.domains.outbound import Outbound
from streams.domains.schedule import backoff_at, routine_at
from streams.domains.state import DomainState

Decision = tuple["DomainState | None", list[Outbound]]


def _member_id(account_id: str, key: str) -> str:
    return f"{account_id}\n{key}"


def _unverify_pending(state: DomainState, now: float) -> list[Outbound]:
    """One event per verified member not yet unverified in this lapse episode (none while allowed)."""
    if state.allowed:
        return []
    events = []
    for account_id, addresses in state.members.items():
        for key, member in addresses.items():
            member_id = _member_id(account_id, key)
            if member["verified"] and member_id not in state.emitted:
                event = outbound.email_unverified(state, account_id, key, member, now)
                state.emitted[member_id] = event.value["id"]
                events.append(event)
    return events


def _unverify_reregistered(state: DomainState, now: float) -> list[Outbound]:
    """One event per member verified before the domain's current registration, once per registration."""
    registered = state.registered_at
    if registered is None or state.allowed:
        return []
    events = []
    for account_id, addresses in state.members.items():
        for key, member in addresses.items():
            member_id = _member_id(account_id, key)
            verified_at = epoch_seconds(member["verified_at"])
            if (
                member["verified"]
                and verified_at is not None
                and verified_at < registered
                and state.reregistered.get(member_id) != registered
            ):
                state.reregistered[member_id] = registered
                events.append(outbound.email_reregistered(state, account_id, key, member, now))
    return events


def apply_member(state: DomainState | None, command: MemberAdded, now: float) -> Decision:
    events: list[Outbound] = []
    if state is None or not state.members:
        # A memberless row only keeps an allow: the first member starts the domain afresh.
        state = DomainState(
            domain=command.domain,
            first_seen_at=now,
            next_check_at=now,
            allowed=state.allowed if state else None,
            last_control=state.last_control if state else None,
        )
        first_seen = True
    else:
        first_seen = False
    state.members.setdefault(command.account_id, {})[command.key] = {
        "email": command.email,
        "verified": command.verified,
        "verified_at": command.verified_at,
    }
    if first_seen:
        events.append(outbound.domain_status(state, "first_seen", None, now))
    if state.status == "lapsed":
        # An address verified on a domain already known to be lapsed is unverified at once.
        events.extend(_unverify_pending(state, now))
    # So is one verified before the domain last changed hands.
    events.extend(_unverify_reregistered(state, now))
    return state, events


def apply_unmember(state: DomainState | None, command: MemberRemoved, now: float) -> Decision:
    if state is None:
        return None, []
    addresses = state.members.get(command.account_id)
    if addresses is None or addresses.pop(command.key, None) is None:
        return state, []
    state.reregistered.pop(_member_id(command.account_id, command.key), None)
    if not addresses:
        del state.members[command.account_id]
    if state.members:
        return state, []
    removed = [outbound.domain_status(state, "removed", state.status, now)]
    return _operators_part(state), removed


def _operators_part(state: DomainState) -> DomainState | None:
    """What is kept of a domain no account uses: an allow, and the last allow or unallow (which refuses an
    older one produced again); nothing to check. None when there is neither."""
    if not state.allowed and not state.last_control:
        return None
    return DomainState(
        domain=state.domain, first_seen_at=state.first_seen_at, allowed=state.allowed, last_control=state.last_control
    )


def _superseded_control(state: DomainState | None, command: ControlCommand) -> str | None:
    """Why an allow or unallow must not be applied: a later one was, or this very one was (a copy produced again)."""
    last = state.last_control if state is not None else None
    if last is None or command.action == "recheck":
        return None
    if command.command_id == last["command_id"]:
        return f"command {command.command_id} was applied already"
    if command.requested_at < last["requested_at"]:  # canonical UTC strings order as times do
        return f"a later command ({last['command_id']}, requested at {last['requested_at']}) was applied already"
    return None


def apply_login(state: DomainState | None, now: float, policy: Policy) -> Decision:
    if state is None or not state.members:
        return state, []
    stale = state.last_success_at is None or now - state.last_success_at >= policy.login_freshness
    # A failing provider is not hammered by logins: wait at least the first retry delay.
    rested = state.last_check_at is None or now - state.last_check_at >= policy.retry_min
    if stale and rested and state.next_check_at > now:
        state.next_check_at = now
        state.urgent = True
    return state, []


def login_changes_nothing(row: Mapping[str, Any] | None, now: float, policy: Policy) -> bool:
    """True where `apply_login` would leave the domain as it is, read from its stored head row alone: no
    domain, a fresh verdict, or a check already due. Most logins, at the cost of a few dictionary reads."""
    if row is None:
        return True
    last_success: float | None = row.get("last_success_at")
    next_check: float = row.get("next_check_at", 0.0)
    return (last_success is not None and now - last_success < policy.login_freshness) or next_check <= now


def _routine(state: DomainState, now: float, policy: Policy, *, first: bool = False) -> float:
    return routine_at(
        state.domain,
        now,
        policy.recheck_interval,
        policy.recheck_jitter,
        expires_at=state.expires_at,
        grace=state.grace,
        first=first,
    )


def superseded(state: DomainState, result: CheckResult) -> bool:
    """A result the table already holds (read again after a restart: applied twice, an overdue
    confirmation would be asked for again at once), or one older than what it knows: a failure older
    than the last attempt, or a verdict older than the last verdict (a previous owner's late answer)."""
    if result.check_id is not None and result.check_id == state.last_check_id:
        return True
    if result.verdict is None:
        return state.last_check_at is not None and result.checked_at < state.last_check_at
    return state.last_success_at is not None and result.checked_at < state.last_success_at


def apply_check(state: DomainState | None, result: CheckResult, now: float, policy: Policy) -> Decision:
    if state is None or not state.members:
        return state, []  # every member left while the check was in flight
    if superseded(state, result):
        return state, []
    state.last_check_at = max(result.checked_at, state.last_check_at or result.checked_at)
    state.last_check_id = result.check_id
    state.urgent = False
    if result.verdict is None:
        state.errors += 1
        if state.failing_since is None:
            state.failing_since = result.checked_at
        state.failing_alone = not result.server_wide
        state.detail = result.detail
        # However long the server asked for, we look again within the policy's longest retry.
        asked = min(result.retry_after or 0.0, policy.retry_max)
        state.next_check_at = max(backoff_at(now, state.errors, policy.retry_min, policy.retry_max), now + asked)
        return state, []

    state.errors = 0
    state.failing_since = None
    state.failing_alone = False
    state.last_success_at = result.checked_at
    state.flags = list(result.flags)
    state.provider = result.provider
    state.detail = result.detail
    if result.lifecycle:  # a provider that sees only delegation (DNS) keeps the registry's dates and grace
        state.grace = result.grace
        if result.expires_at is not None:
            state.expires_at = result.expires_at
    previous = state.status
    events: list[Outbound] = []
    if result.registered_at is not None and result.registered_at != state.registered_at:
        changed_hands = state.registered_at is not None and result.registered_at > state.registered_at
        state.registered_at = result.registered_at
        reregistered = _unverify_reregistered(state, now)
        if changed_hands or reregistered:
            events.append(outbound.domain_status(state, "reregistered", previous, now))
        events.extend(reregistered)

    match result.verdict:
        case "inconclusive":
            events.extend(_inconclusive(state, previous, now, policy))
        case "active":
            events.extend(_active(state, previous, now, policy))
        case "lapsed":
            events.extend(_lapsed(state, previous, result, now, policy))
        case _:
            assert_never(result.verdict)  # CheckResult.from_dict refuses any other verdict
    return state, events


def _inconclusive(state: DomainState, previous: str, now: float, policy: Policy) -> list[Outbound]:
    state.inconclusive += 1
    if state.inconclusive_since is None:
        state.inconclusive_since = now
    state.next_check_at = backoff_at(
        now, state.inconclusive, policy.inconclusive_retry_min, policy.inconclusive_retry_max
    )
    if previous in ("new", "active"):
        state.status = "inconclusive"
        return [outbound.domain_status(state, "inconclusive", previous, now)]
    if previous == "inconclusive" and now - state.inconclusive_since >= policy.inconclusive_limit:
        # Silence this long is suspicious, never proof: a lapsed answer must still confirm it.
        state.status = "lapse_suspected"
        state.lapse_seen_at = now
        state.next_check_at = now + policy.confirm_after
        state.detail = f"inconclusive since {iso_utc(state.inconclusive_since)}: {state.detail}"
        return [outbound.domain_status(state, "lapse_suspected", previous, now)]
    # Inconclusive says nothing about a lapse already under way: keep its episode.
    return []


def _active(state: DomainState, previous: str, now: float, policy: Policy) -> list[Outbound]:
    state.inconclusive = 0
    state.inconclusive_since = None
    state.status = "active"
    state.lapse_seen_at = state.confirmed_at = None
    state.emitted = {}
    state.next_check_at = _routine(state, now, policy, first=previous == "new")
    if previous == "lapsed":
        return [outbound.domain_status(state, "recovered", previous, now)]
    if previous != "active":
        return [outbound.domain_status(state, "active", previous, now)]
    return []


def _lapsed(state: DomainState, previous: str, result: CheckResult, now: float, policy: Policy) -> list[Outbound]:
    state.inconclusive = 0
    state.inconclusive_since = None
    if previous == "lapsed":
        state.next_check_at = _routine(state, now, policy)
        return []
    checked_at = result.checked_at
    if state.lapse_seen_at is None:
        state.lapse_seen_at = checked_at
    confirm_due = state.lapse_seen_at + policy.confirm_after
    first_sight = previous != "lapse_suspected"
    # With a confirming provider, only its answer confirms (a late answer from the first one does not).
    unconfirmed = first_sight or not policy.may_confirm(result.provider)
    if (unconfirmed and policy.confirms) or checked_at < confirm_due:
        state.status = "lapse_suspected"
        state.next_check_at = max(confirm_due, now)
        return (
            [] if previous == "lapse_suspected" else [outbound.domain_status(state, "lapse_suspected", previous, now)]
        )
    state.status = "lapsed"
    state.confirmed_at = checked_at
    state.next_check_at = _routine(state, now, policy)
    return [outbound.domain_status(state, "lapsed", previous, now), *_unverify_pending(state, now)]


def apply_control(state: DomainState | None, command: ControlCommand, now: float) -> Decision:
    """An operator's recheck, allow or unallow, audited on domains.status whether or not it changed anything."""
    domain = command.domain
    applied = True
    outcome: str | None = None
    superseded_by = _superseded_control(state, command)
    if superseded_by is not None:
        shown = state or DomainState(domain=domain, first_seen_at=now)
        return state, [outbound.control_status(shown, command.to_dict(), False, superseded_by, now, superseded=True)]
    match command.action:
        case "recheck":
            if state is None or not state.members:
                applied, outcome = False, "no account uses this domain: nothing to check"
            else:
                state.next_check_at = min(state.next_check_at, now)
                state.urgent = True
        case "allow":
            if state is None:
                state = DomainState(domain=domain, first_seen_at=now)
            state.allowed = {
                "by": command.requested_by,
                "reason": command.reason,
                "at": now,
                "command_id": command.command_id,
            }
        case "unallow":
            if state is None or not state.allowed:
                applied, outcome = False, "the domain was not allowed"
            else:
                state.allowed = None
        case _:
            assert_never(command.action)  # ControlCommand.from_dict refuses any other action
    if command.action != "recheck" and state is not None:
        state.last_control = {"requested_at": command.requested_at, "command_id": command.command_id}
    shown = state or DomainState(domain=domain, first_seen_at=now)
    # The audit record shows the command as it came (outbound.control_status reads its wire form).
    events = [outbound.control_status(shown, command.to_dict(), applied, outcome, now)]
    if command.action == "unallow" and applied and state is not None:
        if not state.members:
            return _operators_part(state), events
        # What the allow held back goes out now, as it would have.
        if state.status == "lapsed":
            events.extend(_unverify_pending(state, now))
        events.extend(_unverify_reregistered(state, now))
    return state, events
