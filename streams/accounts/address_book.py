"""An account's address book and the domain membership changes it implies.

Pure: `apply_command(state, command)` returns the new state and the commands
for the domain stage (typed: streams/domains/commands.py). Only custom-domain addresses are ever stored.

Email events and logins arrive on different topics, so Kafka gives no order
between them. Each address therefore remembers when it last changed (the
event's `occurred_at`), removed addresses leave a short-lived tombstone, and
an older event never overrides a newer one: an old login snapshot cannot drop
an address added since, nor bring back one removed since.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

from streams.accounts.events import AccountCommand
from streams.domains.commands import AccountStageCommand, Login, MemberAdded, MemberRemoved

RECENT_EVENT_IDS = 64  # duplicates arrive close together; older ids age out
TOMBSTONES = 32  # removed addresses remembered per account, newest kept


class AddressEntry(TypedDict):
    """One custom-domain address of the account, by its key."""

    email: str  # as the platform gave it
    domain: str  # registrable
    verified: bool
    verified_at: str | None
    updated_at: str | None  # the `occurred_at` of its last change, when the event said


class AccountState(TypedDict):
    """The account table's value."""

    addresses: dict[str, AddressEntry]
    removed: NotRequired[dict[str, str]]  # tombstones: key -> when removed (rows written before them lack it)
    recent: list[str]  # the latest event ids, oldest first


def _newer(at: str | None, last: str | None) -> bool:
    """Whether a change made `at` may override one made `last` (unknown times always may)."""
    return at is None or last is None or at >= last


def apply_command(
    state: AccountState | None, command: AccountCommand
) -> tuple[AccountState | None, list[AccountStageCommand]]:
    """Returns (new state or None for no state, domain commands)."""
    if state is None:
        if not command.upsert and not command.warnings:
            # Nothing custom to remember (public mailboxes only, or unknown removals).
            return None, []
        state = {"addresses": {}, "removed": {}, "recent": []}
    if command.event_id in state["recent"]:
        return state, []

    at = command.occurred_at
    before = state["addresses"]
    after = dict(before)
    removed = dict(state.get("removed", {}))

    def last_change(key: str) -> str | None:
        entry = after.get(key)
        return entry["updated_at"] if entry else removed.get(key)

    def drop(key: str) -> None:
        if key in after and _newer(at, last_change(key)):
            del after[key]
            if at is not None:
                removed[key] = at

    for update in command.upsert:
        if _newer(at, last_change(update.key)):
            after[update.key] = {
                "email": update.email,
                "domain": update.domain,
                "verified": update.verified,
                "verified_at": update.verified_at,
                "updated_at": at,
            }
            removed.pop(update.key, None)
    for key in command.remove:
        drop(key)
    if command.replace:
        keep = {update.key for update in command.upsert}
        for key in [key for key in after if key not in keep]:
            drop(key)
    if len(removed) > TOMBSTONES:
        removed = dict(sorted(removed.items(), key=lambda item: item[1])[-TOMBSTONES:])

    out: list[AccountStageCommand] = []
    account = command.account_id
    for key, entry in after.items():
        old = before.get(key)
        if (
            old is None
            or old["email"] != entry["email"]
            or old["verified"] != entry["verified"]
            or old["verified_at"] != entry["verified_at"]
        ):
            out.append(
                MemberAdded(
                    domain=entry["domain"],
                    account_id=account,
                    key=key,
                    email=entry["email"],
                    verified=entry["verified"],
                    verified_at=entry["verified_at"],
                )
            )
    for key, entry in before.items():
        if key not in after:
            out.append(MemberRemoved(domain=entry["domain"], account_id=account, key=key))
    if command.login:
        for domain in sorted({entry["domain"] for entry in after.values()}):
            out.append(Login(domain=domain, account_id=account))

    recent = (state["recent"] + [command.event_id])[-RECENT_EVENT_IDS:]
    return {"addresses": after, "removed": removed, "recent": recent}, out
