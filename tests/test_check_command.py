"""`lapsewatch check NAME` against providers played on loopback: the verdict now, nothing changed."""

from __future__ import annotations

import os

import orjson
import pytest
from click.testing import CliRunner

from streams.cli import main
from tests import rdap_documents as docs
from tests.harness import FASTLY_TEST_KEY, unique_domain
from tests.tls import certificate_authority


@pytest.fixture
def env(monkeypatch, tmp_path):
    for key in [k for k in os.environ if k.startswith("LAPSEWATCH_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("LAPSEWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LAPSEWATCH_RDAP_BOOTSTRAP_URL", "off")
    return monkeypatch


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
