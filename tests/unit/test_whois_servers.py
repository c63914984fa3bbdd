"""The TLD → WHOIS server table: the shipped data, its loader, LAPSEWATCH_WHOIS_SERVERS entries and the
script that rebuilds the table from the npm package (run here on a small scrape of the same shape)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import orjson
import pytest

from streams.providers.whois_servers import (
    load_whois_table,
    parse_whois_servers,
    server_for,
    shipped_no_whois,
    shipped_whois_servers,
    shipped_whois_table,
    split_server,
    valid_server,
)

ROOT = Path(__file__).resolve().parents[2]


def script():
    spec = importlib.util.spec_from_file_location("whois_servers_script", ROOT / "scripts" / "whois_servers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_table_names_the_registries_servers():
    servers = shipped_whois_servers()
    assert len(servers) > 1000
    expected = {
        "de": "whois.denic.de",
        "jp": "whois.jprs.jp",
        "cn": "whois.cnnic.cn",
        "ru": "whois.tcinet.ru",
        "xn--p1ai": "whois.tcinet.ru",
        "eu": "whois.eu",
        "it": "whois.nic.it",
        "io": "whois.nic.io",
        "co": "whois.registry.co",
        "ch": "whois.nic.ch",
        "se": "whois.iis.se",
        "kr": "whois.kr",
        "tr": "whois.trabis.gov.tr",
        "in": "whois.nixiregistry.in",
    }
    assert {tld: servers.get(tld) for tld in expected} == expected
    for tld, server in servers.items():
        assert valid_server(server) == server, tld


def test_retired_and_web_only_registries_are_not_asked():
    servers, none = shipped_whois_servers(), shipped_no_whois()
    for tld in ("es", "info", "mobi", "travel", "pro", "jobs", "ps", "uy"):
        assert tld not in servers and tld in none, tld
    assert "web only" in none["es"] and "retired" in none["info"]
    assert not set(servers) & set(none)


def test_the_shipped_table_says_where_it_came_from():
    source = shipped_whois_table().source
    assert source["package"] == "npm whoisserver-world@1.0.31" and len(source["sha256"]) == 64
    assert source["licence"] == "ISC"
    assert all(why for why in source["overrides"].values())  # every override gives its reason


def test_the_shipped_table_passes_the_scripts_own_checks():
    script().check(orjson.loads((ROOT / "streams" / "data" / "whois-servers.json").read_bytes()))


def test_the_loaded_tables_are_copies():
    shipped_whois_servers()["de"] = "evil.example"
    assert shipped_whois_servers()["de"] == "whois.denic.de"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("de=127.0.0.1:4343", {"de": "127.0.0.1:4343"}),
        (" DE = Whois.Denic.De , jp=whois.jprs.jp:43 ", {"de": "whois.denic.de", "jp": "whois.jprs.jp"}),
        ("xn--p1ai=whois.tcinet.ru\nco.uk=[::1]:4343", {"xn--p1ai": "whois.tcinet.ru", "co.uk": "[::1]:4343"}),
        ("", {}),
        (" , ,", {}),
    ],
)
def test_whois_servers_setting(text, expected):
    assert parse_whois_servers(text) == expected


@pytest.mark.parametrize(
    "text, named",
    [
        ("de", "'de'"),
        ("de=", "'de='"),
        ("de=whois denic.de", "whois denic.de"),
        ("de=whois.denic.de:0", "port"),
        ("de=whois.denic.de:http", "port"),
        ("de=http://whois.denic.de/", "http"),
        ("d_e=whois.denic.de", "d_e"),
        ("de=[whois.denic.de]:43", "IPv6"),
        ("de=whois.denic.de\x00", "whois.denic.de"),
        ("jp=whois.jprs.jp,de=-bad-.de", "-bad-.de"),
    ],
)
def test_a_bad_whois_servers_entry_names_the_bad_part(text, named):
    with pytest.raises(ValueError) as raised:
        parse_whois_servers(text)
    assert named in str(raised.value)


@pytest.mark.parametrize(
    "server, parts",
    [
        ("whois.denic.de", ("whois.denic.de", 43)),
        ("127.0.0.1:4343", ("127.0.0.1", 4343)),
        ("[::1]:4343", ("::1", 4343)),
        ("[::1]", ("::1", 43)),
    ],
)
def test_servers_split_into_host_and_port(server, parts):
    assert split_server(server) == parts


def test_the_longest_suffix_wins():
    servers = {"uk": "whois.nic.uk", "co.uk": "127.0.0.1:4343"}
    assert server_for(servers, "shop.co.uk") == "127.0.0.1:4343"
    assert server_for(servers, "shop.uk") == "whois.nic.uk"
    assert server_for(servers, "shop.de") is None


@pytest.mark.parametrize(
    "document",
    [
        b"not json",
        b"{}",
        b'{"servers": [], "none": {}}',
        b'{"servers": {"de": "whois denic"}, "none": {}}',
        b'{"servers": {"d e": "whois.denic.de"}, "none": {}}',
    ],
)
def test_a_broken_table_is_refused(document):
    with pytest.raises(ValueError, match="not a WHOIS server table"):
        load_whois_table(document, "test")


SCRAPE = {
    "de": {"tld": "de", "whoisServer": ["whois.denic.de"], "t": 1745434100256},
    "jp": {"tld": "jp", "whoisServer": ["whois.jprs.jp"], "t": 1745434596235},
    "co": {"tld": "co", "whoisServer": ["whois.nic.co"], "t": 1745434013336},
    "es": {"tld": "es", "whoisServer": ["whois.nic.es"], "t": 1745434203890},
    "xn--h2brj9c": {"tld": "xn--h2brj9c", "whoisServer": ["whois.registry.in"], "t": 1745618941806},
    "aq": {"tld": "aq", "whoisServer": [], "t": 1745618941806},
    "soy": {"tld": "soy", "whoisServer": ["whois.nic.google", "whois.nic.soy"], "t": 1745618941806},
}


def test_the_script_builds_the_table_from_the_scrape_and_its_overrides():
    built = script().build(orjson.dumps(SCRAPE), "2026-12-01")
    servers, none = built["servers"], built["none"]
    assert servers["de"] == "whois.denic.de" and servers["soy"] == "whois.nic.google"  # the first listed
    assert servers["co"] == "whois.registry.co"  # an override
    assert servers["xn--h2brj9c"] == "whois.nixiregistry.in"  # a renamed server
    assert "es" not in servers and "web only" in none["es"]
    assert "aq" in none and "names no WHOIS server" in none["aq"]
    assert built["generated"] == "2026-12-01" and "2025-04-23" in built["source"]["data"]
    assert load_whois_table(orjson.dumps(built), "built").servers == servers


def test_the_script_refuses_a_copy_that_is_not_the_pinned_one(tmp_path):
    fake = tmp_path / "whoisserver-world-1.0.31.tgz"
    fake.write_bytes(b"not the package")
    with pytest.raises(SystemExit, match="sha256"):
        script().fetch(fake)
