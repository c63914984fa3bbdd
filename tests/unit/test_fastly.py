"""Fastly: status flags → verdict, the body parser, and the HTTP client against the loopback simulator."""

from __future__ import annotations

import socket
import traceback

import orjson
import pytest

from streams.providers.base import ProviderError, Verdict
from streams.providers.fastly import FastlyProvider, parse_status_body
from streams.providers.fastly_policy import LAPSED, REGISTERED, UNREGISTRABLE, classify_fastly
from streams.providers.fastly_simulator import serve
from streams.providers.scenario import Scenario

KEY = "sk-unit-fastly-5e4d3c2b1a-NEVER-LOG-ME"
HANG = 0.6  # how long the simulator's "timeout" answer hangs: past the client's timeout, no longer


# --- classify_fastly --------------------------------------------------------------------------


@pytest.mark.parametrize("flag", sorted(LAPSED))
def test_each_lapsed_flag_is_a_lapse(flag):
    verdict = classify_fastly(flag)
    assert (verdict.verdict, verdict.flags) == ("lapsed", (flag,))
    assert verdict.detail == f"{flag}: {LAPSED[flag]}"
    assert verdict.grace is (flag == "expiring")


@pytest.mark.parametrize("flag", sorted(LAPSED))
def test_unknown_beats_every_lapsed_flag(flag):
    for status in (f"unknown {flag}", f"{flag} unknown", f"{flag} undelegated unknown"):
        verdict = classify_fastly(status)
        assert verdict.verdict == "inconclusive", status
        assert verdict.detail.startswith("unknown:")
        assert verdict.flags == tuple(status.split())


@pytest.mark.parametrize("flag", sorted(REGISTERED))
def test_each_registered_flag_is_active(flag):
    verdict = classify_fastly(flag)
    assert (verdict.verdict, verdict.detail) == ("active", f"{flag}: {REGISTERED[flag]}")


@pytest.mark.parametrize(
    ("status", "verdict", "detail"),
    [
        ("inactive undelegated", "lapsed", "inactive: available for registration"),
        ("undelegated inactive", "lapsed", "inactive: available for registration"),
        ("deleting inactive", "lapsed", "deleting: expired and pending deletion; inactive: available for registration"),
        ("active inactive", "lapsed", "inactive: available for registration"),
        ("marketed active", "active", "active: registered; marketed: registered and offered for sale"),
        ("active undelegated", "active", "active: registered"),
        ("premium active", "active", "active: registered"),
        ("unknown active", "inconclusive", "unknown: the registry did not answer Fastly in time"),
        ("undelegated", "inconclusive", "undelegated: not in DNS, which registered names may also be"),
        ("reserved", "inconclusive", "reserved: reserved by the registry"),
        ("inactive brandnew", "inconclusive", "undocumented Fastly flags: brandnew"),
        ("zzz active aaa", "inconclusive", "undocumented Fastly flags: aaa zzz"),
        ("", "inconclusive", "an empty status"),
        ("  active\t parked ", "active", "active: registered; parked: registered and parked"),
    ],
)
def test_mixed_flags(status, verdict, detail):
    result = classify_fastly(status)
    assert (result.verdict, result.detail) == (verdict, detail)


@pytest.mark.parametrize("flag", sorted(UNREGISTRABLE))
def test_unregistrable_names_are_never_a_lapse(flag):
    assert classify_fastly(flag).verdict == "inconclusive"
    assert classify_fastly(f"{flag} inactive").verdict == "lapsed"  # the lapse flag still speaks


def test_expiring_marks_the_grace_period_even_beside_other_lapse_flags():
    assert classify_fastly("deleting expiring").grace is True
    assert classify_fastly("deleting inactive").grace is False


# --- parse_status_body ------------------------------------------------------------------------


def body(**document) -> bytes:
    return orjson.dumps(document)


def test_a_status_body_is_classified():
    assert parse_status_body(body(domain="shop.com", zone="com", status="inactive"), "shop.com") == Verdict(
        "lapsed", ("inactive",), "inactive: available for registration"
    )


@pytest.mark.parametrize("answered", ["Shop.COM", "shop.com.", None])
def test_the_answered_domain_may_differ_in_case_and_trailing_dot_or_be_absent(answered):
    document = {"status": "active"} if answered is None else {"domain": answered, "status": "active"}
    assert parse_status_body(orjson.dumps(document), "shop.com").verdict == "active"


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"<html>upstream error", "is not JSON"),
        (b"", "is not JSON"),
        (b'["active"]', "has no status string"),
        (body(domain="shop.com"), "has no status string"),
        (body(domain="shop.com", status=None), "has no status string"),
        (body(domain="shop.com", status=["active"]), "has no status string"),
        (body(domain="shop.com", status=""), "has an empty status"),
        (body(domain="shop.com", status="   "), "has an empty status"),
        (body(domain="other.com", status="inactive"), "answered about 'other.com' when asked about shop.com"),
    ],
)
def test_unusable_bodies_are_provider_errors(raw, words):
    with pytest.raises(ProviderError) as caught:
        parse_status_body(raw, "shop.com")
    assert words in str(caught.value)
    assert "shop.com" in str(caught.value)


# --- FastlyProvider against the loopback simulator --------------------------------------------


@pytest.fixture(scope="module")
async def simulator():
    scenario = Scenario(default="active")
    runner = await serve(scenario, "127.0.0.1", 0, api_key=KEY, hang_seconds=HANG)
    port = runner.addresses[0][1]
    yield scenario, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def check(url: str, domain: str, *, key: str = KEY, timeout: float = 5.0) -> Verdict:
    provider = FastlyProvider(url, key, timeout)
    try:
        return await provider.check(domain)
    finally:
        await provider.aclose()


async def provider_error(url: str, domain: str, **kwargs) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await check(url, domain, **kwargs)
    error = caught.value
    shown = "".join(traceback.format_exception(error))
    for secret in (KEY, kwargs.get("key", KEY)):
        assert secret not in str(error) and secret not in repr(error) and secret not in shown
    return error


async def test_a_status_is_fetched_with_the_key(simulator):
    scenario, url = simulator
    scenario.set("lapsed-shop.com", "inactive undelegated")
    verdict = await check(url, "lapsed-shop.com")
    assert (verdict.verdict, verdict.flags) == ("lapsed", ("inactive", "undelegated"))
    assert scenario.calls["lapsed-shop.com"] == 1


async def test_a_wrong_key_is_a_provider_error_without_either_key(simulator):
    _scenario, url = simulator
    error = await provider_error(url, "wrong-key.com", key="sk-wrong-0000-ALSO-SECRET")
    assert str(error) == "fastly answered HTTP 401 for wrong-key.com"


@pytest.mark.parametrize(("code", "retry_after"), [(500, None), (503, 1.0), (429, 1.0), (404, None)])
async def test_http_errors_are_provider_errors(simulator, code, retry_after):
    scenario, url = simulator
    domain = f"http-{code}.com"
    scenario.set(domain, f"http:{code}")
    error = await provider_error(url, domain)
    assert str(error) == f"fastly answered HTTP {code} for {domain}"
    assert error.retry_after == retry_after


async def test_a_timeout_is_a_provider_error(simulator):
    scenario, url = simulator
    scenario.set("hangs.com", "timeout")
    error = await provider_error(url, "hangs.com", timeout=0.15)
    assert str(error) == "fastly timed out for hangs.com"
    assert error.retry_after is None


async def test_a_non_json_answer_is_a_provider_error(simulator):
    scenario, url = simulator
    scenario.set("garbage.com", "garbage")
    assert str(await provider_error(url, "garbage.com")) == "fastly answer for garbage.com is not JSON"


async def test_answers_play_in_order(simulator):
    scenario, url = simulator
    scenario.set("flaky.net", ["http:500", "unknown", "active"])
    with pytest.raises(ProviderError):
        await check(url, "flaky.net")
    assert (await check(url, "flaky.net")).verdict == "inconclusive"
    assert (await check(url, "flaky.net")).verdict == "active"


async def test_a_refused_connection_is_a_provider_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        error = await provider_error(f"http://127.0.0.1:{port}", "nobody-home.com")
    assert str(error) == "fastly request for nobody-home.com failed: ConnectError"


@pytest.mark.parametrize("domain", ["evil.com/../admin", "evil.com?x=1", "Shop.com", "localhost", "bücher.de"])
async def test_an_unsafe_name_is_refused_before_any_request(simulator, domain):
    scenario, url = simulator
    with pytest.raises(ProviderError, match="refusing to query"):
        await check(url, domain)
    assert scenario.calls[domain] == 0
