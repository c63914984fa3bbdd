"""`lapsewatch check NAME` against providers played on loopback: the verdict now, nothing changed."""

from __future__ import annotations

import os
import time

import orjson
import pytest
from click.testing import CliRunner

from streams.cli import main
from tests import rdap_documents as docs
from tests.harness import FASTLY_TEST_KEY, unique_domain
from tests.tls import certificate_authority


def test_check_prints_fastlys_verdict_and_exits_zero(env, fastly):
    domain = unique_domain("checkcmd")
    fastly.scenario.set(domain, "inactive")
    env.setenv("LAPSEWATCH_STATUS_PROVIDER", "fastly")
    env.setenv("LAPSEWATCH_FASTLY_API_URL", fastly.url)
    env.setenv("LAPSEWATCH_FASTLY_API_KEY", FASTLY_TEST_KEY)
    result = CliRunner().invoke(main, ["check", f"Someone@Mail.{domain}"])
    assert result.exit_code == 0, result.output
    assert f"{domain}: LAPSED according to fastly" in result.output and FASTLY_TEST_KEY not in result.output


def test_check_as_json_with_rdap_dates_and_the_confirming_provider(env, rdap, dns):
    domain = unique_domain("checkcmd", "org")
    dns.set(domain, ["ns1.host.net"])
    rdap.set(domain, {"json": docs.domain_object(domain, ["active"], "2015-04-01T00:00:00Z", "2030-04-01T00:00:00Z")})
    env.setenv("LAPSEWATCH_RDAP_SERVERS", f"org={rdap.base_url('registry')}")
    env.setenv("LAPSEWATCH_CA_BUNDLE", certificate_authority().ca_pem_path)
    env.setenv("LAPSEWATCH_CONFIRM_PROVIDER", "dns")
    env.setenv("LAPSEWATCH_DNS_RESOLVERS", f"127.0.0.1:{dns.port}")
    result = CliRunner().invoke(main, ["check", domain, "--json", "--confirm"])
    document = orjson.loads(result.output)
    rdap_answer, dns_answer = document["answers"]
    assert (rdap_answer["verdict"], rdap_answer["registered_at"]) == ("active", "2015-04-01T00:00:00Z")
    assert dns_answer["provider"] == "dns" and dns_answer["verdict"] == "active"
    assert dns_answer["nameservers"] == ["ns1.host.net"]
    assert result.exit_code == 0


def test_check_exits_one_when_the_provider_fails_and_two_for_a_bad_name(env, rdap):
    domain = unique_domain("down", "org")
    rdap.set(domain, {"status": 503})
    env.setenv("LAPSEWATCH_RDAP_SERVERS", f"org={rdap.base_url('registry')}")
    env.setenv("LAPSEWATCH_CA_BUNDLE", certificate_authority().ca_pem_path)
    failed = CliRunner().invoke(main, ["check", domain])
    assert failed.exit_code == 1 and "gave no verdict" in failed.output and "HTTP 503" in failed.output
    bad = CliRunner().invoke(main, ["check", "not a domain"])
    assert bad.exit_code == 2
    public = CliRunner().invoke(main, ["check", "someone@gmail.com"])
    assert public.exit_code == 0 and "never checks it" in public.output


def _bootstrap_fetches(rdap) -> int:
    return sum(1 for method, path, _, _ in rdap.requests if path == "/bootstrap/dns.json")


@pytest.fixture
def rdap_env(env, rdap):
    """The RDAP provider, with IANA's bootstrap file played by the loopback server (hourly refresh)."""
    env.setenv("LAPSEWATCH_RDAP_BOOTSTRAP_URL", rdap.bootstrap_url)
    env.setenv("LAPSEWATCH_RDAP_BOOTSTRAP_REFRESH", "1h")
    env.setenv("LAPSEWATCH_CA_BUNDLE", certificate_authority().ca_pem_path)
    return env


def test_check_fetches_a_stale_bootstrap_and_names_the_server_that_answered(rdap_env, rdap, tmp_path):
    domain = unique_domain("fresh", "org")
    rdap.set(domain, {"json": docs.domain_object(domain, ["active"], "2015-04-01T00:00:00Z", "2040-04-01T00:00:00Z")})
    # Newer than the shipped snapshot, and only IANA's copy knows .org is on loopback.
    rdap.serve_bootstrap(docs.dns_bootstrap({"org": rdap.base_url("iana-org")}))
    server = rdap.base_url("iana-org").split("/")[2]

    before = _bootstrap_fetches(rdap)
    first = CliRunner().invoke(main, ["check", domain])  # no cache yet: IANA is asked first
    assert first.exit_code == 0, first.output
    assert f"{domain}: ACTIVE according to rdap" in first.output
    assert f"asked:       {server} (from IANA's bootstrap file)" in first.output
    assert "a copy fetched now" in first.output
    assert _bootstrap_fetches(rdap) == before + 1 and (tmp_path / "rdap-dns-bootstrap.json").exists()
    assert len(rdap.asks(domain, prefix="iana-org")) == 1

    again = CliRunner().invoke(main, ["check", domain, "--json"])  # the cache is fresh: used as it is
    answer = orjson.loads(again.output)["answers"][0]
    assert answer["answered_by"] == {"server": server, "source": "iana"}
    assert answer["bootstrap"]["in_use"] == "cached" and answer["bootstrap"]["refreshed"] is None
    assert answer["bootstrap"]["cache_age_seconds"] < 3600
    assert _bootstrap_fetches(rdap) == before + 1

    forced = CliRunner().invoke(main, ["check", domain, "--refresh", "--json"])
    assert orjson.loads(forced.output)["answers"][0]["bootstrap"]["refreshed"] is True
    assert _bootstrap_fetches(rdap) == before + 2

    an_hour_and_more = time.time() - 3700  # older than LAPSEWATCH_RDAP_BOOTSTRAP_REFRESH: asked again
    os.utime(tmp_path / "rdap-dns-bootstrap.json", (an_hour_and_more, an_hour_and_more))
    stale = CliRunner().invoke(main, ["check", domain, "--json"])
    assert orjson.loads(stale.output)["answers"][0]["bootstrap"]["refreshed"] is True
    assert _bootstrap_fetches(rdap) == before + 3 and stale.exit_code == 0


def test_a_failed_refresh_falls_back_to_the_newest_copy_at_hand(rdap_env, rdap, tmp_path, caplog):
    domain = unique_domain("fallback", "org")
    rdap.set(domain, {"json": docs.domain_object(domain, ["active"], "2015-04-01T00:00:00Z", "2040-04-01T00:00:00Z")})
    rdap.serve_bootstrap(docs.dns_bootstrap({"org": rdap.base_url("cached-org")}))
    assert CliRunner().invoke(main, ["check", domain, "--refresh"]).exit_code == 0  # caches that copy
    rdap.serve_bootstrap(None)  # IANA answers 503 from now on

    caplog.clear()
    result = CliRunner().invoke(main, ["check", domain, "--refresh"])
    assert result.exit_code == 0, result.output
    assert f"{domain}: ACTIVE according to rdap" in result.output
    assert "the cached copy (refresh failed: HTTP 503)" in result.output
    assert len(rdap.asks(domain, prefix="cached-org")) == 2  # the cached copy still routes the check
    assert not [r for r in caplog.records if r.name.startswith("lapsewatch.rdap")]  # told once, in the answer

    # No cache at all: the shipped snapshot answers (here through LAPSEWATCH_RDAP_SERVERS, ahead of it).
    (tmp_path / "rdap-dns-bootstrap.json").unlink()
    rdap_env.setenv("LAPSEWATCH_RDAP_SERVERS", f"org={rdap.base_url('override-org')}")
    shipped = CliRunner().invoke(main, ["check", domain, "--json"])
    answer = orjson.loads(shipped.output)["answers"][0]
    assert answer["verdict"] == "active" and shipped.exit_code == 0
    assert answer["answered_by"]["source"] == "override"
    assert answer["bootstrap"] | {"cache_age_seconds": None} == {
        "in_use": "shipped",
        "publication": "2026-07-23T02:00:03Z",
        "cache_age_seconds": None,
        "url": rdap.bootstrap_url,
        "refreshed": False,
        "refresh_error": "HTTP 503",
    }


def test_check_names_no_server_for_a_tld_without_rdap(env):
    result = CliRunner().invoke(main, ["check", "shop.xn--node", "--json"])  # .გე (Georgia): WHOIS only
    answer = orjson.loads(result.output)["answers"][0]
    assert answer["verdict"] == "inconclusive" and answer["answered_by"] == {"server": "none", "source": None}
    assert answer["bootstrap"]["in_use"] == "shipped" and answer["bootstrap"]["refreshed"] is None  # URL off
