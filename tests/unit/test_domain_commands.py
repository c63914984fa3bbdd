"""The domain commands (streams/domains/commands.py) against what the last untyped release wrote and read.

tests/fixtures/domain-commands-v1.json was captured by running the code before typed
commands: records from address_book.apply_command, controls.parse_control and
CheckResult.to_dict, with each one's exact orjson bytes. A worker of this version
must read every one of them and, for the same inputs, write the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import get_args

import orjson
import pytest

from schemas import load_schema
from streams.accounts.address_book import apply_command
from streams.accounts.events import parse_email_event, parse_login_event
from streams.core import batches
from streams.core.addresses import PublicMailboxes
from streams.domains import commands
from streams.domains.commands import (
    CONTROL_ACTIONS,
    KINDS,
    VERDICTS,
    CheckResult,
    ControlCommand,
    InvalidCommand,
    Kind,
    Login,
    MemberAdded,
    MemberRemoved,
)
from streams.domains.controls import parse_control
from streams.providers import base
from streams.providers.base import Verdict
from streams.providers.fastly_policy import classify_fastly

FIXTURE = orjson.loads((Path(__file__).parent.parent / "fixtures" / "domain-commands-v1.json").read_bytes())
PUBLIC = PublicMailboxes()
PARSERS = {"email-events": parse_email_event, "logins": parse_login_event}
CLASSES = {
    "member": MemberAdded,
    "unmember": MemberRemoved,
    "login": Login,
    "check": CheckResult,
    "control": ControlCommand,
}


def fixture_records() -> list[tuple[str, dict, str]]:
    """(where, record, its wire bytes as text) for every record of the fixture."""
    out = []
    for case in FIXTURE["accounts"]:
        for number, step in enumerate(case["steps"]):
            for record, wire in zip(step["commands"], step["wire"], strict=True):
                out.append((f"accounts: {case['case']} #{number}", record, wire))
    out += [(f"controls: {case['case']}", case["command"], case["wire"]) for case in FIXTURE["controls"]]
    out += [(f"checks: {case['case']}", case["command"], case["wire"]) for case in FIXTURE["checks"]]
    return out


RECORDS = fixture_records()


def test_the_fixture_has_every_kind_verdict_and_action():
    kinds = {record["kind"] for _, record, _ in RECORDS}
    verdicts = {record["verdict"] for _, record, _ in RECORDS if record["kind"] == "check"}
    actions = {record["command"] for _, record, _ in RECORDS if record["kind"] == "control"}
    assert kinds == set(KINDS)
    assert verdicts == {*VERDICTS, None}
    assert actions == set(CONTROL_ACTIONS)


@pytest.mark.parametrize(("where", "record", "wire"), RECORDS, ids=[where for where, _, _ in RECORDS])
def test_every_record_the_last_release_wrote_reads_and_writes_back_byte_for_byte(where, record, wire):
    assert orjson.dumps(record) == wire.encode()  # the fixture as loaded is what was sent
    command = commands.from_dict(record)
    assert type(command) is CLASSES[record["kind"]]
    assert command.to_dict() == record
    assert orjson.dumps(command.to_dict()) == wire.encode()  # same keys, same order, same values


@pytest.mark.parametrize("case", FIXTURE["accounts"], ids=lambda case: case["case"])
def test_the_account_stage_sends_what_it_sent_for_the_same_events(case):
    state = None
    for step in case["steps"]:
        value = step["value"]
        command = PARSERS[step["topic"]](
            value["account_id"].encode(), orjson.dumps(value), public=PUBLIC, max_bytes=65536
        )
        state, out = apply_command(state, command)
        assert [type(c) for c in out] == [CLASSES[record["kind"]] for record in step["commands"]]
        assert [orjson.dumps(c.to_dict()).decode() for c in out] == step["wire"]
        assert [commands.from_dict(record) for record in step["commands"]] == out


def test_the_account_agents_batched_records_are_the_same_bytes():
    """streams/accounts/agents.py: `out.add(command.domain, command.to_dict())`, against the dicts of before."""
    typed, untyped = batches.Batcher(12), batches.Batcher(12)
    for case in FIXTURE["accounts"]:
        state = None
        for step in case["steps"]:
            value = step["value"]
            parse = PARSERS[step["topic"]]
            state, out = apply_command(
                state, parse(value["account_id"].encode(), orjson.dumps(value), public=PUBLIC, max_bytes=65536)
            )
            for command in out:
                typed.add(command.domain, command.to_dict())
            for record in step["commands"]:
                untyped.add(record["domain"], record)
    assert typed.drain() == untyped.drain()


@pytest.mark.parametrize("case", FIXTURE["controls"], ids=lambda case: case["case"])
def test_the_control_parser_gives_what_it_gave_for_the_same_record(case):
    key = case["key"].encode() if case["key"] is not None else None
    command = parse_control(key, orjson.dumps(case["value"]), max_bytes=10_000)
    assert isinstance(command, ControlCommand)
    assert orjson.dumps(command.to_dict()).decode() == case["wire"]
    assert commands.from_dict(case["command"]) == command


T = 1_767_225_600.123456
FASTLY = {
    "active": classify_fastly("active"),
    "lapsed": classify_fastly("inactive"),
    "inconclusive": classify_fastly("unknown"),
}


def check_results() -> dict[str, CheckResult]:
    """Built as the fixture's were (see its cases), with the typed class."""
    results = {}
    for name, verdict in FASTLY.items():
        results[f"{name}: only the required fields"] = CheckResult("shop.com", T, "fastly", name, verdict.flags)
        results[f"{name}: from a verdict, with its check id"] = replace(
            CheckResult.from_verdict("shop.com", T, "fastly", verdict), check_id="5f1c2a9e0b3d-17"
        )
        results[f"{name}: every optional field"] = CheckResult(
            "xn--bcher-kva.de",
            T + 0.5,
            "rdap",
            name,
            ("client hold", "redemption period"),
            detail="registry says: “on hold”",
            registered_at=1_262_304_000.0,
            expires_at=1_798_761_600.75,
            grace=True,
            retry_after=None,
            lifecycle=name != "inconclusive",
            check_id="a1b2c3d4e5f6-0",
            server_wide=False,
        )
    delegated = Verdict("active", ("delegated",), "delegated to ns1", lifecycle=False)
    results["dns: delegation only"] = CheckResult.from_verdict("shop.com", T, "dns", delegated)
    results["failure: provider error with Retry-After, server-wide"] = CheckResult(
        "shop.com",
        T,
        "rdap",
        None,
        detail="rdap.example: HTTP 429",
        retry_after=120.0,
        server_wide=True,
        check_id="w1-3",
    )
    results["failure: timeout"] = CheckResult(
        "shop.com", T, "whois", None, detail="whois gave no answer for shop.com within 30 s"
    )
    results["failure: provider bug, no check id"] = CheckResult("shop.com", T, "rdap", None, detail="KeyError")
    return results


def test_the_checker_publishes_what_it_published_for_the_same_results():
    """streams/domains/publish.py sends `orjson.dumps(result.to_dict())`."""
    results = check_results()
    assert list(results) == [case["case"] for case in FIXTURE["checks"]]
    for case in FIXTURE["checks"]:
        result = results[case["case"]]
        assert orjson.dumps(result.to_dict()).decode() == case["wire"], case["case"]
        assert CheckResult.from_dict(case["command"]) == result


def test_a_check_record_of_the_first_release_still_reads():
    """The first release wrote no check id, retry time, lifecycle, grace, dates or server_wide."""
    first = {
        "kind": "check",
        "domain": "shop.com",
        "checked_at": T,
        "provider": "fastly",
        "verdict": "lapsed",
        "flags": ["inactive"],
        "detail": None,
    }
    assert commands.from_dict(first) == CheckResult("shop.com", T, "fastly", "lapsed", ("inactive",))


# --- what is refused -------------------------------------------------------------------------------

MEMBER = FIXTURE["accounts"][0]["steps"][0]["commands"][0]
UNMEMBER = FIXTURE["accounts"][0]["steps"][3]["commands"][0]
LOGIN = FIXTURE["accounts"][4]["steps"][3]["commands"][0]
CONTROL = FIXTURE["controls"][0]["command"]
CHECK = FIXTURE["checks"][2]["command"]


def test_the_samples_are_of_the_kinds_they_are_named_for():
    assert [r["kind"] for r in (MEMBER, UNMEMBER, LOGIN, CONTROL, CHECK)] == [
        "member",
        "unmember",
        "login",
        "control",
        "check",
    ]


@pytest.mark.parametrize("kind", ["member ", "Member", "checks", "", 1, None, ["member"]])
def test_an_unknown_kind_is_refused_by_name(kind):
    with pytest.raises(InvalidCommand, match=r"unknown domain command"):
        commands.from_dict({**MEMBER, "kind": kind})


def test_a_record_with_no_kind_is_refused():
    record = {k: v for k, v in MEMBER.items() if k != "kind"}
    with pytest.raises(InvalidCommand, match="unknown domain command None"):
        commands.from_dict(record)


def test_a_class_refuses_a_record_of_another_kind():
    with pytest.raises(InvalidCommand, match="kind"):
        MemberAdded.from_dict({**UNMEMBER, "email": "a@alpha.com", "verified": True, "verified_at": None})
    with pytest.raises(InvalidCommand, match="kind"):
        CheckResult.from_dict({**CHECK, "kind": "control"})


def without(record: dict, field: str) -> dict:
    return {k: v for k, v in record.items() if k != field}


@pytest.mark.parametrize(
    ("record", "field", "value"),
    [
        (MEMBER, "domain", None),
        (MEMBER, "domain", 5),
        (MEMBER, "account_id", 42),
        (MEMBER, "key", ["a@alpha.com"]),
        (MEMBER, "email", None),
        (MEMBER, "verified", "true"),
        (MEMBER, "verified", 1),
        (MEMBER, "verified", None),
        (MEMBER, "verified_at", 1_700_000_000),
        (UNMEMBER, "key", None),
        (UNMEMBER, "account_id", 42),
        (LOGIN, "domain", 7),
        (LOGIN, "account_id", None),
        (CONTROL, "command", "delete"),
        (CONTROL, "command", "RECHECK"),
        (CONTROL, "command", None),
        (CONTROL, "requested_by", None),
        (CONTROL, "reason", 3),
        (CONTROL, "requested_at", 1_800_000_000.0),
        (CONTROL, "command_id", None),
        (CHECK, "verdict", "dead"),
        (CHECK, "verdict", "Active"),
        (CHECK, "verdict", True),
        (CHECK, "flags", "active"),
        (CHECK, "flags", [1]),
        (CHECK, "flags", None),
        (CHECK, "domain", None),
        (CHECK, "provider", 3),
        (CHECK, "detail", ["x"]),
        (CHECK, "checked_at", float("inf")),
        (CHECK, "checked_at", -1.0),
        (CHECK, "checked_at", "1767225600"),
        (CHECK, "registered_at", float("nan")),
        (CHECK, "expires_at", 1e300),
        (CHECK, "retry_after", True),
        (CHECK, "check_id", 7),
    ],
)
def test_a_field_of_the_wrong_type_is_refused_naming_the_field(record, field, value):
    with pytest.raises(InvalidCommand, match=f"^{field}: "):
        commands.from_dict({**record, field: value})


@pytest.mark.parametrize(
    ("record", "field"),
    [
        *((MEMBER, field) for field in MEMBER if field != "kind"),
        *((UNMEMBER, field) for field in UNMEMBER if field != "kind"),
        *((LOGIN, field) for field in LOGIN if field != "kind"),
        *((CONTROL, field) for field in CONTROL if field != "kind"),
        *((CHECK, field) for field in ("domain", "checked_at", "provider", "verdict", "flags")),
    ],
)
def test_a_missing_field_is_refused_naming_it(record, field):
    with pytest.raises(InvalidCommand, match=f"^{field}: "):
        commands.from_dict(without(record, field))


def test_an_invalid_command_is_a_value_error_as_a_bad_check_record_always_raised():
    """The domain agent dead-letters whatever a command raises; callers that caught ValueError still do."""
    assert issubclass(InvalidCommand, ValueError)


def test_the_check_fields_added_later_are_optional_and_lenient_as_before():
    for field in (
        "detail",
        "registered_at",
        "expires_at",
        "grace",
        "retry_after",
        "lifecycle",
        "check_id",
        "server_wide",
    ):
        commands.from_dict(without(CHECK, field))
    assert CheckResult.from_dict({**CHECK, "grace": 1, "server_wide": 0}).grace is True


# --- the literal types and the lists they must agree with ----------------------------------------


def test_the_kinds_are_the_classes_kinds():
    assert set(KINDS) == set(get_args(Kind)) == {cls.kind for cls in CLASSES.values()} == set(CLASSES)


def test_the_verdicts_are_the_providers_verdicts():
    assert VERDICTS == base.VERDICTS


def test_the_control_actions_are_the_control_schemas():
    assert list(CONTROL_ACTIONS) == load_schema("control-command")["properties"]["command"]["enum"]


def test_commands_are_frozen_values():
    command = commands.from_dict(MEMBER)
    with pytest.raises(AttributeError):
        command.verified = False
    assert command == commands.from_dict(json.loads(json.dumps(MEMBER)))
    assert len({command, commands.from_dict(MEMBER)}) == 1
