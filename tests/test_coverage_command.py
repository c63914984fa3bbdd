"""`lapsewatch coverage`: the table, the JSON, overrides, the cached bootstrap, and --refresh against IANA's file
played by the loopback RDAP server."""

from __future__ import annotations

import orjson
from click.testing import CliRunner

from streams.cli import main
from streams.providers.bootstrap import save
from tests import rdap_documents as docs
from tests.tls import certificate_authority


def coverage_json(*args: str) -> dict:
    result = CliRunner().invoke(main, ["coverage", "--json", *args])
    assert result.exit_code == 0, result.output
    return orjson.loads(result.output)


def test_the_table_names_every_source_with_totals(env):
    result = CliRunner().invoke(main, ["coverage", "--list", "rdap (registry table)"])
    assert result.exit_code == 0, result.output
    for label in ("rdap (IANA)", "rdap (registry table)", "rdap (override)", "whois", "none", "with a source"):
        assert label in result.output
    assert "TLDs (IANA list 20" in result.output
    assert "rdap (registry table): ch de li" in result.output
    without = coverage_json()["without_source"]
    if without:  # named after the table, whatever the WHOIS table leaves without a source
        assert f"No source for {len(without)} TLDs: {sorted(without)[0]}" in result.output


def test_an_override_counts_as_an_override_and_a_bad_setting_exits_one(env):
    before = coverage_json()
    env.setenv("LAPSEWATCH_RDAP_SERVERS", "io=https://rdap.mine.example/,de=https://rdap.mine.example/")
    after = coverage_json()
    assert (after["by_tld"]["io"], after["by_tld"]["de"]) == ("rdap (override)", "rdap (override)")
    assert after["sources"]["rdap (override)"]["tlds"] == 2 and after["overrides"] == ["de", "io"]
    assert after["covered"]["tlds"] == before["covered"]["tlds"] + (before["by_tld"]["io"] == "none")
    env.setenv("LAPSEWATCH_RDAP_SERVERS", "not a pair")
    bad = CliRunner().invoke(main, ["coverage"])
    assert bad.exit_code == 1 and "LAPSEWATCH_RDAP_SERVERS" in bad.output


def test_coverage_reads_the_cached_bootstrap_and_refreshes_only_when_asked(env, rdap, tmp_path):
    env.setenv("LAPSEWATCH_RDAP_BOOTSTRAP_URL", rdap.bootstrap_url)
    env.setenv("LAPSEWATCH_CA_BUNDLE", certificate_authority().ca_pem_path)
    shipped = coverage_json()
    assert shipped["rdap_bootstrap"]["in_use"] == "shipped" and not shipped["by_tld"]["io"].startswith("rdap")
    fetches = sum(1 for _, path, _, _ in rdap.requests if path == "/bootstrap/dns.json")

    # A copy in the data directory that lists .io and .de: IANA's word wins over the registry table's.
    save(
        tmp_path, orjson.dumps(docs.dns_bootstrap({"io": "https://rdap.io.example/", "de": "https://rdap.de.example/"}))
    )
    cached = coverage_json()
    assert cached["rdap_bootstrap"]["in_use"] == "cached"
    assert (cached["by_tld"]["io"], cached["by_tld"]["de"], cached["by_tld"]["ch"]) == (
        "rdap (IANA)",
        "rdap (IANA)",
        "rdap (registry table)",
    )
    assert sum(1 for _, path, _, _ in rdap.requests if path == "/bootstrap/dns.json") == fetches  # no refresh

    rdap.serve_bootstrap(docs.dns_bootstrap({"io": rdap.base_url("io"), "me": rdap.base_url("me")}))
    refreshed = coverage_json("--refresh")
    assert refreshed["rdap_bootstrap"]["in_use"] == "fetched"
    assert (refreshed["by_tld"]["me"], refreshed["by_tld"]["de"]) == ("rdap (IANA)", "rdap (registry table)")
    assert sum(1 for _, path, _, _ in rdap.requests if path == "/bootstrap/dns.json") == fetches + 1

    rdap.serve_bootstrap(None)  # IANA down: the newest copy at hand, without a failure
    fallback = coverage_json("--refresh")
    assert fallback["rdap_bootstrap"]["in_use"] == "cached" and fallback["by_tld"]["me"] == "rdap (IANA)"
