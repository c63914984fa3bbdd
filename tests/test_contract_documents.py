"""The event contract as documents: schemas/asyncapi.yaml and the JSON Schema files it points to.

The documents are checked for shape and for agreement with the code (topics in
settings, the builders of every published event), and every event a real
worker publishes on the broker is validated against them and read back with
the CloudEvents SDK, as a subscriber would.
"""

from __future__ import annotations

import base64
import json
import re
from functools import cache
from pathlib import Path
from urllib.parse import urljoin

import orjson
import pytest
import yaml
from cloudevents.core.bindings.kafka import KafkaMessage, from_structured
from cloudevents.core.formats.json import JSONFormat
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from streams.core.dead_letters import dead_letter_record
from streams.domains import outbound
from streams.domains.state import STATUSES, DomainState
from streams.settings import DEFAULT_TOPICS
from tests import rdap_documents as docs
from tests.harness import email_event, unique, unique_domain, wait_for
from tests.test_providers_on_the_broker import rdap_settings

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
# Relative $refs in asyncapi.yaml resolve against the same base as the schema files' $id.
BASE = "https://lapsewatch.dev/schemas/v1/asyncapi.yaml"
T = 45  # seconds: generous for shared CI machines; every wait ends as soon as its condition holds

INPUTS = {"EMAIL_EVENTS", "LOGINS", "CONTROL"}
OUTPUTS = {"EMAIL_UNVERIFIED", "DOMAIN_STATUS", "DEAD_LETTER"}


@cache
def asyncapi() -> dict:
    return yaml.safe_load((SCHEMAS / "asyncapi.yaml").read_text())


@cache
def registry() -> Registry:
    resources = []
    for path in sorted(SCHEMAS.glob("*.schema.json")):
        schema = json.loads(path.read_text())
        # A relative $ref names a file: the $id must end with that file's name.
        assert schema["$id"] == urljoin(BASE, path.name), path
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def local(ref: str) -> object:
    """`#/a/b` inside asyncapi.yaml."""
    assert ref.startswith("#/"), ref
    node: object = asyncapi()
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def deref(node: dict) -> dict:
    return local(node["$ref"]) if "$ref" in node else node


def payload_ref(message: dict) -> str:
    payload = deref(message)["payload"]
    assert payload["schemaFormat"] == "application/schema+json;version=draft-2020-12"
    return urljoin(BASE, payload["schema"]["$ref"])


def payload_schema(message: dict) -> dict:
    return registry().resolver().lookup(payload_ref(message)).contents


def payload_validator(message: dict) -> Draft202012Validator:
    return Draft202012Validator({"$ref": payload_ref(message)}, registry=registry(), format_checker=FormatChecker())


def channel_for(topic_key: str) -> dict:
    [channel] = [
        c
        for c in asyncapi()["channels"].values()
        if c["x-lapsewatch-topic-variable"] == f"LAPSEWATCH_TOPIC_{topic_key}"
    ]
    return channel


def messages_by_cloudevents_type() -> dict[str, dict]:
    found = {}
    for message in asyncapi()["components"]["messages"].values():
        if "x-cloudevents-type" in message:
            found[message["x-cloudevents-type"]] = message
    return found


def errors(message: dict, value: object) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in payload_validator(message).iter_errors(value)
    ]


# --- the documents --------------------------------------------------------------------------------------------

# AsyncAPI 3.0.0's fixed fields per object (no maintained PyPI package ships the official JSON Schema).
_FIELDS = {
    "root": {"asyncapi", "id", "info", "servers", "defaultContentType", "channels", "operations", "components"},
    "info": {"title", "version", "description", "termsOfService", "contact", "license", "tags", "externalDocs"},
    "server": {
        "host",
        "protocol",
        "protocolVersion",
        "pathname",
        "description",
        "title",
        "summary",
        "variables",
        "security",
        "tags",
        "externalDocs",
        "bindings",
    },
    "channel": {
        "address",
        "messages",
        "title",
        "summary",
        "description",
        "servers",
        "parameters",
        "tags",
        "externalDocs",
        "bindings",
    },
    "operation": {
        "action",
        "channel",
        "title",
        "summary",
        "description",
        "security",
        "tags",
        "externalDocs",
        "bindings",
        "traits",
        "messages",
        "reply",
    },
    "message": {
        "headers",
        "payload",
        "correlationId",
        "contentType",
        "name",
        "title",
        "summary",
        "description",
        "tags",
        "externalDocs",
        "bindings",
        "examples",
        "traits",
    },
    "components": {
        "schemas",
        "servers",
        "channels",
        "operations",
        "messages",
        "securitySchemes",
        "serverVariables",
        "parameters",
        "correlationIds",
        "replies",
        "replyAddresses",
        "externalDocs",
        "tags",
        "operationTraits",
        "messageTraits",
        "serverBindings",
        "channelBindings",
        "operationBindings",
        "messageBindings",
    },
}
_KEY = re.compile(r"^[A-Za-z0-9.\-_]+$")  # component and map keys


def _fields_ok(kind: str, node: dict, where: str) -> None:
    assert isinstance(node, dict), where
    unknown = {k for k in node if not k.startswith("x-")} - _FIELDS[kind]
    assert not unknown, f"{where}: not AsyncAPI 3.0 {kind} fields: {sorted(unknown)}"


def test_the_asyncapi_document_is_asyncapi_3_0_shaped():
    doc = asyncapi()
    _fields_ok("root", doc, "document")
    assert doc["asyncapi"] == "3.0.0"
    _fields_ok("info", doc["info"], "info")
    assert isinstance(doc["info"]["title"], str) and isinstance(doc["info"]["version"], str)
    for name, server in doc["servers"].items():
        _fields_ok("server", server, f"servers/{name}")
        assert server["protocol"] in ("kafka", "kafka-secure") and "://" not in server["host"]
        for variable in re.findall(r"\{(\w+)\}", server["host"]):
            assert variable in server["variables"], f"servers/{name}: {{{variable}}} is not declared"
        for scheme in server.get("security", []):
            assert deref(scheme)["type"] in ("plain", "scramSha256", "scramSha512", "X509", "userPassword")
    _fields_ok("components", doc["components"], "components")
    for name, channel in doc["channels"].items():
        assert _KEY.match(name)
        _fields_ok("channel", channel, f"channels/{name}")
        assert channel["messages"], f"channels/{name} has no message"
        for message_name, message in channel["messages"].items():
            assert _KEY.match(message_name)
            _fields_ok("message", deref(message), f"channels/{name}/messages/{message_name}")
    for name, operation in doc["operations"].items():
        _fields_ok("operation", operation, f"operations/{name}")
        assert operation["action"] in ("send", "receive")
        channel_ref = operation["channel"]["$ref"]
        assert re.fullmatch(r"#/channels/[^/]+", channel_ref)
        for message in operation["messages"]:
            # 3.0: an operation's messages are a subset of its channel's.
            assert message["$ref"].startswith(channel_ref + "/messages/"), (name, message)
            local(message["$ref"])
    for name, trait in doc["components"].get("messageTraits", {}).items():
        assert not {"payload", "traits"} & set(trait), f"messageTraits/{name} may not carry these"


def test_every_topic_has_its_channel_with_its_override_variable_and_key():
    channels = asyncapi()["channels"].values()
    assert sorted(c["address"] for c in channels) == sorted(DEFAULT_TOPICS.values())
    for key, topic in DEFAULT_TOPICS.items():
        channel = channel_for(key)
        assert channel["address"] == topic == channel["bindings"]["kafka"]["topic"]
        for message in channel["messages"].values():
            assert deref(message)["bindings"]["kafka"]["key"]["description"]


def test_lapsewatch_receives_the_inputs_and_sends_the_outputs():
    actions: dict[str, set[str]] = {}
    for operation in asyncapi()["operations"].values():
        address = local(operation["channel"]["$ref"])["address"]
        actions.setdefault(address, set()).add(operation["action"])
    assert actions == {
        **{DEFAULT_TOPICS[k]: {"receive"} for k in INPUTS},
        **{DEFAULT_TOPICS[k]: {"send"} for k in OUTPUTS},
    }
    # Every message a channel declares is used by its operation.
    for operation in asyncapi()["operations"].values():
        channel = local(operation["channel"]["$ref"])
        assert {m["$ref"].rsplit("/", 1)[1] for m in operation["messages"]} == set(channel["messages"])


def test_every_payload_refers_to_a_schema_file_that_resolves():
    for name, message in asyncapi()["components"]["messages"].items():
        ref = payload_ref(message)
        file = SCHEMAS / ref.split("#")[0].rsplit("/", 1)[1]
        assert file.is_file(), f"{name}: {file} does not exist"
        schema = payload_schema(message)
        Draft202012Validator.check_schema(schema)
        assert schema.get("type") == "object" or "oneOf" in schema, name
    for path in SCHEMAS.glob("*.schema.json"):
        Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_the_outputs_are_cloudevents_with_their_type_fixed_by_the_schema():
    for kind, message in messages_by_cloudevents_type().items():
        schema = payload_schema(message)
        assert schema["properties"]["type"] == {"const": kind}
        assert schema["properties"]["specversion"] == {"const": "1.0"}
        assert "#/components/messageTraits/cloudEvent" in [t["$ref"] for t in message["traits"]]
    assert set(messages_by_cloudevents_type()) == {
        "lapsewatch.email.unverified",
        "lapsewatch.domain.status",
        "lapsewatch.provider.circuit",
    }


def test_the_documented_examples_follow_their_schemas():
    examples = 0
    for name, message in asyncapi()["components"]["messages"].items():
        for example in message.get("examples", []):
            assert errors(message, example["payload"]) == [], name
            examples += 1
    assert examples >= 4


# --- the builders of every published value declare exactly what the schemas do -------------------------------


def _properties(schema: dict) -> tuple[set[str], set[str]]:
    assert set(schema["required"]) <= set(schema["properties"])
    return set(schema["properties"]), set(schema["required"])


def _matches(message: dict, value: dict) -> None:
    assert errors(message, value) == []
    schema = payload_schema(message)
    declared, required = _properties(schema)
    assert set(value) - declared == set(), "undeclared fields"
    assert required - set(value) == set(), "required fields missing"
    if "data" in value:
        data_declared, data_required = _properties(schema["properties"]["data"])
        assert set(value["data"]) - data_declared == set(), "undeclared data fields"
        assert data_required - set(value["data"]) == set(), "required data fields missing"


def _state(**extra) -> DomainState:
    member = {"email": "Ann@Mail.Shop.Example", "verified": True, "verified_at": "2024-05-01T12:00:00Z"}
    return DomainState(
        "shop.example",
        status="lapsed",
        flags=["pending delete"],
        provider="rdap",
        detail="pending delete",
        first_seen_at=1.7e9,
        last_success_at=1.8e9,
        lapse_seen_at=1.79e9,
        confirmed_at=1.8e9,
        registered_at=1.6e9,
        expires_at=1.75e9,
        members={"42": {"ann@mail.shop.example": member}},
        **extra,
    )


@pytest.mark.parametrize("sparse", [False, True], ids=["full evidence", "no evidence"])
def test_the_published_values_have_exactly_the_declared_fields(sparse):
    by_type = messages_by_cloudevents_type()
    state = _state()
    if sparse:
        state.registered_at = state.expires_at = state.detail = None
    member = state.members["42"]["ann@mail.shop.example"]
    built = [outbound.email_unverified(state, "42", "ann@mail.shop.example", member, 1.8e9)]
    if not sparse:
        built.append(outbound.email_reregistered(state, "42", "ann@mail.shop.example", member, 1.8e9))
    for out in built:
        assert out.key == out.value["subject"] == out.value["data"]["account_id"]
        _matches(by_type["lapsewatch.email.unverified"], out.value)
    for transition in (
        "first_seen",
        "active",
        "inconclusive",
        "lapse_suspected",
        "lapsed",
        "recovered",
        "reregistered",
        "removed",
    ):
        for previous in (None, *STATUSES):
            out = outbound.domain_status(state, transition, previous, 1.8e9)
            assert out.key == out.value["subject"] == "shop.example"
            _matches(by_type["lapsewatch.domain.status"], out.value)
    for state_name, reason, retry_at in (
        ("open", "HTTP 503", 1.8e9 + 60),
        ("half_open", None, None),
        ("closed", None, None),
    ):
        out = outbound.circuit_status("rdap", "rdap rdap.example", state_name, 3, reason, retry_at, 1.8e9)
        assert out.key == out.value["subject"]
        _matches(by_type["lapsewatch.provider.circuit"], out.value)
    dead_letter = deref(channel_for("DEAD_LETTER")["messages"]["deadLetter"])
    for key, value in ((b"42", b"{}"), (None, None), (b"k", b"x" * (70 * 1024))):
        record = dead_letter_record(
            reason="invalid_event",
            error="type: missing",
            topic="accounts.email-events",
            partition=0,
            offset=7,
            timestamp_ms=None if sparse else 1_795_372_763_148,
            key=key,
            value=value,
        )
        _matches(dead_letter, record)


def test_a_value_off_the_contract_is_refused():
    """The checks above can fail: an extra field, a missing one, a wrong constant."""
    message = messages_by_cloudevents_type()["lapsewatch.email.unverified"]
    state = _state()
    good = outbound.email_unverified(
        state, "42", "ann@mail.shop.example", state.members["42"]["ann@mail.shop.example"], 1.8e9
    ).value
    with pytest.raises(AssertionError, match="undeclared data fields"):
        _matches(message, {**good, "data": {**good["data"], "secret_field": 1}})
    assert errors(message, {**good, "source": "elsewhere"})
    assert errors(message, {**good, "time": "yesterday"})
    assert errors(message, {**good, "data": {k: v for k, v in good["data"].items() if k != "expires_at"}})


# --- every event a real worker publishes ------------------------------------------------------------------------


async def test_every_event_the_pipeline_publishes_follows_the_contract(start_pipeline, rdap):
    pipeline = await start_pipeline(
        rdap_settings(
            rdap,
            LAPSEWATCH_CONFIRM_AFTER="1s",
            LAPSEWATCH_BREAKER_FAILURES="2",
            LAPSEWATCH_BREAKER_COOLDOWN="1s",
            LAPSEWATCH_BREAKER_MAX_COOLDOWN="1s",
        )
    )
    topics, log = pipeline.topics, pipeline.worker.log_tail
    expired, resold, unsure, outage = (unique_domain(label) for label in ("expired", "resold", "unsure", "outage"))
    rdap.set(
        expired,
        {"json": docs.domain_object(expired, ["pending delete"], "2016-02-01T00:00:00Z", "2026-09-01T00:00:00Z")},
    )
    rdap.set(resold, {"json": docs.domain_object(resold, ["active"], "2026-06-01T00:00:00Z", "2027-06-01T00:00:00Z")})
    rdap.set(unsure, {"json": docs.domain_object(unsure, ["frozen by court order"], None, None)})  # unknown alone
    ann, bob, cy = unique("ann"), unique("bob"), unique("cy")
    await pipeline.email(
        email_event("email_added", ann, f"Ann@Mail.{expired}", verified=True, verified_at="2020-01-01T00:00:00Z")
    )
    await pipeline.email(
        email_event("email_added", bob, f"bob@{resold}", verified=True, verified_at="2024-03-01T00:00:00Z")
    )
    await pipeline.email(email_event("email_added", cy, f"cy@{unsure}", verified=True))
    # Dead letters: not JSON, off the schema, the wrong key, a bad address, a bad time, a bad snapshot entry.
    junk = unique("junk")
    for key, value in (
        (junk, b"{"),
        (junk, orjson.dumps({"event_id": 1})),
        ("other", email_event("email_added", junk, "a@b.com")),
        (junk, email_event("email_added", junk, "nobody")),
        (junk, email_event("email_added", junk, "a@b.com", occurred_at="last tuesday")),
    ):
        await pipeline.bus.send(topics["email_events"], key, value)
    await pipeline.login({"event_id": unique("login"), "account_id": junk, "emails": [{"email": "@@"}]})

    def reasons(account: str) -> list[str]:
        return sorted(e["data"]["reason"] for e in pipeline.unverified(account=account))

    await wait_for(lambda: reasons(ann) == ["domain_expired"], T, "ann's domain_expired event", log)
    await wait_for(lambda: reasons(bob) == ["domain_reregistered"], T, "bob's domain_reregistered event", log)
    await wait_for(lambda: "inconclusive" in pipeline.transitions(unsure), T, "the inconclusive verdict", log)
    await wait_for(lambda: len(pipeline.dead_letters()) >= 6, T, "six dead letters", log)
    for who, address in ((bob, f"bob@{resold}"), (cy, f"cy@{unsure}")):
        await pipeline.email(email_event("email_removed", who, address))
    await wait_for(lambda: "removed" in pipeline.transitions(unsure), T, "the inconclusive domain to go", log)

    # A provider outage: its server's circuit opens, half-opens for a probe and closes.
    rdap.set(
        outage,
        [
            {"status": 503},
            {"status": 503},
            {"status": 503},
            {"json": docs.domain_object(outage, ["active"], "2015-01-01T00:00:00Z", "2030-01-01T00:00:00Z")},
        ],
    )
    await pipeline.email(email_event("email_added", unique("dee"), f"dee@{outage}", verified=True))

    def circuit_states() -> list[str]:
        return [
            v["data"]["state"]
            for v in pipeline.bus.values(topics["domain_status"])
            if v["type"] == "lapsewatch.provider.circuit"
        ]

    await wait_for(lambda: "closed" in circuit_states(), T, "the circuit to open and close again", log)
    await wait_for(lambda: "active" in pipeline.transitions(outage), T, "the outage domain's verdict", log)
    assert circuit_states()[:2] == ["open", "half_open"]
    assert pipeline.transitions(expired) == ["first_seen", "lapse_suspected", "lapsed"]
    assert {"first_seen", "reregistered", "active", "removed"} <= set(pipeline.transitions(resold))

    # Every record on every output topic of this worker, against the document's schemas.
    by_type = messages_by_cloudevents_type()
    dead_letter = deref(channel_for("DEAD_LETTER")["messages"]["deadLetter"])
    seen: dict[str, int] = {}
    for topic_key, topic in (
        ("EMAIL_UNVERIFIED", topics["email_unverified"]),
        ("DOMAIN_STATUS", topics["domain_status"]),
        ("DEAD_LETTER", topics["dead_letter"]),
    ):
        for record in pipeline.bus.records[topic]:
            assert not record.headers, "the AsyncAPI document says no headers are set"
            value = orjson.loads(record.value)
            if topic_key == "DEAD_LETTER":
                message, label = dead_letter, f"dead-letter {value['reason']}"
                key_b64 = None if record.key is None else base64.b64encode(record.key).decode()
                assert value["key_b64"] == key_b64
            else:
                message, label = by_type[value["type"]], value["type"]
                assert record.key.decode() == value["subject"]
                # The message of its type belongs to this topic's channel.
                assert any(deref(m) is message for m in channel_for(topic_key)["messages"].values()), label
            assert errors(message, value) == [], (label, value)
            seen[label] = seen.get(label, 0) + 1
    assert {"lapsewatch.email.unverified", "lapsewatch.domain.status", "lapsewatch.provider.circuit"} <= set(seen)
    assert {
        f"dead-letter {r}"
        for r in ("invalid_json", "invalid_event", "key_mismatch", "invalid_address", "invalid_timestamp")
    } <= set(seen), seen

    # A subscriber reads email-unverified with the CloudEvents SDK (Kafka binding, structured mode).
    for record in pipeline.bus.records[topics["email_unverified"]]:
        event = from_structured(
            KafkaMessage(headers=dict(record.headers or ()), key=record.key, value=record.value), JSONFormat()
        )
        data = event.get_data()
        assert event.get_specversion() == "1.0" and event.get_source() == "lapsewatch"
        assert event.get_type() == "lapsewatch.email.unverified"
        assert event.get_datacontenttype() == "application/json"
        assert event.get_subject() == data["account_id"] == event.get_extension("partitionkey")
        assert event.get_time() is not None and event.get_time().utcoffset().total_seconds() == 0
        assert re.fullmatch(r"[0-9a-f-]{36}", event.get_id())
        assert data["reason"] in ("domain_expired", "domain_reregistered")
        if data["account_id"] == ann:
            assert (data["email"], data["domain"]) == (f"Ann@Mail.{expired}", expired)
            assert data["registered_at"] == "2016-02-01T00:00:00Z" and data["domain_status"] == ["pending delete"]
        else:
            assert data["account_id"] == bob and data["registered_at"] == "2026-06-01T00:00:00Z"
