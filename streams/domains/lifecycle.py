"""How a domain's state answers each command: membership, login, check result.

Pure: every function takes the state (or None), the command and `now`, and
returns the new state (None deletes it) with the events to publish. The
domain agent only reads, calls one of these, writes and sends.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.domains import outbound
from streams.domains.outbound import Outbound
from streams.domains.policy import Policy
from streams.domains.schedule import backoff_at, recheck_at
from streams.domains.state import DomainState

Decision = tuple["DomainState | None", list[Outbound]]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One provider answer, or the failure to get one. `verdict` is None on error."""

    domain: str
    checked_at: float
    provider: str
    verdict: str | None  # "active" | "lapsed" | "inconclusive"
    flags: tuple[str, ...] = ()
    detail: str | None = None

    def to_dict(self) -> dict:
        return {"kind": "check", "domain": self.domain, "checked_at": self.checked_at, "provider": self.provider,
                "verdict": self.verdict, "flags": list(self.flags), "detail": self.detail}

    @classmethod
    def from_dict(cls, data: dict) -> "CheckResult":
        return cls(domain=data["domain"], checked_at=data["checked_at"], provider=data["provider"],
                   verdict=data["verdict"], flags=tuple(data["flags"]), detail=data.get("detail"))


def _member_id(account_id: str, key: str) -> str:
    return f"{account_id}\n{key}"


def _unverify_pending(state: DomainState, now: float) -> list[Outbound]:
    """One event per verified member not yet unverified in this lapse episode."""
    events = []
    for account_id, addresses in state.members.items():
        for key, member in addresses.items():
            member_id = _member_id(account_id, key)
            if member["verified"] and member_id not in state.emitted:
                event = outbound.email_unverified(state, account_id, key, member, now)
                state.emitted[member_id] = event.value["id"]
                events.append(event)
    return events


def apply_member(state: DomainState | None, command: dict, now: float) -> Decision:
    events: list[Outbound] = []
    if state is None:
        state = DomainState(domain=command["domain"], first_seen_at=now, next_check_at=now)
        first_seen = True
    else:
        first_seen = False
    state.members.setdefault(command["account_id"], {})[command["key"]] = {
        "email": command["email"], "verified": command["verified"], "verified_at": command["verified_at"]}
    if first_seen:
        events.append(outbound.domain_status(state, "first_seen", None, now))
    if state.status == "lapsed":
        # An address verified on a domain already known to be lapsed is unverified at once.
        events.extend(_unverify_pending(state, now))
    return state, events


def apply_unmember(state: DomainState | None, command: dict, now: float) -> Decision:
    if state is None:
        return None, []
    addresses = state.members.get(command["account_id"])
    if addresses is None or addresses.pop(command["key"], None) is None:
        return state, []
    if not addresses:
        del state.members[command["account_id"]]
    if state.members:
        return state, []
    return None, [outbound.domain_status(state, "removed", state.status, now)]


def apply_login(state: DomainState | None, now: float, policy: Policy) -> Decision:
    if state is None:
        return None, []
    stale = state.last_success_at is None or now - state.last_success_at >= policy.login_freshness
    # A failing provider is not hammered by logins: wait at least the first retry delay.
    rested = state.last_check_at is None or now - state.last_check_at >= policy.retry_min
    if stale and rested and state.next_check_at > now:
        state.next_check_at = now
    return state, []


def apply_check(state: DomainState | None, result: CheckResult, now: float, policy: Policy) -> Decision:
    if state is None:
        return None, []  # every member left while the check was in flight
    state.last_check_at = result.checked_at
    if result.verdict is None:
        state.errors += 1
        state.detail = result.detail
        state.next_check_at = backoff_at(now, state.errors, policy.retry_min, policy.retry_max)
        return state, []

    state.errors = 0
    state.last_success_at = result.checked_at
    state.flags = list(result.flags)
    state.provider = result.provider
    state.detail = result.detail
    previous = state.status
    events: list[Outbound] = []

    if result.verdict == "inconclusive":
        state.inconclusive += 1
        state.next_check_at = backoff_at(now, state.inconclusive, policy.inconclusive_retry_min,
                                         policy.inconclusive_retry_max)
        # Inconclusive says nothing about a lapse already under way: keep its episode.
        if previous in ("new", "active"):
            state.status = "inconclusive"
            events.append(outbound.domain_status(state, "inconclusive", previous, now))
        return state, events

    state.inconclusive = 0
    if result.verdict == "active":
        state.status = "active"
        state.lapse_seen_at = state.confirmed_at = None
        state.emitted = {}
        state.next_check_at = recheck_at(state.domain, now, policy.recheck_interval, policy.recheck_jitter)
        if previous == "lapsed":
            events.append(outbound.domain_status(state, "recovered", previous, now))
        elif previous != "active":
            events.append(outbound.domain_status(state, "active", previous, now))
        return state, events

    if result.verdict != "lapsed":
        raise ValueError(f"unknown verdict {result.verdict!r}")
    if previous == "lapsed":
        state.next_check_at = recheck_at(state.domain, now, policy.recheck_interval, policy.recheck_jitter)
        return state, events
    if state.lapse_seen_at is None:
        state.lapse_seen_at = result.checked_at
    confirm_due = state.lapse_seen_at + policy.confirm_after
    if result.checked_at >= confirm_due:
        state.status = "lapsed"
        state.confirmed_at = result.checked_at
        state.next_check_at = recheck_at(state.domain, now, policy.recheck_interval, policy.recheck_jitter)
        events.append(outbound.domain_status(state, "lapsed", previous, now))
        events.extend(_unverify_pending(state, now))
    else:
        state.status = "lapse_suspected"
        state.next_check_at = confirm_due
        if previous != "lapse_suspected":
            events.append(outbound.domain_status(state, "lapse_suspected", previous, now))
    return state, events
