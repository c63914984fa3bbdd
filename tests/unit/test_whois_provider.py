"""WhoisProvider against a real WHOIS server on loopback (tests/whois_server.py): every
registry's answers over TCP, the query hygiene, the byte cap, the deadline, the
decoding, referrals, and every way a server can fail."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from streams.kafka.broker import free_port
from streams.providers.base import ProviderError
from streams.providers.gate import Gate
from streams.providers.whois import MAX_ANSWER, WhoisProvider
from tests import whois_answers as answers
from tests.whois_server import WhoisServer

TLDS = (
    "de",
    "it",
    "eu",
    "be",
    "ch",
    "li",
    "jp",
    "cn",
    "ru",
    "io",
    "me",
    "co",
    "us",
    "com",
    "se",
    "nu",
    "at",
    "dk",
    "nz",
    "tw",
    "kr",
    "tr",
    "fi",
    "ir",
    "pl",
    "uk",
    "test",
)
NOW = time.time()


@pytest.fixture(scope="module")
def whois():
    server = WhoisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def registrar():
    """A second server on another loopback address: where referrals lead (they name a host, not a port)."""
    server = WhoisServer("127.0.0.2").start()
    yield server
    server.stop()


def table(server: WhoisServer) -> dict[str, str]:
    return {tld: server.server for tld in TLDS}


@pytest.fixture
async def provider(whois):
    provider = WhoisProvider(table(whois), timeout=1.0, gate=Gate(1000, 1000))
    yield provider
    await provider.aclose()


def name(label: str = "shop", tld: str = "test") -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}.{tld}"


@pytest.mark.parametrize("case", answers.cases(NOW), ids=str)
async def test_every_registry_answer_over_the_wire(whois, provider, case):
    """The catalogue's answers, byte for byte over TCP: the same verdicts as the policy gives them."""
    whois.set(case.domain, {"bytes": case.raw})
    if case.verdict == "refused":
        with pytest.raises(ProviderError) as raised:
            await provider.check(case.domain)
        assert raised.value.server_wide is True
        return
    verdict = await provider.check(case.domain)
    assert verdict.verdict == case.verdict, verdict.detail
    if case.flags is not None:
        assert verdict.flags == case.flags
    assert verdict.grace is case.grace


@pytest.mark.parametrize(
    "domain, line",
    [
        ("baeckerei-lindner.de", b"-T dn,ace baeckerei-lindner.de\r\n"),
        ("sakura-pan.jp", b"sakura-pan.jp/e\r\n"),
        ("harbour-books.com", b"domain harbour-books.com\r\n"),
        ("pasticceria-ferri.it", b"pasticceria-ferri.it\r\n"),
    ],
)
async def test_the_server_gets_one_line_in_its_registrys_form(whois, provider, domain, line):
    whois.set(domain, {"bytes": b"% nothing to say\r\n"})
    before = len(whois.queries_for(domain))
    assert (await provider.check(domain)).verdict == "inconclusive"
    queries = whois.queries_for(domain)[before:]
    assert [query.line for query in queries] == [line]


@pytest.mark.parametrize(
    "crafted",
    [
        "shop.test\r\nsecond.test",
        "shop.test\n",
        "shop.test\r",
        "shop .test",
        " shop.test",
        "shop.test ",
        "shop\t.test",
        "shop\x00.test",
        "shop\x1b.test",
        "shop\x7f.test",
        "SHOP.test",
        "shop..test",
        "-shop.test",
        "shop.test/e",
        "-T dn shop.de",
        "shöp.test",
        "a" * 64 + ".test",
        "shop_1.test",
        "shop.test:43",
        "",
    ],
)
async def test_a_crafted_name_is_refused_before_any_socket_opens(whois, provider, crafted):
    connections, queries = whois.connections, len(whois.queries)
    with pytest.raises(ProviderError, match="refusing"):
        await provider.check(crafted)
    assert (whois.connections, len(whois.queries)) == (connections, queries)


async def test_a_huge_answer_is_cut_at_the_cap(whois, provider):
    domain = name("huge")
    whois.set(domain, {"huge": 8 * MAX_ANSWER})
    with pytest.raises(ProviderError, match="larger than") as raised:
        await provider.check(domain)
    assert raised.value.server_wide is False  # one name's answer


async def test_an_answer_at_the_cap_is_read(whois, provider):
    domain = name("big")
    record = answers.icann(domain, ["ok"], answers.on(NOW, 30, "%Y-%m-%dT%H:%M:%SZ"))
    padding = b"% " + b"p" * 60 + b"\r\n"
    whois.set(domain, {"bytes": record + padding * ((MAX_ANSWER - len(record)) // len(padding))})
    assert (await provider.check(domain)).verdict == "active"


@pytest.mark.parametrize("answer", [{"hang": 30}, {"trickle": 0.05}, {"bytes": b"% late\r\n", "delay": 30}])
async def test_a_hanging_or_trickling_server_ends_at_the_deadline(whois, answer):
    domain = name("slow")
    whois.set(domain, answer)
    provider = WhoisProvider(table(whois), timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ProviderError, match="did not finish") as raised:
        await provider.check(domain)
    assert time.monotonic() - started < 3.0
    assert raised.value.server_wide is False  # maybe one name's trouble


async def test_an_answer_in_pieces_within_the_deadline_is_read_whole(whois, provider):
    domain = name("pieces", "dk")
    raw = answers.punktum(domain, "Deactivated", answers.on(NOW, -20, "%Y-%m-%d"))
    whois.set(domain, {"chunks": [raw[i : i + 97] for i in range(0, len(raw), 97)], "gap": 0.01})
    verdict = await provider.check(domain)
    assert (verdict.verdict, verdict.flags) == ("lapsed", ("Deactivated",))


@pytest.mark.parametrize(
    "domain, raw",
    [
        (answers.ace(answers.IDN_DE), answers.denic(answers.ace(answers.IDN_DE), unicode_name=answers.IDN_DE)),
        (
            answers.ace(answers.IDN_DE),
            answers.denic(answers.ace(answers.IDN_DE), unicode_name=answers.IDN_DE, encoding="utf-8"),
        ),
        (
            answers.ace(answers.IDN_TR),
            answers.trabis(answers.ace(answers.IDN_TR), answers.on(NOW, 60, "%Y-%b-%d."), unicode_name=answers.IDN_TR),
        ),
        (
            answers.ace(answers.IDN_KR),
            answers.kisa(
                answers.ace(answers.IDN_KR),
                answers.on(NOW, 50, "%Y. %m. %d."),
                unicode_name=answers.IDN_KR,
                encoding="euc-kr",
            ),
        ),
        (
            answers.ace(answers.IDN_KR),
            answers.kisa(answers.ace(answers.IDN_KR), answers.on(NOW, 50, "%Y. %m. %d."), unicode_name=answers.IDN_KR),
        ),
    ],
    ids=["latin-1", "utf-8", "cp1254", "euc-kr", "korean-utf-8"],
)
async def test_each_codepage_decodes_to_the_name_asked(whois, provider, domain, raw):
    """The record names the domain only in Unicode: read in the wrong codepage, it would name another."""
    whois.set(domain, {"bytes": raw})
    assert (await provider.check(domain)).verdict == "active"


async def test_bad_bytes_never_fail_a_check(whois, provider):
    domain = name("bytes", "test")
    whois.set(domain, {"bytes": b"Domain Name: " + domain.encode() + b"\r\n\xff\xfe\x80\xc3(\r\n"})
    verdict = await provider.check(domain)
    assert verdict.verdict == "inconclusive"


async def test_a_referral_to_a_known_server_is_followed_once(whois, registrar):
    domain = name("thin", "test")
    whois.set(domain, {"bytes": answers.icann_thin(domain, "127.0.0.2")})
    registrar.set(domain, {"bytes": answers.icann(domain, ["clientHold"], answers.on(NOW, -5, "%Y-%m-%dT%H:%M:%SZ"))})
    servers = {**table(whois), "example": registrar.server}
    provider = WhoisProvider(servers, timeout=1.0)
    verdict = await provider.check(domain)
    assert (verdict.verdict, verdict.flags) == ("lapsed", ("clientHold",))
    assert f"referred by {whois.server}" in verdict.detail
    assert len(registrar.queries_for(domain)) == 1 and len(whois.queries_for(domain)) == 1


async def test_a_referral_to_an_unknown_server_is_not_followed(whois, registrar):
    domain = name("thin", "test")
    whois.set(domain, {"bytes": answers.icann_thin(domain, "127.0.0.2")})
    registrar.set(domain, {"bytes": answers.icann(domain, ["active"], answers.on(NOW, 50, "%Y-%m-%dT%H:%M:%SZ"))})
    provider = WhoisProvider(table(whois), timeout=1.0)  # the registrar's host is in no table
    verdict = await provider.check(domain)
    assert verdict.verdict == "inconclusive" and "referred" not in verdict.detail
    assert registrar.queries_for(domain) == []


async def test_a_decisive_registry_answer_needs_no_referral(whois, registrar):
    domain = name("thick", "test")
    whois.set(
        domain,
        {
            "bytes": answers.icann(
                domain, ["active"], answers.on(NOW, 50, "%Y-%m-%dT%H:%M:%SZ"), registrar_whois="127.0.0.2"
            )
        },
    )
    provider = WhoisProvider({**table(whois), "example": registrar.server}, timeout=1.0)
    assert (await provider.check(domain)).verdict == "active"
    assert registrar.queries_for(domain) == []


async def test_a_failing_referral_leaves_the_registry_answer(whois):
    domain = name("thin", "test")
    whois.set(domain, {"bytes": answers.icann_thin(domain, "127.0.0.2")})
    provider = WhoisProvider({**table(whois), "example": f"127.0.0.2:{free_port()}"}, timeout=1.0)
    verdict = await provider.check(domain)
    assert verdict.verdict == "inconclusive" and "referred" not in verdict.detail


async def test_a_referral_waits_for_its_servers_token(whois, registrar):
    domain = name("thin", "test")
    whois.set(domain, {"bytes": answers.icann_thin(domain, "127.0.0.2")})
    registrar.set(domain, {"bytes": answers.icann(domain, ["active"], answers.on(NOW, 50, "%Y-%m-%dT%H:%M:%SZ"))})
    target = registrar.server
    gate = Gate(1000, 1000)
    gate.hold(f"whois {target}", 0.6)  # that server asked us to wait
    provider = WhoisProvider({**table(whois), "example": target}, timeout=1.0, gate=gate)
    started = time.monotonic()
    assert (await provider.check(domain)).verdict == "active"
    asked = registrar.queries_for(domain)[0].monotonic
    assert asked - started >= 0.55


async def test_a_refused_connection_is_the_servers_failure():
    provider = WhoisProvider({"test": f"127.0.0.1:{free_port()}"}, timeout=1.0)
    with pytest.raises(ProviderError, match="could not be reached") as raised:
        await provider.check(name("down"))
    assert raised.value.server_wide is True


async def test_an_outage_and_the_return():
    server = WhoisServer().start()
    try:
        provider = WhoisProvider({"test": server.server}, timeout=1.0)
        domain = name("outage")
        server.set(domain, {"bytes": answers.icann(domain, ["ok"], answers.on(NOW, 50, "%Y-%m-%dT%H:%M:%SZ"))})
        assert (await provider.check(domain)).verdict == "active"
        server.go_down()
        with pytest.raises(ProviderError) as raised:
            await provider.check(domain)
        assert raised.value.server_wide is True
        server.come_back()
        assert (await provider.check(domain)).verdict == "active"
    finally:
        server.stop()


async def test_a_hang_cut_by_an_outage_is_the_servers_failure():
    server = WhoisServer().start()
    try:
        provider = WhoisProvider({"test": server.server}, timeout=5.0)
        domain = name("cut")
        server.set(domain, {"hang": 30})
        check = asyncio.ensure_future(provider.check(domain))
        deadline = time.monotonic() + 5
        while not server.queries_for(domain):  # the query arrived: the connection is open
            assert time.monotonic() < deadline, "the query never arrived"
            await asyncio.sleep(0.01)
        server.go_down()
        with pytest.raises(ProviderError) as raised:
            await check
        assert raised.value.server_wide is True
    finally:
        server.stop()


@pytest.mark.parametrize(
    "answer, message", [({"reset": True}, "dropped|without an answer"), ({"close": True}, "without an answer")]
)
async def test_a_reset_or_a_silent_close_is_the_servers_failure(whois, provider, answer, message):
    domain = name("rude")
    whois.set(domain, answer)
    with pytest.raises(ProviderError, match=message) as raised:
        await provider.check(domain)
    assert raised.value.server_wide is True


async def test_a_throttle_answer_is_a_failure_never_a_lapse(whois, provider):
    domain = name("busy", "uk")
    whois.set(domain, [{"bytes": answers.nominet_quota(domain, 50)}, {"bytes": answers.nominet_no_match(domain)}])
    with pytest.raises(ProviderError, match="refused") as raised:
        await provider.check(domain)
    assert (raised.value.server_wide, raised.value.retry_after) == (True, 50.0)
    verdict = await provider.check(domain)  # once the quota is back, the real answer
    assert (verdict.verdict, verdict.flags) == ("lapsed", ("not found",))


async def test_a_tld_without_a_server_is_inconclusive_without_a_connection(whois):
    provider = WhoisProvider(table(whois), timeout=1.0, unserved={"es": "web only"})
    connections = whois.connections
    verdict = await provider.check("tienda-sol.es")
    assert verdict.verdict == "inconclusive" and "web only" in verdict.detail
    assert provider.route("tienda-sol.es") == "none"
    assert whois.connections == connections


def test_each_server_is_its_own_route(whois):
    provider = WhoisProvider(
        {"de": "whois.denic.de", "jp": "WHOIS.JPRS.JP:43", "co.uk": "127.0.0.1:4343", "uk": "whois.nic.uk"}, timeout=1.0
    )
    assert provider.route("baeckerei-lindner.de") == "whois.denic.de"
    assert provider.route("sakura-pan.jp") == "whois.jprs.jp"  # normalised: port 43 goes without saying
    assert provider.route("harbour-fish.co.uk") == "127.0.0.1:4343"  # the longest suffix wins
    assert provider.route("harbour-fish.uk") == "whois.nic.uk"


@pytest.mark.parametrize(
    "servers",
    [
        {"de": "whois.denic.de\r\nx"},
        {"de": "whois denic"},
        {"d e": "whois.denic.de"},
        {"de": "whois.denic.de:0"},
        {"de": "http://whois.denic.de/"},
    ],
)
def test_a_bad_server_table_is_refused_at_construction(servers):
    with pytest.raises(ValueError):
        WhoisProvider(servers, timeout=1.0)


async def test_an_unknown_status_is_logged_once_however_often_it_is_seen(whois, provider, caplog):
    status = f"Frozen{uuid.uuid4().hex[:6]}"
    for _ in range(3):
        domain = name("frozen", "dk")
        whois.set(domain, {"bytes": answers.punktum(domain, status, answers.on(NOW, 50, "%Y-%m-%d"))})
        assert (await provider.check(domain)).verdict == "inconclusive"
    warnings = [r for r in caplog.records if status in r.getMessage()]
    assert len(warnings) == 1
