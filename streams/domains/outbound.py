"""The events lapsewatch publishes, built as CloudEvents 1.0 structured JSON."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypedDict

from streams.core.times import iso_utc, iso_utc_or_none
from streams.domains.state import DomainState, Member

SOURCE = "lapsewatch"
# Fixed namespace: event ids are uuid5 names under it, so they are stable across replays.
ID_NAMESPACE = uuid.UUID("6f1c2a52-7f0e-4d6b-9a55-5d2f0c8e9b31")


class CloudEvent(TypedDict):
    """CloudEvents 1.0 structured JSON, as published: schemas/ hold each type's `data`."""

    specversion: str
    id: str
    source: str
    type: str
    subject: str
    time: str
    datacontenttype: str
    data: dict[str, object]


@dataclass(frozen=True, slots=True)
class Outbound:
    channel: Literal["unverified", "status"]
    key: str
    value: CloudEvent


def _envelope(event_id: str, kind: str, subject: str, time: float, data: dict[str, object]) -> CloudEvent:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": SOURCE,
        "type": kind,
        "subject": subject,
        "time": iso_utc(time),
        "datacontenttype": "application/json",
        "data": data,
    }


def unverified_id(account_id: str, key: str, domain: str, episode: float) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, f"unverified\n{account_id}\n{key}\n{domain}\n{iso_utc(episode)}"))


def reregistered_id(account_id: str, key: str, domain: str, registered_at: float) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, f"reregistered\n{account_id}\n{key}\n{domain}\n{iso_utc(registered_at)}"))


def _unverified(
    state: DomainState, account_id: str, member: Member, now: float, reason: str, event_id: str, confirmed_at: float
) -> Outbound:
    """The evidence travels with the event, so the account service can show and audit why."""
    data: dict[str, object] = {
        "account_id": account_id,
        "email": member["email"],
        "domain": state.domain,
        "reason": reason,
        "domain_status": list(state.flags),
        "provider": state.provider or "unknown",
        "checked_at": iso_utc(state.last_success_at or confirmed_at),
        "confirmed_at": iso_utc(confirmed_at),
        "lapse_first_seen_at": iso_utc_or_none(state.lapse_seen_at),
        "registered_at": iso_utc_or_none(state.registered_at),
        "expires_at": iso_utc_or_none(state.expires_at),
        "verified_at": member["verified_at"],
        "detail": state.detail,
    }
    return Outbound("unverified", account_id, _envelope(event_id, "lapsewatch.email.unverified", account_id, now, data))


def email_unverified(state: DomainState, account_id: str, key: str, member: Member, now: float) -> Outbound:
    assert state.lapse_seen_at is not None and state.confirmed_at is not None
    event_id = unverified_id(account_id, key, state.domain, state.lapse_seen_at)
    return _unverified(state, account_id, member, now, "domain_expired", event_id, state.confirmed_at)


def email_reregistered(state: DomainState, account_id: str, key: str, member: Member, now: float) -> Outbound:
    """The domain was registered again after this address was verified: someone else may own it."""
    assert state.registered_at is not None
    event_id = reregistered_id(account_id, key, state.domain, state.registered_at)
    return _unverified(state, account_id, member, now, "domain_reregistered", event_id, state.last_success_at or now)


def circuit_status(
    provider: str, server: str, state: str, failures: int, reason: str | None, retry_at: float | None, now: float
) -> Outbound:
    """A provider server's circuit breaker changed state: domains it serves wait meanwhile."""
    data: dict[str, object] = {
        "provider": provider,
        "server": server,
        "state": state,
        "failures": failures,
        "reason": reason,
        "retry_at": iso_utc_or_none(retry_at),
    }
    key = f"provider:{server}"
    event_id = str(uuid.uuid5(ID_NAMESPACE, f"circuit\n{server}\n{state}\n{now!r}"))
    return Outbound("status", key, _envelope(event_id, "lapsewatch.provider.circuit", key, now, data))


def domain_status(state: DomainState, transition: str, previous: str | None, now: float) -> Outbound:
    status = "removed" if transition == "removed" else state.status
    data: dict[str, object] = {
        "domain": state.domain,
        "transition": transition,
        "status": status,
        "previous_status": previous,
        "flags": list(state.flags),
        "provider": state.provider,
        "checked_at": iso_utc_or_none(state.last_success_at),
        "detail": state.detail,
        "registered_at": iso_utc_or_none(state.registered_at),
        "expires_at": iso_utc_or_none(state.expires_at),
        "members": state.member_count(),
        "verified_members": state.verified_count(),
    }
    event_id = str(uuid.uuid5(ID_NAMESPACE, f"status\n{state.domain}\n{transition}\n{now!r}"))
    return Outbound("status", state.domain, _envelope(event_id, "lapsewatch.domain.status", state.domain, now, data))


def control_status(
    state: DomainState,
    command: Mapping[str, object],
    applied: bool,
    outcome: str | None,
    now: float,
    superseded: bool = False,
) -> Outbound:
    """The audit record of an operator's command: who, what, why, and whether it changed anything.

    Its id comes from the command's id, so a replay is audited once; a command refused as superseded (a copy
    produced again, or an older one) gets an id of its own, so a consumer that drops repeated ids still sees it.
    """
    event = domain_status(state, "control", state.status, now)
    event.value["data"]["control"] = {
        "command": command["command"],
        "command_id": command["command_id"],
        "requested_by": command["requested_by"],
        "requested_at": command["requested_at"],
        "reason": command["reason"],
        "applied": applied,
        "outcome": outcome,
        "allowed": bool(state.allowed),
    }
    name = f"control\n{state.domain}\n{command['command_id']}" + ("\nsuperseded" if superseded else "")
    event.value["id"] = str(uuid.uuid5(ID_NAMESPACE, name))
    return event
