"""Raw record bytes → account commands, or Rejected with a stable reason. Pure."""

from __future__ import annotations

import orjson
import pytest

from streams.accounts.events import (
    AccountCommand,
    AddressUpdate,
    parse_email_event,
    parse_login_event,
)
from streams.core.addresses import PublicMailboxes
from streams.core.inbound import Rejected, parse_timestamp

PUBLIC = PublicMailboxes()
LIMIT = 4096


def event(**changes) -> dict:
    base = {
        "event_id": "ev-1",
        "type": "email_added",
        "account_id": "42",
        "email": "Alice@Mail.Example.co.uk",
        "verified": True,
        "verified_at": "2024-05-01T12:00:00Z",
        "occurred_at": "2024-05-01T14:00:00+02:00",
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not ...}


def parse(value: bytes | None, key: bytes | None = b"42", max_bytes: int = LIMIT) -> AccountCommand:
    return parse_email_event(key, value, public=PUBLIC, max_bytes=max_bytes)


def login(value: bytes | None, key: bytes | None = b"42") -> AccountCommand:
    return parse_login_event(key, value, public=PUBLIC, max_bytes=LIMIT)


def rejection(call, *args, **kwargs) -> Rejected:
    with pytest.raises(Rejected) as caught:
        call(*args, **kwargs)
    return caught.value


ALICE = AddressUpdate(
    key="alice@mail.example.co.uk",
    email="Alice@Mail.Example.co.uk",
    domain="example.co.uk",
    verified=True,
    verified_at="2024-05-01T12:00:00Z",
)


def test_an_email_added_event_becomes_an_upsert_with_canonical_times():
    command = parse(orjson.dumps(event()))
    assert command == AccountCommand(
        event_id="ev-1", account_id="42", upsert=[ALICE], occurred_at="2024-05-01T12:00:00Z"
    )


@pytest.mark.parametrize("key", [None, b""])
def test_a_missing_key_is_accepted(key):
    assert parse(orjson.dumps(event()), key=key).upsert == [ALICE]


# --- rejections -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "key", "reason", "words"),
    [
        (b"{not json", b"42", "invalid_json", "not UTF-8 JSON"),
        (b"", b"42", "invalid_json", "not UTF-8 JSON"),
        (None, b"42", "invalid_json", "tombstone"),
        (b'{"event_id": "\xff\xfe"}', b"42", "invalid_json", "not UTF-8 JSON"),
        ('{"event_id": "é"}'.encode("latin-1"), b"42", "invalid_json", "not UTF-8 JSON"),
        (b"[1, 2]", b"42", "invalid_event", "expected a JSON object, got list"),
        (b'"text"', b"42", "invalid_event", "expected a JSON object, got str"),
        (orjson.dumps(event(type="email_deleted")), b"42", "invalid_event", "type: "),
        (orjson.dumps(event(event_id=...)), b"42", "invalid_event", "'event_id' is a required property"),
        (orjson.dumps(event(account_id=42)), b"42", "invalid_event", "account_id: "),
        (orjson.dumps(event(verified="yes")), b"42", "invalid_event", "verified: "),
        (orjson.dumps(event()), b"43", "key_mismatch", "'43' is not the event's account_id '42'"),
        (orjson.dumps(event()), b"\xff42", "key_mismatch", "not UTF-8"),
        (orjson.dumps(event(email="alice.example.com")), b"42", "invalid_address", "email: "),
        (orjson.dumps(event(email="x@co.uk")), b"42", "invalid_address", "public suffix"),
        (orjson.dumps(event(email="x@10.0.0.1")), b"42", "invalid_address", "IP address"),
        (
            orjson.dumps(event(type="email_changed", previous_email="old-no-at")),
            b"42",
            "invalid_address",
            "previous_email: ",
        ),
        (orjson.dumps(event(occurred_at="yesterday")), b"42", "invalid_timestamp", "occurred_at: 'yesterday'"),
        (orjson.dumps(event(verified_at="2024-13-01T00:00:00Z")), b"42", "invalid_timestamp", "verified_at: "),
    ],
)
def test_rejections_have_a_stable_reason_and_a_message(value, key, reason, words):
    rejected = rejection(parse, value, key=key)
    assert rejected.reason == reason
    assert words in rejected.message
    assert str(rejected) == rejected.message


def test_a_value_over_the_limit_is_too_large_before_it_is_parsed():
    value = b"{" + b" " * LIMIT + b"not json"
    rejected = rejection(parse, value)
    assert rejected.reason == "value_too_large"
    assert f"{len(value)} bytes; the limit is {LIMIT}" in rejected.message


def test_a_value_exactly_at_the_limit_is_parsed():
    value = orjson.dumps(event())
    assert parse(value, max_bytes=len(value)).upsert == [ALICE]
    assert rejection(parse, value, max_bytes=len(value) - 1).reason == "value_too_large"


def test_the_first_failing_check_decides_the_reason():
    # Schema before key, key before address.
    assert rejection(parse, orjson.dumps(event(type="nope", email="bad")), key=b"other").reason == "invalid_event"
    assert rejection(parse, orjson.dumps(event(email="bad")), key=b"other").reason == "key_mismatch"


# --- CloudEvents ------------------------------------------------------------------------------


def envelope(data, **changes) -> bytes:
    document = {
        "specversion": "1.0",
        "id": "ce-7",
        "source": "accounts",
        "type": "com.example.email",
        "datacontenttype": "application/json",
        "data": data,
    }
    document.update(changes)
    return orjson.dumps({name: value for name, value in document.items() if value is not ...})


def test_a_cloudevents_envelope_is_read_from_its_data():
    command = parse(envelope(event()))
    assert (command.event_id, command.account_id, command.upsert) == ("ev-1", "42", [ALICE])


def test_the_envelope_id_stands_in_for_a_missing_event_id():
    assert parse(envelope(event(event_id=...))).event_id == "ce-7"


def test_an_envelope_without_a_content_type_is_json():
    assert parse(envelope(event(), datacontenttype=...)).upsert == [ALICE]
    assert parse(envelope(event(), datacontenttype="application/json; charset=utf-8")).upsert == [ALICE]


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (envelope(event(), specversion="0.3"), "specversion '0.3'"),
        (envelope(event(), datacontenttype="text/plain"), "datacontenttype 'text/plain'"),
        (envelope("a string"), "no JSON object in `data`"),
        (envelope(..., id=...), "no JSON object in `data`"),
        (envelope(event(event_id=...), id=...), "'event_id' is a required property"),
    ],
)
def test_bad_envelopes_are_invalid_events(value, words):
    rejected = rejection(parse, value)
    assert rejected.reason == "invalid_event"
    assert words in rejected.message


def test_the_key_is_checked_against_the_payload_inside_the_envelope():
    assert rejection(parse, envelope(event()), key=b"7").reason == "key_mismatch"


# --- what each event type asks ----------------------------------------------------------------


def test_email_changed_without_previous_email_replaces_the_account_addresses():
    command = parse(orjson.dumps(event(type="email_changed")))
    assert (command.upsert, command.remove, command.replace) == ([ALICE], [], True)


def test_email_changed_with_previous_email_removes_the_old_one_only():
    command = parse(orjson.dumps(event(type="email_changed", previous_email="Old@Shop.com")))
    assert (command.upsert, command.remove, command.replace) == ([ALICE], ["old@shop.com"], False)


def test_email_changed_to_the_same_address_in_other_case_removes_nothing():
    command = parse(orjson.dumps(event(type="email_changed", previous_email="ALICE@mail.example.co.uk")))
    assert (command.upsert, command.remove) == ([ALICE], [])


def test_email_removed_and_unverified():
    removed = parse(orjson.dumps(event(type="email_removed")))
    assert (removed.upsert, removed.remove) == ([], ["alice@mail.example.co.uk"])
    unverified = parse(orjson.dumps(event(type="email_unverified")))
    assert unverified.upsert == [AddressUpdate(ALICE.key, ALICE.email, ALICE.domain, False, None)]


def test_email_verified_without_verified_at_uses_occurred_at():
    command = parse(orjson.dumps(event(type="email_verified", verified_at=None, occurred_at="2024-06-01T00:00:00Z")))
    assert command.upsert[0].verified_at == "2024-06-01T00:00:00Z"


def test_an_unverified_address_keeps_no_verified_at():
    command = parse(orjson.dumps(event(verified=False)))
    assert (command.upsert[0].verified, command.upsert[0].verified_at) == (False, None)


def test_public_mailbox_addresses_produce_no_change():
    command = parse(orjson.dumps(event(email="Someone@Gmail.com")))
    assert (command.upsert, command.remove, command.replace) == ([], [], False)


def test_a_command_survives_its_dict_form():
    command = parse(orjson.dumps(event(type="email_changed", previous_email="old@shop.com")))
    assert AccountCommand.from_dict(orjson.loads(orjson.dumps(command.to_dict()))) == command


# --- logins -----------------------------------------------------------------------------------


def test_a_login_snapshot_replaces_with_its_custom_addresses():
    command = login(
        orjson.dumps(
            {
                "event_id": "l-1",
                "account_id": "42",
                "occurred_at": "2024-01-01T00:00:00Z",
                "emails": [{"email": "A@Shop.com", "verified": True}, {"email": "b@gmail.com", "verified": True}],
            }
        )
    )
    assert command.login and command.replace
    assert command.upsert == [AddressUpdate("a@shop.com", "A@Shop.com", "shop.com", True, None)]


def test_a_login_without_a_snapshot_only_asks_for_a_check():
    command = login(orjson.dumps({"event_id": "l-2", "account_id": "42"}))
    assert (command.login, command.replace, command.upsert) == (True, False, [])


def test_an_invalid_snapshot_entry_is_a_warning_and_the_snapshot_removes_nothing():
    command = login(
        orjson.dumps(
            {
                "event_id": "l-3",
                "account_id": "42",
                "emails": [
                    {"email": "a@shop.com"},
                    {"email": "not-an-address"},
                    {"email": "c@shop.com", "verified_at": "whenever"},
                ],
            }
        )
    )
    assert [update.key for update in command.upsert] == ["a@shop.com"]
    assert command.replace is False
    assert [warning.split(":")[0] for warning in command.warnings] == ["emails/1/email", "emails/2/verified_at"]


def test_a_login_key_must_match_too():
    assert rejection(login, orjson.dumps({"event_id": "l-4", "account_id": "42"}), key=b"41").reason == "key_mismatch"


# --- timestamps -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00Z"),
        ("2024-05-01t12:00:00z", "2024-05-01T12:00:00Z"),
        ("2024-05-01T14:00:00.987+02:00", "2024-05-01T12:00:00Z"),
        ("2024-05-01T12:00:00", "2024-05-01T12:00:00Z"),  # naive is UTC
        (" 2024-05-01 ", "2024-05-01T00:00:00Z"),
        (None, None),
    ],
)
def test_timestamps_become_canonical_utc(text, canonical):
    assert parse_timestamp(text, "occurred_at") == canonical


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:30:00-05:00"])
def test_an_out_of_range_timestamp_is_an_invalid_timestamp(text):
    rejected = rejection(parse, orjson.dumps(event(occurred_at=text)))
    assert rejected.reason == "invalid_timestamp"
