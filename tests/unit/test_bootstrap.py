"""The RDAP bootstrap: parsing, choosing the newest copy, the cache, the shipped snapshot and its build script,
the registry table and the order the sources are asked in. Pure, files only."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import sys
import zipfile
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import orjson
import pytest

from streams.providers.bootstrap import (
    Bootstrap,
    BootstrapError,
    BootstrapSource,
    cached,
    newest,
    parse_registry_table,
    registry_table,
    resolve,
    save,
    shipped,
    snapshot_problems,
    valid_suffix,
)


def document(publication: str, services: list) -> bytes:
    return orjson.dumps({"version": "1.0", "publication": publication, "description": "test", "services": services})


def test_services_map_each_suffix_to_its_first_https_url():
    bootstrap = Bootstrap.parse(
        document(
            "2026-01-01T00:00:00Z",
            [
                [["com", "NET"], ["http://plain.example/", "https://rdap.example/com"]],
                [["co.uk"], ["https://rdap.example/co-uk/"]],
                [["bad"], ["http://only-plain.example/"]],
            ],
        ),
        "test",
    )
    assert bootstrap.services == {
        "com": "https://rdap.example/com/",
        "net": "https://rdap.example/com/",
        "co.uk": "https://rdap.example/co-uk/",
    }
    assert bootstrap.base_for("shop.com") == "https://rdap.example/com/"
    assert bootstrap.base_for("x.co.uk") == "https://rdap.example/co-uk/"  # the longest suffix wins
    assert bootstrap.base_for("x.bad") is None  # plain http is never taken from bootstrap data
    assert bootstrap.base_for("x.uk") is None


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[]",
        b'{"publication": "yesterday", "services": []}',
        document("2026-01-01T00:00:00Z", []),
        b'{"publication": "2026-01-01"}',
        document("2999-01-01T00:00:00Z", [[["com"], ["https://rdap.example/"]]]),
        document("2026-01-01T00:00:00Z", [[["com"], "https://rdap.example/"]]),
        b'{"publication": 20260101, "services": []}',
    ],
)
def test_a_broken_bootstrap_is_refused(raw):
    with pytest.raises(BootstrapError):
        Bootstrap.parse(raw, "test")


def test_the_shipped_snapshot_covers_the_largest_tlds_and_dates_itself():
    snapshot = shipped()
    for domain in ("example.com", "example.net", "example.org"):
        assert snapshot.base_for(domain).startswith("https://")
    assert snapshot.base_for("example.invalid") is None
    assert snapshot.publication.year >= 2025


def test_the_newest_copy_wins_and_the_cache_survives_a_restart(tmp_path):
    old = Bootstrap.parse(document("2026-01-01T00:00:00Z", [[["com"], ["https://old.example/"]]]), "old")
    raw = document("2026-10-01T00:00:00Z", [[["com"], ["https://new.example/"]]])
    save(tmp_path, raw)
    assert not list(tmp_path.glob("*.tmp"))
    assert newest(old, cached(tmp_path)).base_for("a.com") == "https://new.example/"
    assert BootstrapSource(None, tmp_path).base_for("a.com") == "https://new.example/"


def test_a_corrupt_cache_is_ignored_and_overrides_come_first(tmp_path):
    (tmp_path / "rdap-dns-bootstrap.json").write_bytes(b"{truncated")
    assert cached(tmp_path) is None
    source = BootstrapSource(None, tmp_path, {"com": "http://127.0.0.1:9/rdap/"})
    assert source.base_for("a.com") == "http://127.0.0.1:9/rdap/"
    assert source.current.origin == "shipped snapshot"


# --- the shipped snapshot as IANA published it, and the checks a file we ship must pass ---------------------------

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def load_script():
    """scripts/rdap_bootstrap.py as a module (it is a script, not part of the package)."""
    name = "rdap_bootstrap_script"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[2] / "scripts" / "rdap_bootstrap.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.mark.parametrize(
    "text, valid",
    [
        ("com", True),
        ("co.uk", True),
        ("xn--p1ai", True),
        ("xn--80asehdb", True),
        ("a1", True),
        ("x-y", True),
        ("COM", False),
        ("", False),
        ("-com", False),
        ("com-", False),
        ("co..uk", False),
        (".com", False),
        ("ab--cd", False),
        ("bücher", False),
        ("com ", False),
        ("a" * 64, False),
        ("123", False),
        (7, False),
        (None, False),
        ("example.123", False),
    ],
)
def test_a_suffix_is_lowercase_ldh_with_idns_as_a_labels(text, valid):
    assert valid_suffix(text) is valid


def good_snapshot(**changes) -> dict:
    document = {
        "version": "1.0",
        "publication": "2026-07-23T02:00:03Z",
        "description": "test",
        "services": [
            [["com", "net"], ["https://rdap.example/com/"]],
            [["xn--p1ai"], ["http://plain.example/", "https://rdap.example/rf/"]],
        ],
    }
    document.update(changes)
    return document


def test_a_whole_bootstrap_file_has_nothing_wrong():
    assert snapshot_problems(good_snapshot(), NOW) == []


@pytest.mark.parametrize(
    "changes, problem",
    [
        ({"version": "2.0"}, "version"),
        ({"version": None}, "version"),
        ({"publication": "2026-12-02T00:00:00Z"}, "in the future"),
        ({"publication": "last tuesday"}, "not an ISO 8601 date"),
        ({"publication": "2026-07-23T02:00:03"}, "no time zone"),
        ({"services": []}, "non-empty list"),
        ({"services": {"com": "https://rdap.example/"}}, "non-empty list"),
        ({"services": [[["com"], "https://rdap.example/"]]}, "not a pair of lists"),
        ({"services": [[["com"], ["https://rdap.example/"], ["extra"]]]}, "not a pair of lists"),
        ({"services": [[[], ["https://rdap.example/"]]]}, "no entries or no URLs"),
        ({"services": [[["com"], []]]}, "no entries or no URLs"),
        ({"services": [[["COM"], ["https://rdap.example/"]]]}, "not a lowercase LDH"),
        ({"services": [[["bücher"], ["https://rdap.example/"]]]}, "not a lowercase LDH"),
        (
            {"services": [[["com"], ["https://a.example/"]], [["com"], ["https://b.example/"]]]},
            "listed by services 0 and 1",
        ),
        ({"services": [[["com"], ["https://rdap.example/com"]]]}, "ending in '/'"),
        ({"services": [[["com"], ["ftp://rdap.example/"]]]}, "ending in '/'"),
        ({"services": [[["com"], ["https:///"]]]}, "ending in '/'"),
    ],
)
def test_a_file_unfit_to_ship_says_why(changes, problem):
    problems = snapshot_problems(good_snapshot(**changes), NOW)
    assert problems and any(problem in p for p in problems), problems


def test_the_shipped_snapshot_is_ianas_whole_file_as_pinned():
    raw = resources.files("streams.data").joinpath("rdap-dns-bootstrap.json").read_bytes()
    script = load_script()
    assert hashlib.sha256(raw).hexdigest() == script.PIN.member_sha256  # byte for byte the pinned member
    document = orjson.loads(raw)
    assert snapshot_problems(document, datetime.now(UTC)) == []
    assert document["publication"] == "2026-07-23T02:00:03Z"
    assert (len(document["services"]), sum(len(entries) for entries, _ in document["services"])) == (590, 1200)
    snapshot = shipped()
    assert len(snapshot.services) == 1198  # kg and mg are http only: never taken from bootstrap data
    assert snapshot.base_for("x.kg") is None and snapshot.base_for("shop.nl") == "https://rdap.sidn.nl/"


def test_the_script_takes_only_the_pinned_member_of_the_pinned_wheel():
    script = load_script()
    member = orjson.dumps(good_snapshot())
    wheel = io.BytesIO()
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("pkg/dns.json", member)
    wheel = wheel.getvalue()
    pin = script.Pin(
        "pkg==1",
        "pkg-1-py3-none-any.whl",
        hashlib.sha256(wheel).hexdigest(),
        "pkg/dns.json",
        hashlib.sha256(member).hexdigest(),
    )
    assert script.member_of(wheel, pin) == member
    with pytest.raises(script.PinError, match="sha256"):
        script.member_of(wheel + b"\0", pin)
    with pytest.raises(script.PinError, match="no member"):
        script.member_of(
            wheel, script.Pin(pin.requirement, pin.wheel, pin.wheel_sha256, "pkg/other.json", pin.member_sha256)
        )
    with pytest.raises(script.PinError, match="sha256"):
        script.member_of(wheel, script.Pin(pin.requirement, pin.wheel, pin.wheel_sha256, pin.member, "0" * 64))
    assert script.validated(member, NOW)["version"] == "1.0"
    with pytest.raises(script.InvalidSnapshot, match="in the future"):
        script.validated(member, datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(script.InvalidSnapshot, match="not JSON"):
        script.validated(b"{", NOW)
    assert "http only, so unused at run time" not in script.summary(good_snapshot())
    plain = good_snapshot(services=[[["kg"], ["http://rdap.cctld.kg/"]]])
    assert script.summary(plain).endswith("http only, so unused at run time: kg")
    assert script.listed_by_iana(good_snapshot(), {"com": None, "de": None}) == ["com"]


# --- the registry table, and which source answers --------------------------------------------------------------------


def test_the_registry_table_holds_what_registries_document_themselves():
    table = registry_table()
    assert set(table) == {"de", "ch", "li"}  # .io .me .co .us have no registry page to cite (yet)
    assert table["de"].url == "https://rdap.denic.de/" and table["de"].source.startswith("https://www.denic.de/")
    assert table["ch"].url == "https://rdap.nic.ch/" and table["ch"].source == "https://www.nic.ch/whois/rdap/"
    assert table["li"].url == "https://rdap.nic.li/" and table["li"].source == "https://www.nic.li/whois/rdap/"
    assert all(server.note for server in table.values())
    assert not set(table) & set(shipped().services)  # IANA lists none of them: each entry is in use


def registry_document(servers: dict) -> bytes:
    return orjson.dumps({"description": "test", "servers": servers})


@pytest.mark.parametrize(
    "raw, problem",
    [
        (b"{", "not a registry table"),
        (b"[]", "not a registry table"),
        (registry_document([]), "not a registry table"),
        (registry_document({"DE": {"url": "https://r.example/", "source": "https://s.example/"}}), "LDH"),
        (registry_document({"de": "https://r.example/"}), "not an object"),
        (registry_document({"de": {"url": "http://r.example/", "source": "https://s.example/"}}), "url"),
        (registry_document({"de": {"url": "https://r.example/", "source": "http://s.example/"}}), "source"),
        (registry_document({"de": {"url": "https://r.example/"}}), "source"),
        (registry_document({"de": {"url": "https://r.example", "source": "https://s.example/"}}), "end in '/'"),
        (registry_document({"de": {"url": "https://r.example/", "source": "https://s.example/", "note": 3}}), "note"),
    ],
)
def test_a_registry_table_entry_without_an_https_server_and_source_is_refused(raw, problem):
    with pytest.raises(BootstrapError, match=problem):
        parse_registry_table(raw, "test")


IANA = Bootstrap.parse(
    document(
        "2026-07-23T00:00:00Z",
        [
            [["com"], ["https://iana.example/com/"]],
            [["uk"], ["https://iana.example/uk/"]],
            [["de"], ["https://iana.example/de/"]],
        ],
    ),
    "test",
)


@pytest.mark.parametrize(
    "domain, overrides, registry, expected",
    [
        ("shop.com", {}, {}, ("https://iana.example/com/", "iana")),
        ("shop.com", {"com": "https://mine.example/"}, {}, ("https://mine.example/", "override")),
        ("shop.ch", {}, {"ch": "https://nic.example/"}, ("https://nic.example/", "registry")),
        ("shop.de", {}, {"de": "https://denic.example/"}, ("https://iana.example/de/", "iana")),  # IANA wins
        (
            "shop.de",
            {"de": "https://mine.example/"},
            {"de": "https://denic.example/"},
            ("https://mine.example/", "override"),
        ),
        (
            "a.shop.co.uk",
            {},
            {"co.uk": "https://sld.example/"},
            ("https://iana.example/uk/", "iana"),
        ),  # a source, then a suffix
        ("a.shop.co.uk", {"co.uk": "https://mine.example/"}, {}, ("https://mine.example/", "override")),
        ("SHOP.CH.", {}, {"ch": "https://nic.example/"}, ("https://nic.example/", "registry")),
        ("ch", {}, {"ch": "https://nic.example/"}, ("https://nic.example/", "registry")),  # a TLD alone
        ("shop.io", {"com": "https://mine.example/"}, {"ch": "https://nic.example/"}, (None, None)),
    ],
)
def test_overrides_then_iana_then_the_registry_table(domain, overrides, registry, expected):
    assert resolve(domain, overrides, IANA, registry) == expected


def test_the_source_names_which_table_answers_on_the_shipped_data(tmp_path):
    source = BootstrapSource(None, tmp_path)
    assert source.source_for("shop.de") == "registry" and source.base_for("shop.de") == "https://rdap.denic.de/"
    assert source.source_for("shop.ch") == "registry" and source.source_for("shop.li") == "registry"
    assert source.source_for("shop.com") == "iana" and source.source_for("shop.nl") == "iana"
    assert source.source_for("shop.io") is None and source.base_for("shop.io") is None
    assert source.in_use() == "shipped"
    mine = BootstrapSource(None, tmp_path, {"de": "https://rdap.mine.example/"})
    assert (mine.source_for("shop.de"), mine.base_for("shop.de")) == ("override", "https://rdap.mine.example/")
    none = BootstrapSource(None, tmp_path, registry={})
    assert none.source_for("shop.de") is None


def test_the_cache_age_is_the_time_since_it_was_written(tmp_path):
    source = BootstrapSource(None, tmp_path)
    assert source.cache_age() is None
    save(tmp_path, document("2026-10-01T00:00:00Z", [[["com"], ["https://new.example/"]]]))
    written = (tmp_path / "rdap-dns-bootstrap.json").stat().st_mtime
    assert source.cache_age(now=written + 90) == pytest.approx(90)
    os.utime(tmp_path / "rdap-dns-bootstrap.json", (written - 7200, written - 7200))
    assert source.cache_age(now=written) == pytest.approx(7200)
    assert BootstrapSource(None, tmp_path).in_use() == "cached"
