"""The RDAP bootstrap: parsing, choosing the newest copy, and the cache. Pure, files only."""

from __future__ import annotations

import orjson
import pytest

from streams.providers.bootstrap import Bootstrap, BootstrapError, BootstrapSource, cached, newest, save, shipped


def document(publication: str, services: list) -> bytes:
    return orjson.dumps({"version": "1.0", "publication": publication, "description": "test", "services": services})


def test_services_map_each_suffix_to_its_first_https_url():
    bootstrap = Bootstrap.parse(document("2026-01-01T00:00:00Z", [
        [["com", "NET"], ["http://plain.example/", "https://rdap.example/com"]],
        [["co.uk"], ["https://rdap.example/co-uk/"]],
        [["bad"], ["http://only-plain.example/"]],
    ]), "test")
    assert bootstrap.services == {"com": "https://rdap.example/com/", "net": "https://rdap.example/com/",
                                  "co.uk": "https://rdap.example/co-uk/"}
    assert bootstrap.base_for("shop.com") == "https://rdap.example/com/"
    assert bootstrap.base_for("x.co.uk") == "https://rdap.example/co-uk/"  # the longest suffix wins
    assert bootstrap.base_for("x.bad") is None  # plain http is never taken from bootstrap data
    assert bootstrap.base_for("x.uk") is None


@pytest.mark.parametrize("raw", [b"", b"not json", b"[]", b'{"publication": "yesterday", "services": []}',
                                 document("2026-01-01T00:00:00Z", []), b'{"publication": "2026-01-01"}',
                                 document("2999-01-01T00:00:00Z", [[["com"], ["https://rdap.example/"]]]),
                                 document("2026-01-01T00:00:00Z", [[["com"], "https://rdap.example/"]]),
                                 b'{"publication": 20260101, "services": []}'])
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
