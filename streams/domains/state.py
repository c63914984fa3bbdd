"""The domain table's value: one registrable domain, its members and its verdict history."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypedDict

from streams.core.jsontypes import JsonObject

STATUSES = ("new", "active", "inconclusive", "lapse_suspected", "lapsed")


class Member(TypedDict):
    """One of an account's addresses on the domain."""

    email: str  # as the platform gave it
    verified: bool
    verified_at: str | None  # canonical UTC, when the platform said


class Allow(TypedDict):
    """`lapsewatch allow`: who allowed the domain (never unverified), why, and when."""

    by: str
    reason: str | None
    at: float
    command_id: str


class LastControl(TypedDict):
    """The last allow or unallow applied to the domain: when it was asked for, and its id."""

    requested_at: str  # canonical UTC
    command_id: str


@dataclass(slots=True)
class DomainState:
    domain: str
    status: str = "new"
    flags: list[str] = field(default_factory=list)
    provider: str | None = None
    detail: str | None = None  # why the last verdict was inconclusive, or the last error
    first_seen_at: float = 0.0
    last_check_at: float | None = None  # last attempt, successful or not
    last_success_at: float | None = None  # last attempt that gave a verdict
    last_check_id: str | None = None  # the check whose result was applied last: never applied twice
    next_check_at: float = 0.0
    urgent: bool = False  # a login pulled the next check forward: it goes ahead of routine rechecks
    errors: int = 0  # consecutive failed checks
    failing_since: float | None = None  # first failed check of the current run of them
    failing_alone: bool = False  # the last failure was this name's own, not its server's
    inconclusive: int = 0  # consecutive inconclusive verdicts
    inconclusive_since: float | None = None  # first of the current run of inconclusive verdicts
    lapse_seen_at: float | None = None  # first lapsed verdict (or lapse candidacy) of the current episode
    confirmed_at: float | None = None  # when that lapse was confirmed
    registered_at: float | None = None  # the current registration's date, when a provider gives it
    expires_at: float | None = None
    grace: bool = False  # in a grace period after expiry: checked daily
    # account id -> address key -> the member
    members: dict[str, dict[str, Member]] = field(default_factory=dict)
    # "account id\naddress key" -> CloudEvents id already emitted in this lapse episode
    emitted: dict[str, str] = field(default_factory=dict)
    # "account id\naddress key" -> the registration date its domain_reregistered event was for
    reregistered: dict[str, float] = field(default_factory=dict)
    # Set by `lapsewatch allow`. An allowed domain is never unverified; a row with no members exists
    # only to keep this.
    allowed: Allow | None = None
    # An allow or unallow older than this one, or this one again (a signed command produced a second time),
    # is refused: it cannot undo a later command. Kept on a memberless row, as `allowed` is.
    last_control: LastControl | None = None

    def to_dict(self) -> JsonObject:
        """The table value: shares nothing mutable with the state (dataclasses.asdict does the same
        generically, about ten times slower on a domain of thousands of members)."""
        return _copied({name: getattr(self, name) for name in _FIELDS})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DomainState:
        """A state that shares nothing mutable with `data`, so `data` can still be compared against."""
        return cls(**_copied(data))

    def member_count(self) -> int:
        return sum(len(addresses) for addresses in self.members.values())

    def verified_count(self) -> int:
        return sum(1 for addresses in self.members.values() for m in addresses.values() if m["verified"])


_FIELDS = tuple(f.name for f in fields(DomainState))


def _copied(data: Mapping[str, Any]) -> JsonObject:
    """`data` with its mutable fields copied as deep as they go (members are dicts of dicts of plain values)."""
    return {
        **data,
        "flags": list(data.get("flags", ())),
        "members": {
            account: {key: dict(member) for key, member in addresses.items()}
            for account, addresses in data.get("members", {}).items()
        },
        "emitted": dict(data.get("emitted", {})),
        "reregistered": dict(data.get("reregistered", {})),
        "allowed": dict(data["allowed"]) if data.get("allowed") else None,
        "last_control": dict(data["last_control"]) if data.get("last_control") else None,
    }
