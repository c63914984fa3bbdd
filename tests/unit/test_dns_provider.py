"""DnsProvider against a real DNS server on loopback (UDP, with TCP beside it)."""

from __future__ import annotations

import pytest

from streams.providers.base import ProviderError, Verdict
from streams.providers.dns import DnsProvider


@pytest.fixture
def server(dns):
    return dns


@pytest.fixture
def provider(server):
    return DnsProvider([server.address], port=server.port, timeout=2.0)


def test_route_names_the_resolver(server, provider):
    assert provider.route("a.com") == f"dns:127.0.0.1:{server.port}"
    assert DnsProvider(["::1"], port=5353).route("a.com") == "dns:[::1]:5353"


def test_rejects_an_empty_or_non_ip_nameserver_list():
    with pytest.raises(ValueError):
        DnsProvider([])
    with pytest.raises(ValueError):
        DnsProvider(["dns.google"])


async def test_delegated_is_active_with_sorted_lowercase_nameservers(server, provider):
    server.set("kept-shop.com", ["NS2.Host.NET", "ns1.host.net."])
    verdict = await provider.check("kept-shop.com")
    assert verdict.verdict == "active"
    assert verdict.flags == ("delegated",)
    assert verdict.nameservers == ("ns1.host.net", "ns2.host.net")
    assert server.queries("kept-shop.com") == 1


async def test_nxdomain_is_lapsed(server, provider):
    server.set("gone-shop.com", "nxdomain")
    verdict = await provider.check("gone-shop.com")
    assert verdict == Verdict(
        "lapsed", ("nxdomain",), "not delegated: the parent zone answers NXDOMAIN", lifecycle=False
    )
    assert server.queries("gone-shop.com") == 1


async def test_unknown_name_defaults_to_nxdomain(provider):
    assert (await provider.check("never-planned.org")).verdict == "lapsed"


async def test_noerror_without_ns_is_inconclusive(server, provider):
    server.set("bare.com", "noanswer")
    verdict = await provider.check("bare.com")
    assert verdict == Verdict("inconclusive", ("no-ns",), "the name exists but has no NS records", lifecycle=False)


async def test_servfail_raises(server, provider):
    server.set("broken.com", "servfail")
    with pytest.raises(ProviderError, match=r"broken\.com"):
        await provider.check("broken.com")
    assert server.queries("broken.com") >= 1


async def test_hang_raises_after_the_timeout(server):
    provider = DnsProvider([server.address], port=server.port, timeout=0.5)
    server.set("silent.com", "hang")
    with pytest.raises(ProviderError, match=r"silent\.com timed out"):
        await provider.check("silent.com")
    assert server.queries("silent.com") >= 1


async def test_nothing_listening_raises(server):
    # A port with no server: refused or timed out, either way an error, never a verdict.
    provider = DnsProvider(["127.0.0.1"], port=9, timeout=0.5)
    with pytest.raises(ProviderError, match=r"nowhere\.com"):
        await provider.check("nowhere.com")


@pytest.mark.parametrize(
    "crafted",
    [
        "evil.com/../x",
        "a b.com",
        "x.com\x00",
        "@x.com",
        "x.com.",
        "Upper.com",
        "xn--.com",
        "com",
        "a..com",
        "-a.com",
        "x.com:53",
        "x.com\nns.evil.net",
        "ex\u00e4mple.com",
        "",
    ],
)
async def test_crafted_names_never_reach_the_server(server, provider, crafted):
    before = server.queries()
    with pytest.raises(ProviderError, match="refusing to query"):
        await provider.check(crafted)
    assert server.queries() == before


async def test_every_check_asks_again(server, provider):
    server.set("twice.com", ["ns1.host.net"])
    await provider.check("twice.com")
    await provider.check("twice.com")
    assert server.queries("twice.com") == 2


async def test_a_recheck_sees_the_new_answer(server, provider):
    server.set("expiring.com", ["ns1.host.net"])
    assert (await provider.check("expiring.com")).verdict == "active"
    server.set("expiring.com", "nxdomain")
    assert (await provider.check("expiring.com")).verdict == "lapsed"


async def test_a_planned_sequence_plays_in_order(server, provider):
    server.set("reborn.com", ["nxdomain", ["ns1.x.net"]])
    first = await provider.check("reborn.com")
    second = await provider.check("reborn.com")
    third = await provider.check("reborn.com")
    assert first.verdict == "lapsed"
    assert (second.verdict, second.nameservers) == ("active", ("ns1.x.net",))
    assert third.verdict == "active"  # the last answer repeats
    assert server.queries("reborn.com") == 3


async def test_server_answers_over_tcp_too(server):
    # The server half a truncated UDP answer falls back to.
    import dns.asyncquery
    import dns.message

    server.set("over-tcp.com", ["ns1.host.net"])
    query = dns.message.make_query("over-tcp.com.", "NS")
    response = await dns.asyncquery.tcp(query, server.address, port=server.port, timeout=2.0)
    assert [rdata.target.to_text() for rdata in response.answer[0]] == ["ns1.host.net."]
