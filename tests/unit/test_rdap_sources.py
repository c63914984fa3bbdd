"""Where RDAP answers come from, against the real HTTPS RDAP server on loopback: a registry from the
registry table (a .ch-style bare 404), and the bootstrap cache's age across refreshes."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from streams.providers.bootstrap import BootstrapSource
from streams.providers.rdap import RdapProvider
from tests import rdap_documents as docs
from tests.tls import certificate_authority


def name(label: str = "shop") -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}.test"


@pytest.fixture
async def registry_provider(rdap, tmp_path):
    """A provider whose only way to .test is the registry table, as for .ch, .de and .li."""
    source = BootstrapSource(None, tmp_path, registry={"test": rdap.base_url("switch")})
    provider = RdapProvider(source, timeout=2.0, verify=certificate_authority().client_ssl_context())
    yield provider
    await provider.aclose()


async def test_a_bare_404_from_a_registry_table_server_is_not_registered(rdap, registry_provider):
    """SWITCH (.ch, .li) answers a name that is not registered with the status alone: no JSON body."""
    domain = name("gone")
    rdap.set(domain, {"raw": "", "status": 404, "content_type": "application/rdap+json"})
    assert registry_provider.bootstrap.source_for(domain) == "registry"
    verdict = await registry_provider.check(domain)
    assert (verdict.verdict, verdict.flags) == ("lapsed", ("not found",))
    assert [ask.answer for ask in rdap.asks(domain, prefix="switch")] == ["raw"]  # the planned bare 404 answered


async def test_a_bare_500_from_a_registry_table_server_is_no_verdict(rdap, registry_provider):
    from streams.providers.base import ProviderError

    domain = name("broken")
    rdap.set(domain, {"raw": "", "status": 500})
    with pytest.raises(ProviderError, match="HTTP 500"):
        await registry_provider.check(domain)


async def test_a_registered_name_at_a_registry_table_server_is_active(rdap, registry_provider):
    domain = name()
    rdap.set(domain, {"json": docs.domain_object(domain, ["active"], "2015-04-01T00:00:00Z", "2040-04-01T00:00:00Z")})
    assert (await registry_provider.check(domain)).verdict == "active"
    assert registry_provider.route(domain) == rdap.base_url("switch").split("/")[2]


async def test_every_answer_from_iana_dates_the_cache_and_a_failure_says_why(rdap, tmp_path):
    source = BootstrapSource(rdap.bootstrap_url, tmp_path)
    provider = RdapProvider(source, timeout=2.0, verify=certificate_authority().client_ssl_context())
    cache = tmp_path / "rdap-dns-bootstrap.json"
    long_ago = time.time() - 10 * 86400
    try:
        # As old as the shipped snapshot: nothing new, but IANA answered, so the cache is written.
        shipped_publication = source.current.publication.strftime("%Y-%m-%dT%H:%M:%SZ")
        rdap.serve_bootstrap(docs.dns_bootstrap({"test": rdap.base_url("iana")}, shipped_publication))
        assert await provider.refresh_bootstrap()
        assert cache.exists() and source.cache_age() < 60 and source.last_error is None
        assert source.in_use() == "fetched" and source.source_for("x.test") == "iana"

        # An older file than the one in use changes nothing but the cache's date.
        os.utime(cache, (long_ago, long_ago))
        content = cache.read_bytes()
        rdap.serve_bootstrap(docs.dns_bootstrap({"test": rdap.base_url("stale")}, "2001-01-01T00:00:00Z"))
        assert await provider.refresh_bootstrap()
        assert cache.read_bytes() == content and source.cache_age() < 60
        assert source.base_for("x.test") == rdap.base_url("iana")

        # IANA unreachable: the copy in use stays, the cache keeps its age, and the reason is kept.
        os.utime(cache, (long_ago, long_ago))
        rdap.serve_bootstrap(None)
        assert not await provider.refresh_bootstrap()
        assert source.last_error == "HTTP 503" and source.cache_age() > 9 * 86400
        assert source.base_for("x.test") == rdap.base_url("iana")
    finally:
        await provider.aclose()
