"""The domain commands: the contract between the two stages, and the checker's way back in.

Everything the domain agent applies is one of these: membership changes and logins
from the account stage (streams/accounts/address_book.py), operators' commands
(controls.py) and check results (checker.py). Inside the program they are typed;
`to_dict` and `from_dict` are the wire edge, and only the agents and the checker's
publisher call them.

Wire format (internal, but a worker must read what the previous release wrote and
write what it reads): one JSON object per command, its `kind` first, keys in the
order `to_dict` gives them. tests/fixtures/domain-commands-v1.json holds records
written before these types existed; tests/unit/test_domain_commands.py holds
these classes to them byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Final, Literal, TypeAlias, TypeVar, cast, get_args

from streams.providers.base import Verdict

Kind: TypeAlias = Literal["member", "unmember", "login", "check", "control"]
CheckVerdict: TypeAlias = Literal["active", "lapsed", "inconclusive"]  # a failed check has none (None)
ControlAction: TypeAlias = Literal["recheck", "allow", "unallow"]

KINDS: Final[tuple[Kind, ...]] = get_args(Kind)
VERDICTS: Final[tuple[CheckVerdict, ...]] = get_args(CheckVerdict)
CONTROL_ACTIONS: Final[tuple[ControlAction, ...]] = get_args(ControlAction)
LATEST: Final = 253_402_128_000.0  # 9999-12-30: later times do not print in UTC

_Choice = TypeVar("_Choice", bound=str)


class InvalidCommand(ValueError):
    """A record no version of lapsewatch wrote: an unknown kind, a missing field or a value of the wrong type.

    The message starts with the field at fault. The domain agent dead-letters the command, as any
    command that raises.
    """


@dataclass(frozen=True, slots=True)
class MemberAdded:
    """An account's address on the domain appeared or changed (its email as given, or its verification)."""

    kind: ClassVar[Literal["member"]] = "member"
    domain: str
    account_id: str
    key: str  # the address's normalised form: the member's id within the account
    email: str
    verified: bool
    verified_at: str | None  # canonical UTC, when the platform said

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "domain": self.domain,
            "account_id": self.account_id,
            "key": self.key,
            "email": self.email,
            "verified": self.verified,
            "verified_at": self.verified_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> MemberAdded:
        _kind_is(data, cls.kind)
        return cls(
            domain=_text(data, "domain"),
            account_id=_text(data, "account_id"),
            key=_text(data, "key"),
            email=_text(data, "email"),
            verified=_flag(data, "verified"),
            verified_at=_optional_text(data, "verified_at"),
        )


@dataclass(frozen=True, slots=True)
class MemberRemoved:
    """An account's address on the domain is gone."""

    kind: ClassVar[Literal["unmember"]] = "unmember"
    domain: str
    account_id: str
    key: str

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "domain": self.domain, "account_id": self.account_id, "key": self.key}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> MemberRemoved:
        _kind_is(data, cls.kind)
        return cls(domain=_text(data, "domain"), account_id=_text(data, "account_id"), key=_text(data, "key"))


@dataclass(frozen=True, slots=True)
class Login:
    """An account with an address on the domain logged in: its status should be fresh."""

    kind: ClassVar[Literal["login"]] = "login"
    domain: str
    account_id: str

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "domain": self.domain, "account_id": self.account_id}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Login:
        _kind_is(data, cls.kind)
        return cls(domain=_text(data, "domain"), account_id=_text(data, "account_id"))


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One provider answer with its evidence, or the failure to get one (`verdict` None)."""

    kind: ClassVar[Literal["check"]] = "check"
    domain: str
    checked_at: float
    provider: str
    verdict: CheckVerdict | None
    flags: tuple[str, ...] = ()
    detail: str | None = None
    registered_at: float | None = None
    expires_at: float | None = None
    grace: bool = False
    retry_after: float | None = None  # the server's Retry-After, on a failure
    lifecycle: bool = True  # the provider sees the registration (dates, grace), not only delegation
    check_id: str | None = None  # which dispatch asked: only its own result releases its in-flight mark
    server_wide: bool = False  # on a failure: the server's trouble (no connection, 429, 503), not the name's

    @classmethod
    def from_verdict(cls, domain: str, checked_at: float, provider: str, verdict: Verdict) -> CheckResult:
        return cls(
            domain,
            checked_at,
            provider,
            # Verdict.verdict is a str holding one of providers.base.VERDICTS (the same list as CheckVerdict,
            # tests/unit/test_domain_commands.py checks). Not checked here: a provider's bad value would fail
            # the check task; it is refused where the domain agent reads the result, and dead-lettered.
            cast(CheckVerdict, verdict.verdict),
            verdict.flags,
            verdict.detail,
            verdict.registered_at,
            verdict.expires_at,
            verdict.grace,
            lifecycle=verdict.lifecycle,
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "domain": self.domain,
            "checked_at": self.checked_at,
            "provider": self.provider,
            "verdict": self.verdict,
            "flags": list(self.flags),
            "detail": self.detail,
            "registered_at": self.registered_at,
            "expires_at": self.expires_at,
            "grace": self.grace,
            "retry_after": self.retry_after,
            "lifecycle": self.lifecycle,
            "check_id": self.check_id,
            "server_wide": self.server_wide,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> CheckResult:
        """InvalidCommand (a ValueError) for a record no check could have written: times must be real instants.

        The fields after `detail` came in later releases: a record without them still applies.
        """
        _kind_is(data, cls.kind)
        verdict = _required(data, "verdict")
        return cls(
            domain=_text(data, "domain"),
            checked_at=_instant(_required(data, "checked_at"), "checked_at"),
            provider=_text(data, "provider"),
            verdict=None if verdict is None else _one_of(verdict, VERDICTS, "verdict"),
            flags=_texts(data, "flags"),
            detail=_optional_text(data, "detail", missing_ok=True),
            registered_at=_optional_instant(data.get("registered_at"), "registered_at"),
            expires_at=_optional_instant(data.get("expires_at"), "expires_at"),
            grace=bool(data.get("grace")),
            retry_after=_optional_instant(data.get("retry_after"), "retry_after"),
            lifecycle=bool(data.get("lifecycle", True)),
            check_id=_optional_text(data, "check_id", missing_ok=True),
            server_wide=bool(data.get("server_wide")),
        )


@dataclass(frozen=True, slots=True)
class ControlCommand:
    """An operator's `lapsewatch recheck/allow/unallow`, for the worker that owns the domain (wire key `command`)."""

    kind: ClassVar[Literal["control"]] = "control"
    domain: str  # registrable
    action: ControlAction
    requested_by: str
    reason: str | None
    requested_at: str  # canonical UTC
    command_id: str  # unique per request: the audit event's id derives from it

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "domain": self.domain,
            "command": self.action,
            "requested_by": self.requested_by,
            "reason": self.reason,
            "requested_at": self.requested_at,
            "command_id": self.command_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ControlCommand:
        _kind_is(data, cls.kind)
        return cls(
            domain=_text(data, "domain"),
            action=control_action(_required(data, "command")),
            requested_by=_text(data, "requested_by"),
            reason=_optional_text(data, "reason"),
            requested_at=_text(data, "requested_at"),
            command_id=_text(data, "command_id"),
        )


DomainCommand: TypeAlias = MemberAdded | MemberRemoved | Login | CheckResult | ControlCommand
# What the account stage sends.
AccountStageCommand: TypeAlias = MemberAdded | MemberRemoved | Login

_PARSERS: Final[dict[str, Callable[[Mapping[str, object]], DomainCommand]]] = {
    MemberAdded.kind: MemberAdded.from_dict,
    MemberRemoved.kind: MemberRemoved.from_dict,
    Login.kind: Login.from_dict,
    CheckResult.kind: CheckResult.from_dict,
    ControlCommand.kind: ControlCommand.from_dict,
}


def from_dict(data: Mapping[str, object]) -> DomainCommand:
    """The command one wire record holds, by its `kind`; InvalidCommand for a kind or field no release wrote."""
    kind = data.get("kind")
    parse = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parse is None:
        raise InvalidCommand(f"unknown domain command {kind!r}")
    return parse(data)


def control_action(value: object) -> ControlAction:
    return _one_of(value, CONTROL_ACTIONS, "command")


def _kind_is(data: Mapping[str, object], kind: Kind) -> None:
    """A record of another kind is refused; one with no kind is taken as this kind (as CheckResult always did)."""
    found = data.get("kind", kind)
    if found != kind:
        raise InvalidCommand(f"kind: {found!r} is not {kind!r}")


def _required(data: Mapping[str, object], name: str) -> object:
    try:
        return data[name]
    except KeyError:
        raise InvalidCommand(f"{name}: missing") from None


def _text(data: Mapping[str, object], name: str) -> str:
    value = _required(data, name)
    if not isinstance(value, str):
        raise InvalidCommand(f"{name}: {value!r} is not a string")
    return value


def _optional_text(data: Mapping[str, object], name: str, *, missing_ok: bool = False) -> str | None:
    value = data.get(name) if missing_ok else _required(data, name)
    if value is not None and not isinstance(value, str):
        raise InvalidCommand(f"{name}: {value!r} is not a string")
    return value


def _texts(data: Mapping[str, object], name: str) -> tuple[str, ...]:
    value = _required(data, name)
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise InvalidCommand(f"{name}: {value!r} is not a list of strings")
    return tuple(value)


def _flag(data: Mapping[str, object], name: str) -> bool:
    value = _required(data, name)
    if not isinstance(value, bool):
        raise InvalidCommand(f"{name}: {value!r} is not true or false")
    return value


def _one_of(value: object, choices: tuple[_Choice, ...], name: str) -> _Choice:
    for choice in choices:
        if isinstance(value, str) and value == choice:
            return choice
    raise InvalidCommand(f"{name}: {value!r} is not one of {', '.join(choices)}")


def _instant(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= LATEST:
        raise InvalidCommand(f"{name}: {value!r} is not a time lapsewatch can schedule")
    return float(value)


def _optional_instant(value: object, name: str) -> float | None:
    return None if value is None else _instant(value, name)
