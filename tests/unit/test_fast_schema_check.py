"""The fast event checks may only say "valid" where jsonschema agrees (else jsonschema decides)."""

from __future__ import annotations

import itertools
import random

from schemas import first_error
from streams.accounts.events import _surely_valid_email_event, _surely_valid_login_event

BASE = {
    "event_id": "ev-1",
    "type": "email_added",
    "account_id": "42",
    "email": "a@example.com",
    "previous_email": None,
    "verified": True,
    "verified_at": "2024-05-01T12:00:00Z",
    "occurred_at": "2024-05-01T12:00:00Z",
}
ODD_VALUES = [
    None,
    True,
    False,
    0,
    1,
    1.5,
    "",
    "x",
    "ab",
    "a@b",
    "x" * 64,
    "x" * 65,
    "x" * 200,
    "x" * 201,
    "x" * 320,
    "x" * 321,
    "é" * 64,
    "é" * 65,
    [],
    ["email_added"],
    {},
    {"a": 1},
    "email_added",
    "email_exploded",
    "email_changed",
    ...,
]


def variant(changes: dict) -> dict:
    document = {**BASE, **changes}
    return {name: value for name, value in document.items() if value is not ...}


def test_fast_check_never_accepts_what_the_schema_rejects():
    accepted = 0
    for field in BASE:
        for value in ODD_VALUES:
            document = variant({field: value})
            if _surely_valid_email_event(document):
                accepted += 1
                assert first_error("email-event", document) is None, document
    rng = random.Random(7)
    for _ in range(3000):
        document = variant({field: rng.choice(ODD_VALUES) for field in rng.sample(list(BASE), rng.randint(1, 4))})
        if _surely_valid_email_event(document):
            accepted += 1
            assert first_error("email-event", document) is None, document
    assert accepted > 50  # the test would prove nothing if the fast check accepted nothing


def test_fast_check_accepts_the_ordinary_events():
    for kind, verified in itertools.product(
        ["email_added", "email_verified", "email_removed", "email_changed", "email_unverified"],
        [True, False, None, ...],
    ):
        document = variant({"type": kind, "verified": verified, "extra_field": {"anything": 1}})
        assert first_error("email-event", document) is None
        assert _surely_valid_email_event(document), document


LOGIN = {
    "event_id": "ev-2",
    "account_id": "42",
    "occurred_at": "2024-05-01T12:00:00Z",
    "emails": [{"email": "a@example.com", "verified": True, "verified_at": "2024-05-01T12:00:00Z"}],
}
ENTRY = LOGIN["emails"][0]
ODD_LISTS = [
    None,
    [],
    "a@example.com",
    [ENTRY] * 100,
    [ENTRY] * 101,
    [None],
    ["a@example.com"],
    [{}],
    [ENTRY, {"verified": True}],
]


def login_variant(changes: dict, entry_changes: dict) -> dict:
    entry = {name: value for name, value in {**ENTRY, **entry_changes}.items() if value is not ...}
    document = {**LOGIN, "emails": [entry], **changes}
    return {name: value for name, value in document.items() if value is not ...}


def test_fast_login_check_never_accepts_what_the_schema_rejects():
    accepted = 0
    rng = random.Random(11)
    cases = [login_variant({field: value}, {}) for field in LOGIN for value in ODD_VALUES + ODD_LISTS]
    cases += [login_variant({}, {field: value}) for field in ENTRY for value in ODD_VALUES]
    for _ in range(3000):
        changes = {field: rng.choice(ODD_VALUES + ODD_LISTS) for field in rng.sample(list(LOGIN), rng.randint(0, 2))}
        entry = {field: rng.choice(ODD_VALUES) for field in rng.sample(list(ENTRY), rng.randint(0, 2))}
        cases.append(login_variant(changes, entry))
    for document in cases:
        if _surely_valid_login_event(document):
            accepted += 1
            assert first_error("login-event", document) is None, document
    assert accepted > 50


def test_fast_login_check_accepts_the_ordinary_logins():
    for emails in ([], None, ..., [ENTRY], [ENTRY, {"email": "b@example.org"}], [{**ENTRY, "verified": None}]):
        document = login_variant({"emails": emails, "extra_field": 1}, {})
        assert first_error("login-event", document) is None
        assert _surely_valid_login_event(document), document
