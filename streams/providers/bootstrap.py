"""Which RDAP server answers for which TLD: the IANA bootstrap registry (RFC 9224).

Three sources, newest `publication` first: a copy refreshed at run time from
IANA (cached in the data directory so a restart without network keeps it),
and the snapshot shipped in the package. Explicit configuration
(LAPSEWATCH_RDAP_SERVERS) overrides all of them. Only https service URLs are
taken from bootstrap data, as RFC 9224 §3 recommends.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path

import httpx
import orjson

from streams.providers.base import ProviderError
from streams.providers.httpio import read_capped

log = logging.getLogger("lapsewatch.rdap")

SHIPPED = "rdap-dns-bootstrap.json"
CACHE_NAME = "rdap-dns-bootstrap.json"
MAX_BOOTSTRAP_BYTES = 4 * 1024 * 1024


class BootstrapError(ValueError):
    pass


@dataclass(frozen=True)
class Bootstrap:
    publication: datetime
    services: dict[str, str]  # lowercase TLD (or longer suffix) -> base URL ending in "/"
    origin: str = "shipped"

    @classmethod
    def parse(cls, raw: bytes, origin: str, now: datetime | None = None) -> "Bootstrap":
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
            publication = publication.replace(tzinfo=timezone.utc)
        # A file from the future would outrank every later refresh for ever.
        if publication > (now or datetime.now(timezone.utc)) + timedelta(days=1):
            raise BootstrapError(f"{origin}: published in the future ({publication.isoformat()})")
        services: dict[str, str] = {}
        for entry in entries:
            if not (isinstance(entry, list) and len(entry) >= 2 and isinstance(entry[0], list)
                    and isinstance(entry[1], list)):
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


def shipped() -> Bootstrap:
    raw = resources.files("streams.data").joinpath(SHIPPED).read_bytes()
    return Bootstrap.parse(raw, "shipped snapshot")


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
    """The bootstrap in use, and how to refresh it."""

    url: str | None
    data_dir: Path
    overrides: dict[str, str] = field(default_factory=dict)
    current: Bootstrap = field(init=False)

    def __post_init__(self) -> None:
        self.current = newest(shipped(), cached(self.data_dir))

    def base_for(self, domain: str) -> str | None:
        labels = domain.lower().split(".")
        for start in range(len(labels)):
            base = self.overrides.get(".".join(labels[start:]))
            if base:
                return base
        return self.current.base_for(domain)

    async def refresh(self, client: httpx.AsyncClient) -> bool:
        """Fetch the bootstrap file; adopt and cache it when newer. False when it could not."""
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
            log.warning("RDAP bootstrap refresh from %s failed (%s); keeping the %s of %s", self.url, reason,
                        self.current.origin, self.current.publication.date())
            return False
        if fetched.publication > self.current.publication:
            self.current = fetched
            try:
                save(self.data_dir, raw)
            except OSError as exc:  # the new copy is in use; only the next start loses it
                log.warning("could not cache the RDAP bootstrap in %s: %s", self.data_dir, exc)
            log.info("RDAP bootstrap refreshed: %d suffixes, published %s", len(fetched.services),
                     fetched.publication.isoformat())
        return True
