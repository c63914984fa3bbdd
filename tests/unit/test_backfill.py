"""Backfill rows → `email_added` records, or rejections with their line numbers. Pure."""

from __future__ import annotations

import io
import uuid

import orjson
import pytest
from click.testing import CliRunner, Result

from schemas import first_error
from streams.accounts.address_book import apply_command
from streams.accounts.events import AccountCommand, parse_email_event
from streams.cli import main
from streams.core.addresses import InvalidAddress, PublicMailboxes, normalize_address
from streams.domains.commands import MemberAdded
from streams.ops.backfill import (
    _NAMESPACE,
    BACKFILL_OCCURRED_AT,
    BackfillError,
    EventBuilder,
    RowError,
    Summary,
    detect_format,
    event_id,
    fast_normalize,
    prepare,
    read_csv,
    read_jsonl,
    read_rows,
    summary_lines,
)

PUBLIC = PublicMailboxes()
BUILDER = EventBuilder(PUBLIC)


def jsonl(text: str) -> list:
    return list(read_jsonl(io.BytesIO(text.encode())))


def csv_rows(text: str | bytes) -> list:
    return list(read_csv(io.BytesIO(text.encode() if isinstance(text, str) else text)))


def build(**fields) -> dict:
    key, value = BUILDER.build(fields)
    event = orjson.loads(value)
    assert key == event["account_id"].encode()
    return event


def reason(**fields) -> str:
    with pytest.raises(RowError) as caught:
        BUILDER.build(fields)
    return str(caught.value)


def run(text: str, fmt: str) -> tuple[list[tuple[bytes, bytes]], Summary]:
    summary = Summary()
    records = list(prepare(read_rows(io.BytesIO(text.encode()), fmt), BUILDER, summary))
    return records, summary


# -- formats and readers --


@pytest.mark.parametrize(
    "name, fmt",
    [("a.jsonl", "jsonl"), ("a.NDJSON", "jsonl"), ("dir/a.json", "jsonl"), ("a.csv", "csv"), ("A.CSV", "csv")],
)
def test_the_format_follows_the_extension(name, fmt):
    assert detect_format(name) == fmt


def test_an_unknown_extension_asks_for_the_format():
    with pytest.raises(BackfillError, match="--format"):
        detect_format("accounts.txt")


def test_jsonl_skips_blank_lines_and_keeps_file_line_numbers():
    rows = jsonl(
        '\ufeff{"account_id": "1", "email": "a@example.com"}\n\n   \n{"account_id": "2", "email": "b@example.com"}'
    )
    assert rows == [
        (1, {"account_id": "1", "email": "a@example.com"}),
        (4, {"account_id": "2", "email": "b@example.com"}),
    ]


def test_jsonl_lines_that_are_not_objects_are_reported_by_line():
    rows = jsonl('{"account_id": "1", "email": "a@example.com"}\nnot json\n[1, 2]\n{"account_id": ')
    assert [number for number, _ in rows] == [1, 2, 3, 4]
    assert rows[1][1].startswith("not valid JSON")
    assert rows[2][1] == "expected a JSON object, got list"
    assert rows[3][1].startswith("not valid JSON")


def test_csv_maps_cells_to_header_names_and_keeps_line_numbers():
    rows = csv_rows(
        "\ufeffAccount_ID, Address ,verified,verified_at\r\n1,a@example.com,yes,\r\n\r\n2,b@example.com,0,x\r\n"
    )
    assert rows == [
        (2, {"account_id": "1", "address": "a@example.com", "verified": "yes", "verified_at": ""}),
        (4, {"account_id": "2", "address": "b@example.com", "verified": "0", "verified_at": "x"}),
    ]


def test_a_csv_row_spanning_lines_reports_its_first_line():
    rows = csv_rows('account_id,email\n"multi\nline",a@example.com\n3,c@example.com\n')
    assert [(number, fields["account_id"]) for number, fields in rows] == [(2, "multi\nline"), (4, "3")]


def test_csv_rows_with_the_wrong_number_of_fields_are_rejected():
    rows = csv_rows("account_id,email,verified\n1,a@example.com\n2,b@example.com,true,extra\n3,c@example.com,true\n")
    assert rows[0] == (2, "2 fields, but the header has 3")
    assert rows[1] == (3, "4 fields, but the header has 3")
    assert rows[2][0] == 4 and isinstance(rows[2][1], dict)


def test_a_csv_line_that_is_not_utf8_rejects_only_its_row():
    rows = csv_rows(b"account_id,email\n1,\xff@example.com\n2,b@example.com\n")
    assert rows[0] == (2, "not valid UTF-8")
    assert rows[1] == (3, {"account_id": "2", "email": "b@example.com"})


@pytest.mark.parametrize("header", ["email,verified", "account_id,verified", ""])
def test_a_csv_header_without_the_needed_columns_stops_the_file(header):
    with pytest.raises(BackfillError, match="account_id and email"):
        csv_rows(f"{header}\nx,y\n" if header else "1,a@example.com\n")


# -- rows → events --


def test_a_row_becomes_an_email_added_event_the_pipeline_accepts():
    key, value = BUILDER.build(
        {
            "account_id": 42,
            "email": " Alice@Mail.Example.co.uk ",
            "verified": True,
            "verified_at": "2024-05-01T14:00:00+02:00",
        }
    )
    event = orjson.loads(value)
    assert key == b"42"
    assert event == {
        "event_id": event["event_id"],
        "type": "email_added",
        "account_id": "42",
        "email": "Alice@Mail.Example.co.uk",
        "verified": True,
        "verified_at": "2024-05-01T12:00:00Z",
        "occurred_at": BACKFILL_OCCURRED_AT,
    }
    assert first_error("email-event", event) is None
    command = parse_email_event(key, value, public=PUBLIC, max_bytes=4096)
    assert [(u.key, u.domain, u.verified, u.verified_at) for u in command.upsert] == [
        ("alice@mail.example.co.uk", "example.co.uk", True, "2024-05-01T12:00:00Z")
    ]
    assert command.occurred_at == BACKFILL_OCCURRED_AT


def test_address_is_an_alias_of_email():
    assert build(account_id="1", address="a@example.com")["email"] == "a@example.com"


@pytest.mark.parametrize(
    "value, expected",
    [
        (..., True),
        (None, True),
        ("", True),
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("true", True),
        ("FALSE", False),
        ("1", True),
        ("0", False),
        (" yes ", True),
        ("no", False),
    ],
)
def test_verified_forms(value, expected):
    fields = {"account_id": "1", "email": "a@example.com"}
    if value is not ...:
        fields["verified"] = value
    assert build(**fields)["verified"] is expected


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"email": "a@example.com"}, "account_id: missing"),
        ({"account_id": "  ", "email": "a@example.com"}, "account_id: empty"),
        ({"account_id": True, "email": "a@example.com"}, "account_id: expected a string or an integer, got bool"),
        ({"account_id": 1.5, "email": "a@example.com"}, "account_id: expected a string or an integer, got float"),
        ({"account_id": "x" * 201, "email": "a@example.com"}, "account_id: longer than 200 characters"),
        ({"account_id": "1"}, "email: missing"),
        ({"account_id": "1", "email": ""}, "email: missing"),
        ({"account_id": "1", "email": 7}, "email: expected the address as a string, got int"),
        (
            {"account_id": "1", "email": "no-at-sign.example.com"},
            "email: the address has no local part and domain separated by '@'",
        ),
        ({"account_id": "1", "email": "a@localhost"}, "email: the domain has no top-level domain"),
        (
            {"account_id": "1", "email": "a@example.com", "verified": "maybe"},
            "verified: expected true/false, 1/0 or yes/no, got 'maybe'",
        ),
        (
            {"account_id": "1", "email": "a@example.com", "verified_at": "yesterday"},
            "verified_at: 'yesterday' is not an ISO 8601 timestamp",
        ),
        (
            {"account_id": "1", "email": "a@example.com", "verified_at": 1714564800},
            "verified_at: expected an ISO 8601 string, got int",
        ),
    ],
)
def test_invalid_rows_say_why(fields, expected):
    assert reason(**fields) == expected


def test_public_mailbox_rows_are_skipped_and_extra_public_domains_count():
    assert BUILDER.build({"account_id": "1", "email": "someone@Gmail.com"}) is None
    extra = EventBuilder(PublicMailboxes(frozenset({"mail.corp-mail.net"})))
    assert extra.build({"account_id": "1", "email": "x@corp-mail.net"}) is None
    assert extra.build({"account_id": "1", "email": "x@example.com"}) is not None


# -- idempotence --


def test_event_ids_are_deterministic_uuid5s_of_the_row_content():
    first = build(account_id="7", email="Bob@Example.com", verified_at="2024-05-01T12:00:00Z")
    again = build(account_id=7, email="bob@example.COM", verified_at="2024-05-01T14:00:00+02:00")
    assert first["event_id"] == again["event_id"]
    name = orjson.dumps(["7", "bob@example.com", True, "2024-05-01T12:00:00Z"]).decode()
    assert first["event_id"] == "backfill-" + str(uuid.uuid5(uuid.UUID(bytes=_NAMESPACE), name))
    others = {
        build(account_id="8", email="bob@example.com", verified_at="2024-05-01T12:00:00Z")["event_id"],
        build(account_id="7", email="bob2@example.com", verified_at="2024-05-01T12:00:00Z")["event_id"],
        build(account_id="7", email="bob@example.com", verified=False, verified_at="2024-05-01T12:00:00Z")["event_id"],
        build(account_id="7", email="bob@example.com")["event_id"],
    }
    assert first["event_id"] not in others and len(others) == 4


def test_event_ids_match_the_standard_uuid5():
    for args in [("1", "a@b.com", True, None), ("ü", "x@xn--bcher-kva.com", False, "2020-01-01T00:00:00Z")]:
        name = orjson.dumps(list(args)).decode()
        assert event_id(*args) == "backfill-" + str(uuid.uuid5(uuid.UUID(bytes=_NAMESPACE), name))


FILE_JSONL = """{"account_id": "1", "email": "a@example.com", "verified": true, "verified_at": "2024-01-01T00:00:00Z"}
{"account_id": 2, "address": "b@mail.example.co.uk", "verified": false, "verified_at": null}

{"account_id": "3", "email": "c@gmail.com"}
{"account_id": "4", "email": "bad@@"}
{"account_id": "5", "email": "e@example.org", "verified_at": "2024-02-30"}
{"account_id": "6", "email": "f@example.net"}
"""

FILE_CSV = """account_id,email,verified,verified_at
1,a@example.com,true,2024-01-01T00:00:00Z
2,b@mail.example.co.uk,false,

3,c@gmail.com,,
4,bad@@,,
5,e@example.org,,2024-02-30
6,f@example.net,,
"""


def test_two_runs_produce_byte_identical_records():
    assert run(FILE_JSONL, "jsonl")[0] == run(FILE_JSONL, "jsonl")[0]


def test_csv_and_jsonl_of_the_same_rows_produce_the_same_records_and_summary():
    (jsonl_records, jsonl_summary), (csv_records, csv_summary) = run(FILE_JSONL, "jsonl"), run(FILE_CSV, "csv")
    assert jsonl_records == csv_records and len(csv_records) == 3
    for summary in (jsonl_summary, csv_summary):
        assert (summary.read, summary.produced, summary.public) == (6, 0, 1)
    reasons = ["email: the domain is empty", "verified_at: '2024-02-30' is not an ISO 8601 timestamp"]
    # Line numbers are the file's: the CSV's header is its line 1.
    assert jsonl_summary.rejected == list(zip([5, 6], reasons, strict=True))
    assert csv_summary.rejected == list(zip([6, 7], reasons, strict=True))


def test_progress_is_reported_while_reading_and_at_the_end():
    seen: list[int] = []
    text = "".join(f'{{"account_id": "{i}", "email": "u{i}@example.com"}}\n' for i in range(5))
    list(prepare(read_jsonl(io.BytesIO(text.encode())), BUILDER, Summary(), seen.append, every=2))
    assert seen == [2, 4, 5]


def test_the_summary_lists_twenty_rejections_and_counts_the_rest():
    summary = Summary(read=30, produced=5, public=1, rejected=[(n, "bad") for n in range(24)], elapsed=2.0)
    lines = summary_lines(summary)
    assert lines[0] == "rows read:   30" and "produced:    5" in lines
    assert "public mailbox rows skipped: 1 (the pipeline ignores them)" in lines
    assert sum(line.startswith("  line ") for line in lines) == 20
    assert "  … and 4 more (--rejects FILE lists them all)" in lines
    assert lines[-1] == "elapsed:     2.00 s (15 rows/s)"
    assert "would produce: 5 (dry run: nothing sent)" in summary_lines(summary, dry_run=True)


# -- the cached normaliser is normalize_address --


@pytest.mark.parametrize(
    "text",
    [
        "a@example.com",
        " Alice@Mail.Example.CO.UK ",
        "x@me.github.io",
        "u@Bücher.de",
        "u@xn--bcher-kva.de",
        "o'brien+tag@example.com",
        '"quoted local"@example.com',
        "sp ace@example.com",
        "a@b@example.com",
        "@example.com",
        "a@",
        "",
        "   ",
        "a@localhost",
        "a@co.uk",
        "a@192.168.0.1",
        "a@[127.0.0.1]",
        "a@-bad-.com",
        "a@exa_mple.com",
        "a@example.invalidtld",
        "ü@example.com",
        "a@example.com.",
        "x" * 65 + "@example.com",
        "a@" + "b" * 320 + ".com",
        "tab\t@example.com",
        7,
        None,
    ],
)
def test_the_cached_normaliser_agrees_with_normalize_address(text):
    try:
        expected = normalize_address(text)
    except InvalidAddress as exc:
        with pytest.raises(InvalidAddress) as caught:
            fast_normalize(text)
        assert str(caught.value) == str(exc)
    else:
        assert fast_normalize(text) == expected
        assert fast_normalize(text) == expected  # cached


# -- ordering against live events (streams/accounts/address_book.py) --


def backfill_command(verified: bool = True) -> AccountCommand:
    key, value = BUILDER.build(
        {"account_id": "42", "email": "a@example.com", "verified": verified, "verified_at": "2024-01-01T00:00:00Z"}
    )
    return parse_email_event(key, value, public=PUBLIC, max_bytes=4096)


def live(value: dict) -> AccountCommand:
    event = {
        "event_id": "live-1",
        "type": "email_added",
        "account_id": "42",
        "email": "a@example.com",
        "occurred_at": "2025-01-01T00:00:00Z",
        **value,
    }
    return parse_email_event(b"42", orjson.dumps(event), public=PUBLIC, max_bytes=4096)


def test_a_backfill_never_overrides_a_live_change():
    state, _ = apply_command(None, live({"type": "email_unverified"}))
    state, commands = apply_command(state, backfill_command())
    assert commands == [] and state["addresses"]["a@example.com"]["verified"] is False


def test_a_backfill_never_brings_back_an_address_removed_live():
    state, _ = apply_command(None, live({"email": "other@example.com"}))
    state, _ = apply_command(state, live({"event_id": "live-2", "type": "email_added", "verified": True}))
    state, _ = apply_command(
        state, live({"event_id": "live-3", "type": "email_removed", "occurred_at": "2025-02-01T00:00:00Z"})
    )
    state, commands = apply_command(state, backfill_command())
    assert commands == [] and "a@example.com" not in state["addresses"]


def test_a_live_change_after_a_backfill_wins():
    state, _ = apply_command(None, backfill_command())
    state, commands = apply_command(state, live({"type": "email_unverified"}))
    (command,) = commands
    assert isinstance(command, MemberAdded) and command.verified is False


def test_a_second_backfill_changes_nothing_even_once_its_id_has_aged_out():
    state, first = apply_command(None, backfill_command())
    assert [c.kind for c in first] == ["member"]
    assert apply_command(state, backfill_command())[1] == []
    state["recent"] = []
    assert apply_command(state, backfill_command())[1] == []


# -- the command, without a broker --


def cli(*args: str, stdin: str | None = None, **env: str) -> Result:
    return CliRunner().invoke(main, ["backfill", *args], input=stdin, env={"LAPSEWATCH_BROKER": None, **env})


def test_a_dry_run_validates_without_a_broker_and_lists_rejects(tmp_path):
    path, rejects = tmp_path / "accounts.jsonl", tmp_path / "rejects.txt"
    path.write_text(FILE_JSONL)
    result = cli(str(path), "--dry-run", "--rejects", str(rejects))
    assert result.exit_code == 2, result.output
    assert "would produce: 3 (dry run: nothing sent)" in result.stdout
    assert "  line 5: email: the domain is empty" in result.stdout
    assert rejects.read_text().splitlines() == [
        "line 5: email: the domain is empty",
        "line 6: verified_at: '2024-02-30' is not an ISO 8601 timestamp",
    ]


def test_a_clean_file_exits_zero(tmp_path):
    result = cli("-", "--format", "csv", "--dry-run", stdin="account_id,email\n1,a@example.com\n")
    assert result.exit_code == 0, result.output
    assert "would produce: 1" in result.stdout and "rejected:    0" in result.stdout


def test_backfill_needs_lapsewatch_broker(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text(FILE_CSV)
    result = cli(str(path))
    assert result.exit_code == 1
    assert "LAPSEWATCH_BROKER is not set" in result.output and "embedded broker" in result.output


@pytest.mark.parametrize("args, message", [(["-"], "pass --format"), (["accounts.txt"], "pass --format")])
def test_the_format_must_be_known(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "accounts.txt").write_text("")
    result = cli(*args, "--dry-run", stdin="")
    assert result.exit_code == 1 and message in result.output


def test_a_bad_setting_names_its_variable(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text(FILE_CSV)
    result = cli(str(path), LAPSEWATCH_BROKER="not a broker")
    assert result.exit_code == 1 and "LAPSEWATCH_BROKER" in result.output


def test_a_csv_without_its_columns_stops_with_exit_1(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text("id,mail\n1,a@example.com\n")
    result = cli(str(path), "--dry-run")
    assert result.exit_code == 1 and "account_id and email" in result.output
