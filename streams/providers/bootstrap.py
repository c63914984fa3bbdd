"""Which RDAP server answers for which TLD: the IANA bootstrap registry (RFC 9224), and registries' own word.

Where a domain's server comes from, first match wins:
1. explicit configuration (LAPSEWATCH_RDAP_SERVERS): "override";
2. IANA's bootstrap file: "iana". Two copies, the newest `publication` wins:
   one refreshed at run time from IANA (cached in the data directory so a
   restart without network keeps it) and the snapshot shipped in the package
   (streams/data/rdap-dns-bootstrap.json, IANA's file as published, rebuilt by
   scripts/rdap_bootstrap.py);
3. the registry table (streams/data/rdap-registry-servers.json): "registry",
   servers a TLD's registry documents itself although IANA does not list them.
   IANA wins for every TLD it lists.

Only https service URLs are taken from bootstrap data, as RFC 9224 §3 recommends.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import httpx
import orjson

from streams.providers.base import ProviderError
from streams.providers.httpio import read_capped

log = logging.getLogger("lapsewatch.rdap.bootstrap")

SHIPPED = "rdap-dns-bootstrap.json"
REGISTRY_TABLE = "rdap-registry-servers.json"
CACHE_NAME = "rdap-dns-bootstrap.json"
SHIPPED_ORIGIN = "shipped snapshot"
MAX_BOOTSTRAP_BYTES = 4 * 1024 * 1024

Source = Literal["override", "iana", "registry"]
SOURCES: tuple[Source, ...] = ("override", "iana", "registry")  # the order a domain's server is looked up in

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


class BootstrapError(ValueError):
    pass


@dataclass(frozen=True)
class Bootstrap:
    publication: datetime
    services: dict[str, str]  # lowercase TLD (or longer suffix) -> base URL ending in "/"
    origin: str = "shipped"

    @classmethod
    def parse(cls, raw: bytes, origin: str, now: datetime | None = None) -> Bootstrap:
        """ValueError (BootstrapError) for anything that is not a usable bootstrap file."""
        try:
            document = orjson.loads(raw)
            publication = datetime.fromisoformat(document["publication"].replace("Z", "+00:00"))
            entries = document["services"]
            if not isinstance(entries, list):
                raise TypeError("services is not a list")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BootstrapError(f"{origin}: not an RDAP bootstrap file ({exc})") from None
        if publication.tzinfo is None:
            publication = publication.replace(tzinfo=UTC)
        # A file from the future would outrank every later refresh for ever.
        if publication > (now or datetime.now(UTC)) + timedelta(days=1):
            raise BootstrapError(f"{origin}: published in the future ({publication.isoformat()})")
        services: dict[str, str] = {}
        for entry in entries:
            if not (
                isinstance(entry, list)
                and len(entry) >= 2
                and isinstance(entry[0], list)
                and isinstance(entry[1], list)
            ):
                continue
            urls = [u for u in entry[1] if isinstance(u, str) and u.startswith("https://")]
            if not urls:
                continue
            base = urls[0] if urls[0].endswith("/") else urls[0] + "/"
            for suffix in entry[0]:
                if isinstance(suffix, str) and suffix:
                    services[suffix.lower().strip(".")] = base
        if not services:
            raise BootstrapError(f"{origin}: the bootstrap file lists no https service")
        return cls(publication, services, origin)

    def base_for(self, domain: str) -> str | None:
        """The longest matching suffix's base URL (RFC 9224 §4)."""
        labels = domain.lower().split(".")
        for start in range(len(labels)):
            base = self.services.get(".".join(labels[start:]))
            if base:
                return base
        return None


def valid_suffix(text: object) -> bool:
    """A lowercase domain suffix in LDH form (RFC 5890): IDN labels as A-labels (xn--), no other "??--" label."""
    if not isinstance(text, str) or not text or len(text) > 253:
        return False
    labels = text.split(".")
    for label in labels:
        if not _LABEL.fullmatch(label) or (label[2:4] == "--" and not label.startswith("xn--")):
            return False
    return not labels[-1].isdigit()


def snapshot_problems(document: object, now: datetime) -> list[str]:
    """What makes `document` unfit to ship as IANA's DNS bootstrap file (RFC 9224 §4, §5); [] when nothing.

    Stricter than Bootstrap.parse, which skips what it cannot use at run time:
    a file we ship must be IANA's file as published, whole.
    """
    if not isinstance(document, dict):
        return ["not a JSON object"]
    problems = []
    if document.get("version") != "1.0":
        problems.append(f"version is {document.get('version')!r}, not '1.0'")
    publication = document.get("publication")
    try:
        moment = datetime.fromisoformat(str(publication).replace("Z", "+00:00"))
        if moment.tzinfo is None:
            problems.append(f"publication {publication!r} has no time zone")
        elif moment > now:
            problems.append(f"publication {publication!r} is in the future")
    except ValueError:
        problems.append(f"publication {publication!r} is not an ISO 8601 date")
    services = document.get("services")
    if not isinstance(services, list) or not services:
        return [*problems, "services is not a non-empty list"]
    seen: dict[str, int] = {}
    for index, service in enumerate(services):
        if not (isinstance(service, list) and len(service) == 2 and all(isinstance(part, list) for part in service)):
            problems.append(f"service {index} is not a pair of lists")
            continue
        entries, urls = service
        if not entries or not urls:
            problems.append(f"service {index} has no entries or no URLs")
        for entry in entries:
            if not valid_suffix(entry):
                problems.append(f"service {index}: {entry!r} is not a lowercase LDH or xn-- domain label")
            elif entry in seen:
                problems.append(f"{entry!r} is listed by services {seen[entry]} and {index}")
            else:
                seen[entry] = index
        for url in urls:
            parts = urlsplit(url) if isinstance(url, str) else None
            # RFC 9224 §3: base URLs end in "/", since paths are appended to them.
            if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not url.endswith("/"):
                problems.append(f"service {index}: {url!r} is not an http(s) base URL ending in '/'")
    return problems


@dataclass(frozen=True)
class RegistryServer:
    """An RDAP server a TLD's registry documents on its own pages, although IANA's file does not list it."""

    url: str
    source: str  # the registry's page that says so
    note: str = ""


def parse_registry_table(raw: bytes, origin: str) -> dict[str, RegistryServer]:
    """TLD → its registry's server, from the registry table; BootstrapError for any entry that is not sound."""
    try:
        document = orjson.loads(raw)
        servers = document["servers"]
        if not isinstance(servers, dict):
            raise TypeError("servers is not an object")
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise BootstrapError(f"{origin}: not a registry table ({exc})") from None
    table: dict[str, RegistryServer] = {}
    for tld, entry in servers.items():
        if not valid_suffix(tld):
            raise BootstrapError(f"{origin}: {tld!r} is not a lowercase LDH or xn-- domain label")
        if not isinstance(entry, dict):
            raise BootstrapError(f"{origin}: {tld}: not an object")
        # Registry pages and servers alike: https only, as for bootstrap data.
        url = _https_url(entry.get("url"), f"{origin}: {tld}: url")
        source = _https_url(entry.get("source"), f"{origin}: {tld}: source")
        note = entry.get("note", "")
        if not url.endswith("/"):
            raise BootstrapError(f"{origin}: {tld}: url {url!r} does not end in '/'")
        if not isinstance(note, str):
            raise BootstrapError(f"{origin}: {tld}: note is not text")
        table[tld] = RegistryServer(url, source, note)
    return table


def _https_url(value: object, what: str) -> str:
    if not (isinstance(value, str) and value.startswith("https://") and urlsplit(value).hostname):
        raise BootstrapError(f"{what} {value!r} is not an https URL")
    return value


def registry_table() -> dict[str, RegistryServer]:
    raw = resources.files("streams.data").joinpath(REGISTRY_TABLE).read_bytes()
    return parse_registry_table(raw, "registry table")


def resolve(
    domain: str, overrides: Mapping[str, str], iana: Bootstrap, registry: Mapping[str, str]
) -> tuple[str | None, Source | None]:
    """(base URL, where it came from) for `domain`: the overrides, then IANA's file, then the registry table.

    Within each source the longest matching suffix wins (RFC 9224 §4); a later
    source is asked only when no earlier one lists any suffix of the domain.
    """
    labels = domain.lower().rstrip(".").split(".")
    suffixes = [".".join(labels[start:]) for start in range(len(labels))]
    tables: tuple[tuple[Source, Mapping[str, str]], ...] = (
        ("override", overrides),
        ("iana", iana.services),
        ("registry", registry),
    )
    for source, table in tables:
        for suffix in suffixes:
            base = table.get(suffix)
            if base:
                return base, source
    return None, None


def _shipped_registry() -> dict[str, str]:
    """TLD → base URL, from the shipped registry table."""
    return {tld: server.url for tld, server in registry_table().items()}


def shipped() -> Bootstrap:
    raw = resources.files("streams.data").joinpath(SHIPPED).read_bytes()
    return Bootstrap.parse(raw, SHIPPED_ORIGIN)


def cached(data_dir: Path) -> Bootstrap | None:
    path = data_dir / CACHE_NAME
    try:
        return Bootstrap.parse(path.read_bytes(), str(path))
    except FileNotFoundError:
        return None
    except (BootstrapError, OSError) as exc:
        log.warning("ignoring the cached RDAP bootstrap: %s", exc)
        return None


def newest(*candidates: Bootstrap | None) -> Bootstrap:
    present = [c for c in candidates if c is not None]
    return max(present, key=lambda b: b.publication)


def save(data_dir: Path, raw: bytes) -> None:
    """Atomically, so a crash never leaves half a file for the next start."""
    data_dir.mkdir(parents=True, exist_ok=True)
    temporary = data_dir / (CACHE_NAME + ".tmp")
    temporary.write_bytes(raw)
    os.replace(temporary, data_dir / CACHE_NAME)


@dataclass
class BootstrapSource:
    """The servers in use (overrides, IANA's file, the registry table), and how to refresh IANA's file."""

    url: str | None
    data_dir: Path
    overrides: dict[str, str] = field(default_factory=dict)
    registry: dict[str, str] = field(default_factory=_shipped_registry)  # TLD → base URL
    current: Bootstrap = field(init=False)
    last_error: str | None = field(init=False, default=None)  # why the last refresh failed, if it did

    def __post_init__(self) -> None:
        self.current = newest(shipped(), cached(self.data_dir))

    def resolve(self, domain: str) -> tuple[str | None, Source | None]:
        return resolve(domain, self.overrides, self.current, self.registry)

    def base_for(self, domain: str) -> str | None:
        return self.resolve(domain)[0]

    def source_for(self, domain: str) -> Source | None:
        """Which source names `domain`'s server: "override", "iana", "registry", or None (no RDAP)."""
        return self.resolve(domain)[1]

    @property
    def cache_path(self) -> Path:
        return self.data_dir / CACHE_NAME

    def cache_age(self, now: float | None = None) -> float | None:
        """Seconds since IANA was last asked successfully (the cache's mtime); None without a cache."""
        try:
            written = self.cache_path.stat().st_mtime
        except OSError:
            return None
        return max(0.0, (time.time() if now is None else now) - written)

    def in_use(self) -> str:
        """Which copy of IANA's file is in use: "shipped", "cached" or "fetched"."""
        if self.current.origin == SHIPPED_ORIGIN:
            return "shipped"
        return "fetched" if self.url and self.current.origin == self.url else "cached"

    async def refresh(self, client: httpx.AsyncClient) -> bool:
        """Fetch the bootstrap file; adopt and cache it unless older than the copy in use. False when it could not.

        A fetched file as new as the copy in use is cached too, and an older one
        touches the cache: the cache's age is the time since IANA last answered.
        """
        if not self.url:
            return False
        try:
            async with client.stream("GET", self.url, headers={"Accept": "application/json"}) as response:
                if response.status_code != 200:
                    raise BootstrapError(f"HTTP {response.status_code}")
                raw = await read_capped(response, MAX_BOOTSTRAP_BYTES, "the bootstrap file")
            fetched = Bootstrap.parse(raw, self.url)
        except (httpx.HTTPError, BootstrapError, ProviderError) as exc:
            reason = type(exc).__name__ if isinstance(exc, httpx.HTTPError) else str(exc)
            self.last_error = reason
            log.warning(
                "RDAP bootstrap refresh from %s failed (%s); keeping the %s of %s",
                self.url,
                reason,
                self.current.origin,
                self.current.publication.date(),
            )
            return False
        self.last_error = None
        if fetched.publication >= self.current.publication:
            newer = fetched.publication > self.current.publication
            self.current = fetched
            try:
                save(self.data_dir, raw)
            except OSError as exc:  # the new copy is in use; only the next start loses it
                log.warning("could not cache the RDAP bootstrap in %s: %s", self.data_dir, exc)
            if newer:
                log.info(
                    "RDAP bootstrap refreshed: %d suffixes, published %s",
                    len(fetched.services),
                    fetched.publication.isoformat(),
                )
        else:
            try:
                os.utime(self.cache_path)
            except OSError:
                pass  # no cache (the shipped copy is newer than IANA's answer): nothing to date
        return True
