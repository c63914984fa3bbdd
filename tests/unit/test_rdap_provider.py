"""RdapProvider against a real HTTPS RDAP server on loopback: answers in the
shapes RFC 9083 and real registries give, and every way a server can fail."""

from __future__ import annotations

import time
import uuid

import pytest

from streams.providers.base import ProviderError
from streams.providers.bootstrap import BootstrapSource
from streams.providers.gate import Gate
from streams.providers.rdap import RdapProvider
from tests import rdap_documents as docs
from tests.tls import certificate_authority


@pytest.fixture
def server(rdap):
    return rdap


@pytest.fixture
async def provider(server, tmp_path):
    source = BootstrapSource(None, tmp_path, {"test": server.base_url("registry")})
    provider = RdapProvider(
        source, timeout=0.5, verify=certificate_authority().client_ssl_context(), gate=Gate(1000, 1000)
    )
    yield provider
    await provider.aclose()


def name(label: str = "shop") -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}.test"


async def test_a_thick_active_answer_is_active_with_its_dates(server, provider):
    domain = name()
    server.set(
        domain,
        {
            "json": docs.domain_object(
                domain, ["active", "client transfer prohibited"], "2015-04-01T00:00:00Z", "2030-04-01T00:00:00Z"
            )
        },
    )
    verdict = await provider.check(domain)
    assert verdict.verdict == "active"
    assert verdict.flags == ("active", "client transfer prohibited")
    assert time.gmtime(verdict.registered_at)[:3] == (2015, 4, 1)
    assert time.gmtime(verdict.expires_at)[:3] == (2030, 4, 1)
    assert verdict.nameservers == ("ns1.example.net", "ns2.example.net")
    _method, path, _query, headers = server.requests[-1]
    assert path == f"/registry/domain/{domain}" and "application/rdap+json" in headers.get("Accept", "")
    assert headers.get("Accept-Encoding") == "identity"  # no compressed body can expand past the cap


async def test_not_found_at_the_registry_is_a_lapse(server, provider):
    verdict = await provider.check(name("gone"))
    assert (verdict.verdict, verdict.flags) == ("lapsed", ("not found",))


@pytest.mark.parametrize(
    "statuses, expires, expected",
    [
        (["redemption period"], "2026-01-01T00:00:00Z", "lapsed"),
        (["pendingDelete"], "2026-01-01T00:00:00Z", "lapsed"),
        (["clientHold"], "2020-01-01T00:00:00Z", "lapsed"),
        (["serverHold"], "2040-01-01T00:00:00Z", "active"),
        (["active"], "2020-01-01T00:00:00Z", "lapsed"),
        (["active", "some new status"], "2040-01-01T00:00:00Z", "inconclusive"),
    ],
)
async def test_registry_statuses_decide(server, provider, statuses, expires, expected):
    domain = name()
    server.set(domain, {"json": docs.domain_object(domain, statuses, "2015-04-01T00:00:00Z", expires)})
    assert (await provider.check(domain)).verdict == expected


def thin(server, registrar_answer: dict, registered: str | None = None) -> str:
    """A thin registry's answer (statuses, maybe a registration date, a link to the registrar) and the registrar's."""
    domain = name("thin")
    registrar = server.base_url("registrar") + f"domain/{domain}"
    server.set(
        domain, {"json": docs.domain_object(domain, ["active"], registered, None, related=registrar)}, prefix="registry"
    )
    server.set(domain, registrar_answer(domain) if callable(registrar_answer) else registrar_answer, prefix="registrar")
    return domain


def registrar_says(statuses: list[str], registered: str, expires: str):
    return lambda domain: {"json": docs.domain_object(domain, statuses, registered, expires)}


async def test_a_thin_registry_answer_borrows_the_registrars_dates(server, provider):
    domain = thin(server, registrar_says(["client hold"], "2026-06-01T00:00:00Z", "2027-06-01T00:00:00Z"))
    verdict = await provider.check(domain)
    assert verdict.verdict == "active" and verdict.flags == ("active",)  # the registry's statuses decide
    assert time.gmtime(verdict.expires_at)[:3] == (2027, 6, 1)  # schedules the next check
    # The registrar's registration date is evidence, never a re-registration signal.
    assert verdict.registered_at is None and "registered 2026-06-01T00:00:00Z" in verdict.detail
    assert any(path.startswith("/registrar/") for _, path, _, _ in server.requests)


async def test_a_registrars_past_expiry_alone_is_no_lapse(server, provider):
    """Registrars keep their own billing dates; only the registry's expiry can make a lapse."""
    domain = thin(server, registrar_says(["active"], "2010-06-01T00:00:00Z", "2020-06-01T00:00:00Z"))
    verdict = await provider.check(domain)
    assert verdict.verdict == "active" and "expires 2020-06-01T00:00:00Z" in verdict.detail


@pytest.mark.parametrize(
    "garbage",
    [
        {"objectClassName": "domain", "events": {"eventAction": "expiration"}, "status": 7, "nameservers": "x"},
        {
            "objectClassName": "domain",
            "events": [{"eventAction": 3, "eventDate": "2020-01-01T00:00:00Z"}],
            "links": "https://elsewhere",
        },
        {
            "objectClassName": "domain",
            "events": [
                {"eventAction": "expiration", "eventDate": "10000-01-01T00:00:00Z"},
                {"eventAction": "registration", "eventDate": ["2020"]},
            ],
        },
    ],
)
async def test_whatever_the_registrar_sends_the_registry_answer_stands(server, provider, garbage):
    domain = thin(server, lambda domain: {"json": {**garbage, "ldhName": domain}}, registered="2015-04-01T00:00:00Z")
    verdict = await provider.check(domain)
    assert verdict.verdict == "active" and time.gmtime(verdict.registered_at)[:3] == (2015, 4, 1)


async def test_a_failing_registrar_costs_only_the_dates(server, provider):
    verdict = await provider.check(thin(server, {"status": 500}))
    assert verdict.verdict == "active" and verdict.registered_at is None


async def test_https_redirects_are_followed(server, provider):
    domain = name("moved")
    server.set(
        domain, {"redirect": server.base_url("elsewhere") + f"domain/{domain}", "status": 301}, prefix="registry"
    )
    server.set(
        domain,
        {"json": docs.domain_object(domain, ["pending delete"], "2015-01-01T00:00:00Z", "2026-01-01T00:00:00Z")},
        prefix="elsewhere",
    )
    assert (await provider.check(domain)).verdict == "lapsed"


async def test_a_redirect_to_plain_http_is_refused(server, provider):
    domain = name("downgrade")
    server.set(domain, {"redirect": f"http://127.0.0.1:9/domain/{domain}", "status": 302})
    with pytest.raises(ProviderError, match="non-https"):
        await provider.check(domain)


async def test_a_redirect_loop_ends(server, provider):
    domain = name("loop")
    server.set(domain, {"redirect": server.base_url("registry") + f"domain/{domain}", "status": 307})
    with pytest.raises(ProviderError, match="redirected"):
        await provider.check(domain)


async def test_rate_limited_answers_carry_retry_after(server, provider):
    domain = name("busy")
    server.set(domain, {"status": 429, "retry_after": "7"})
    with pytest.raises(ProviderError) as raised:
        await provider.check(domain)
    assert raised.value.retry_after == 7.0
    server.set(domain, {"status": 503, "retry_after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    with pytest.raises(ProviderError) as raised:
        await provider.check(domain)
    assert raised.value.retry_after == 0.0  # a date in the past: retry when the backoff says


@pytest.mark.parametrize(
    "answer, message",
    [
        ({"status": 500}, "HTTP 500"),
        ({"hang": 3}, "timed out"),
        ({"raw": "<html>maintenance</html>", "content_type": "text/html"}, "not JSON"),
        ({"huge": 2 * 1024 * 1024}, "larger than"),
    ],
)
async def test_failures_are_errors_never_verdicts(server, provider, answer, message):
    domain = name("broken")
    server.set(domain, answer)
    with pytest.raises(ProviderError, match=message):
        await provider.check(domain)


@pytest.mark.parametrize(
    "answer, server_wide",
    [
        ({"status": 429, "retry_after": "7"}, True),
        ({"status": 503}, True),
        ({"status": 500}, False),
        ({"status": 502}, False),
        ({"hang": 3}, False),
        ({"raw": "garbage"}, False),
    ],
)
async def test_only_the_servers_own_answers_about_itself_are_server_wide(server, provider, answer, server_wide):
    """429 and 503 speak of the server; a 500, a timeout or a bad body may be one name's trouble."""
    domain = name("scope")
    server.set(domain, answer)
    with pytest.raises(ProviderError) as raised:
        await provider.check(domain)
    assert raised.value.server_wide is server_wide


async def test_a_server_that_refuses_connections_fails_server_wide(tmp_path):
    from streams.kafka.broker import free_port

    source = BootstrapSource(None, tmp_path, {"test": f"https://127.0.0.1:{free_port()}/registry/"})
    provider = RdapProvider(source, timeout=0.5, verify=certificate_authority().client_ssl_context())
    try:
        with pytest.raises(ProviderError) as raised:
            await provider.check(name("down"))
        assert raised.value.server_wide is True
    finally:
        await provider.aclose()


async def test_a_truncated_body_is_an_error(server, provider):
    domain = name("cut")
    server.set(domain, {"truncated": docs.domain_object(domain, ["active"], "2015-01-01T00:00:00Z", None)})
    with pytest.raises(ProviderError, match="not JSON"):
        await provider.check(domain)


async def test_an_answer_about_another_domain_is_refused(server, provider):
    domain = name()
    server.set(domain, {"json": docs.domain_object("someone-else.test", ["active"], None, None)})
    with pytest.raises(ProviderError, match=r"someone-else\.test"):
        await provider.check(domain)


async def test_a_tld_without_rdap_is_inconclusive_without_a_request(server, provider):
    before = len(server.requests)
    verdict = await provider.check("shop.no-rdap-here")
    assert verdict.verdict == "inconclusive" and "no RDAP service" in verdict.detail
    assert len(server.requests) == before


@pytest.mark.parametrize(
    "crafted",
    [
        "evil.test/../../admin",
        "evil.test?x=1",
        "evil.test#frag",
        "user@evil.test",
        "evil.test%2f..",
        "evil .test",
        "evil.test\r\nHost: x",
        "EVIL.test",
        "-evil.test",
        "evil..test",
        "a" * 64 + ".test",
        "évil.test",
        "evil.test:8080",
        "127.0.0.1/x",
        "evil.test\n",
        "evil\n.test",
    ],
)
async def test_a_crafted_name_never_reaches_the_server(server, provider, crafted):
    before = len(server.requests)
    with pytest.raises(ProviderError, match="refusing"):
        await provider.check(crafted)
    assert len(server.requests) == before


async def test_the_bootstrap_refreshes_from_the_network_and_keeps_the_newest(server, tmp_path):
    source = BootstrapSource(server.bootstrap_url, tmp_path)
    provider = RdapProvider(source, timeout=0.5, verify=certificate_authority().client_ssl_context())
    try:
        server.serve_bootstrap(
            {
                "version": "1.0",
                "publication": time.strftime("%Y-%m-%dT00:00:00Z"),
                "services": [[["test"], [server.base_url("refreshed")]]],
            }
        )
        assert await provider.refresh_bootstrap()
        assert provider.route("x.test") == server.base_url("refreshed").split("/")[2]
        assert BootstrapSource(None, tmp_path).base_for("x.test") == server.base_url("refreshed")  # cached
        server.serve_bootstrap(None)  # IANA unreachable: keep what we have
        assert not await provider.refresh_bootstrap()
        assert source.base_for("x.test") == server.base_url("refreshed")
        server.serve_bootstrap(
            {
                "version": "1.0",
                "publication": "2001-01-01T00:00:00Z",
                "services": [[["test"], [server.base_url("stale")]]],
            }
        )
        await provider.refresh_bootstrap()
        assert source.base_for("x.test") == server.base_url("refreshed")  # an older file never replaces
        server.serve_bootstrap(
            {
                "version": "1.0",
                "publication": "2999-01-01T00:00:00Z",
                "services": [[["test"], [server.base_url("future")]]],
            }
        )
        assert not await provider.refresh_bootstrap()  # it would outrank every later file for ever
        assert source.base_for("x.test") == server.base_url("refreshed")
    finally:
        await provider.aclose()


async def test_a_bootstrap_that_cannot_be_cached_is_still_used(server, tmp_path):
    blocked = tmp_path / "data"
    blocked.write_text("a file where the data directory should be")
    source = BootstrapSource(server.bootstrap_url, blocked)
    provider = RdapProvider(source, timeout=0.5, verify=certificate_authority().client_ssl_context())
    try:
        server.serve_bootstrap(
            {
                "version": "1.0",
                "publication": time.strftime("%Y-%m-%dT00:00:00Z"),
                "services": [[["test"], "https://not-a-list.example/"], [["test"], [server.base_url("refreshed")]]],
            }
        )
        assert await provider.refresh_bootstrap()
        assert source.base_for("x.test") == server.base_url("refreshed")
    finally:
        await provider.aclose()


async def test_an_unknown_status_is_logged_once_however_often_it_is_seen(server, provider, caplog):
    status = f"frozen {uuid.uuid4().hex[:6]}"
    for _ in range(3):
        domain = name()
        server.set(domain, {"json": docs.domain_object(domain, ["active", status], None, None)})
        assert (await provider.check(domain)).verdict == "inconclusive"
    warnings = [r for r in caplog.records if status in r.getMessage()]
    assert len(warnings) == 1 and "inconclusive" in warnings[0].getMessage()


@pytest.mark.parametrize(
    "example, expected, grace",
    [
        ("THICK_ACTIVE", "active", False),
        ("REDEMPTION_PERIOD", "lapsed", True),
        ("PENDING_DELETE", "lapsed", True),
        ("CLIENT_HOLD_AFTER_EXPIRY", "lapsed", True),
        ("SERVER_HOLD_NOT_EXPIRED", "active", False),
        ("AUTO_RENEW_GRACE", "active", True),
        ("REREGISTERED", "active", False),
    ],
)
async def test_registry_shaped_answers(server, tmp_path, example, expected, grace):
    document = docs.as_name(getattr(docs, example), name(example.lower().replace("_", "-")))
    domain = document["ldhName"]
    server.set(domain, {"json": document})
    source = BootstrapSource(None, tmp_path, {"test": server.base_url("registry")})
    provider = RdapProvider(source, timeout=0.5, verify=certificate_authority().client_ssl_context())
    try:
        verdict = await provider.check(domain)
    finally:
        await provider.aclose()
    assert (verdict.verdict, verdict.grace) == (expected, grace)
    assert verdict.registered_at is not None


async def test_an_error_object_sent_with_200_is_read_as_its_error_code(server, provider):
    """Some servers send RFC 9083's error object with HTTP 200: it is no domain object, and never "registered"."""
    domain = name("errbody")
    server.set(domain, {"json": docs.error_object(404, "Not Found", "The domain was not found"), "status": 200})
    verdict = await provider.check(domain)
    assert (verdict.verdict, verdict.flags) == ("lapsed", ("not found",))
    server.set(domain, {"json": docs.error_object(500, "Internal Error", "try later"), "status": 200})
    with pytest.raises(ProviderError, match="error 500"):
        await provider.check(domain)


async def test_a_domain_object_with_no_status_is_registered(server, provider):
    domain = name("nostatus")
    document = docs.domain_object(domain, [], "2017-01-24T12:09:23Z", None)
    document.pop("status", None)
    server.set(domain, {"json": document})
    verdict = await provider.check(domain)
    assert verdict.verdict == "active" and "publishes no status" in verdict.detail
