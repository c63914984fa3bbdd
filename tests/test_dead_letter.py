"""Bad input goes to the dead-letter topic with its reason; the next event still flows."""

from __future__ import annotations

import base64
import hashlib

import orjson

from schemas import first_error
from tests.harness import email_event, unique, unique_domain, wait_for

T = 30


async def test_bad_inputs_are_dead_lettered_and_the_stream_goes_on(shared, fastly):
    account = unique("dl")
    topic = shared.topics["email_events"]
    huge = b'{"event_id": "' + b"x" * (1024 * 1024) + b'"}'
    bad = {
        "invalid_json": b'{"event_id": "e1", "type": ',
        "invalid_event": orjson.dumps(
            {"event_id": 7, "type": "email_added", "account_id": account, "email": "a@b.com"}
        ),
        "value_too_large": huge,
        "non_utf8": b'{"event_id": "\xff\xfe", "type": "email_added"}',
        "invalid_address": orjson.dumps(email_event("email_added", account, "not-an-address", verified=True)),
        "unknown_type": orjson.dumps({**email_event("email_added", account, "a@b.com"), "type": "email_exploded"}),
        "key_mismatch": orjson.dumps(email_event("email_added", "someone-else", "a@b.com")),
        "tombstone": None,
    }
    for value in bad.values():
        await shared.bus.send(topic, account, value)
    domain = unique_domain("after-bad")
    fastly.scenario.set(domain, "inactive")
    await shared.email(email_event("email_added", account, f"ok@{domain}", verified=True))
    await wait_for(
        lambda: shared.unverified(account=account), T, "the valid event after the bad ones", shared.worker.log_tail
    )

    mine = await wait_for(
        lambda: (lambda found: found if len(found) == len(bad) else None)(
            [d for d in shared.dead_letters() if d["key_b64"] == base64.b64encode(account.encode()).decode()]
        ),
        T,
        f"{len(bad)} dead letters",
    )
    for record in mine:
        assert first_error("dead-letter", record) is None, record
        assert record["source_topic"] == topic and record["source_offset"] >= 0
    reasons = [record["reason"] for record in mine]
    assert reasons == [
        "invalid_json",
        "invalid_event",
        "value_too_large",
        "invalid_json",
        "invalid_address",
        "invalid_event",
        "key_mismatch",
        "invalid_json",
    ]
    by_reason = dict(zip(bad, mine, strict=True))
    # Small values are kept whole, byte for byte.
    assert base64.b64decode(by_reason["non_utf8"]["value_b64"]) == bad["non_utf8"]
    assert "UTF-8" in by_reason["non_utf8"]["error"]
    assert "email" in by_reason["invalid_address"]["error"]
    assert "'email_exploded' is not one of" in by_reason["unknown_type"]["error"]
    # A value over the limit keeps a prefix, its size and its digest.
    big = by_reason["value_too_large"]
    assert big["value_truncated"] is True and big["value_size"] == len(huge)
    assert big["value_sha256"] == hashlib.sha256(huge).hexdigest()
    assert huge.startswith(base64.b64decode(big["value_b64"]))
    assert by_reason["tombstone"]["value_b64"] is None


async def test_invalid_entry_in_a_login_snapshot_is_reported_and_the_rest_applied(shared, fastly):
    domain = unique_domain("snap")
    fastly.scenario.set(domain, "inactive")
    account = unique("acct")
    await shared.login(
        {
            "event_id": unique("login"),
            "account_id": account,
            "emails": [{"email": "broken@@", "verified": True}, {"email": f"fine@{domain}", "verified": True}],
        }
    )
    await wait_for(lambda: shared.unverified(account=account), T, "the valid entry's event")
    key = base64.b64encode(account.encode()).decode()
    records = await wait_for(lambda: [d for d in shared.dead_letters() if d["key_b64"] == key], T, "the report")
    assert records[0]["reason"] == "invalid_address" and "emails/0/email" in records[0]["error"]
