"""An account's address book and the domain membership changes it implies.

Pure: `apply_command(state, command)` returns the new state and the commands
for the domain stage. Only custom-domain addresses are ever stored.
"""

from __future__ import annotations

from streams.accounts.events import AccountCommand

RECENT_EVENT_IDS = 64  # duplicates arrive close together; older ids age out


def apply_command(state: dict | None, command: AccountCommand) -> tuple[dict | None, list[dict]]:
    """Returns (new state or None for no state, domain commands)."""
    if state is None:
        if not command.upsert and not command.warnings:
            # Nothing custom to remember (public mailboxes only, or unknown removals).
            return None, []
        state = {"addresses": {}, "recent": []}
    if command.event_id in state["recent"]:
        return state, []

    before: dict[str, dict] = state["addresses"]
    after = dict(before)
    for update in command.upsert:
        after[update.key] = {"email": update.email, "domain": update.domain,
                             "verified": update.verified, "verified_at": update.verified_at}
    for key in command.remove:
        after.pop(key, None)
    if command.replace:
        keep = {update.key for update in command.upsert}
        after = {key: entry for key, entry in after.items() if key in keep}

    out: list[dict] = []
    account = command.account_id
    for key, entry in after.items():
        if before.get(key) != entry:
            out.append({"kind": "member", "domain": entry["domain"], "account_id": account, "key": key,
                        "email": entry["email"], "verified": entry["verified"],
                        "verified_at": entry["verified_at"]})
    for key, entry in before.items():
        if key not in after:
            out.append({"kind": "unmember", "domain": entry["domain"], "account_id": account, "key": key})
    if command.login:
        for domain in sorted({entry["domain"] for entry in after.values()}):
            out.append({"kind": "login", "domain": domain, "account_id": account})

    recent = (state["recent"] + [command.event_id])[-RECENT_EVENT_IDS:]
    return {"addresses": after, "recent": recent}, out
