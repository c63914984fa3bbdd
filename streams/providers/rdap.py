"""RDAP (RFC 7480-7484, RFC 9083): the registry's own answer, free and keyless.

The registry's server comes from the bootstrap (RFC 9224). A 404 there means
the name is not registered. A thin registry answers with fewer facts and a
`related` link to the registrar's server, which is asked only for the dates
the registry left out; the registry's statuses always decide.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import httpx
import orjson

from streams.providers.base import SERVER_WIDE_STATUSES, ProviderError, Verdict, report_unknown
from streams.providers.bootstrap import BootstrapSource
from streams.providers.gate import Gate
from streams.providers.hostname import safe_hostname
from streams.providers.httpio import HEADERS, Clients, read_capped, retry_after, unreachable
from streams.providers.rdap_policy import (
    DomainFacts,
    classify_rdap,
    no_service,
    normalise_status,
    not_registered,
    unknown_statuses,
)

log = logging.getLogger("lapsewatch.rdap")

MAX_BODY = 1024 * 1024  # a domain object is a few kilobytes
MAX_REDIRECTS = 3
RDAP_JSON = "application/rdap+json"
NO_SERVICE = "none"


# Dates a registry could mean: later ones are typos or attacks, and would not print in UTC.
EARLIEST = 0.0
LATEST = datetime(9000, 1, 1, tzinfo=UTC).timestamp()


def parse_date(value: object) -> float | None:
    """An RFC 3339 date as epoch seconds; None for anything else (it is evidence, never worth a failure)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip().upper().replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        stamp = moment.timestamp()
    except (ValueError, OverflowError):
        return None
    return stamp if EARLIEST <= stamp <= LATEST else None


def _list(value: object) -> list:
    """A JSON array member as a list: a lone string is a list of one, anything else is empty."""
    if isinstance(value, list):
        return value
    return [value] if isinstance(value, str) else []


def _events(document: dict) -> dict[str, float]:
    dates: dict[str, float] = {}
    for event in _list(document.get("events")):
        if isinstance(event, dict) and isinstance(event.get("eventAction"), str):
            moment = parse_date(event.get("eventDate"))
            if moment is not None:
                action = event["eventAction"].strip().lower()
                dates[action] = max(moment, dates.get(action, moment))
    return dates


def domain_facts(document: dict) -> DomainFacts:
    statuses = tuple(normalise_status(s) for s in _list(document.get("status")) if isinstance(s, str))
    dates = _events(document)
    # A re-registration event dates the current registration when a registry reports one.
    registered = max((dates[a] for a in ("registration", "reregistration") if a in dates), default=None)
    expires = dates.get("expiration", dates.get("registrar expiration"))
    nameservers = tuple(
        sorted(
            ns["ldhName"].lower().rstrip(".")
            for ns in _list(document.get("nameservers"))
            if isinstance(ns, dict) and isinstance(ns.get("ldhName"), str)
        )
    )
    return DomainFacts(statuses, registered, expires, nameservers)


def related_link(document: dict, domain: str) -> str | None:
    """The registrar's copy of this domain, as a thin registry links to it."""
    for link in _list(document.get("links")):
        if not isinstance(link, dict) or link.get("rel") != "related":
            continue
        href, kind = link.get("href"), str(link.get("type") or "")
        if (
            isinstance(href, str)
            and RDAP_JSON in kind
            and href.startswith("https://")
            and urlsplit(href).path.rstrip("/").lower().endswith("/domain/" + domain)
        ):
            return href
    return None


class RdapProvider:
    name = "rdap"

    def __init__(
        self,
        bootstrap: BootstrapSource,
        timeout: float,
        *,
        verify: ssl.SSLContext | bool = True,
        gate: Gate | None = None,
        max_connections: int = 32,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.bootstrap = bootstrap
        self.gate = gate
        self._clients = Clients(
            max_connections,
            transport,
            headers={**HEADERS, "Accept": f"{RDAP_JSON}, application/json"},
            timeout=timeout,
            verify=verify,
            follow_redirects=False,
        )

    def route(self, domain: str) -> str:
        base = self.bootstrap.base_for(domain)
        return urlsplit(base).netloc if base else NO_SERVICE

    async def refresh_bootstrap(self) -> bool:
        return await self.bootstrap.refresh(self._clients.next())

    async def check(self, domain: str) -> Verdict:
        safe_hostname(domain)
        base = self.bootstrap.base_for(domain)
        if base is None:
            return no_service(domain.rsplit(".", 1)[-1])
        status, document = await self._fetch(urljoin(base, "domain/" + domain), domain)
        if status == 404:
            return not_registered()
        facts = domain_facts(document)
        link = related_link(document, domain)
        if link and (facts.registered_at is None or facts.expires_at is None):
            facts = await self._with_registrar_dates(facts, link, domain)
        report_unknown(self.name, unknown_statuses(facts.statuses))
        return classify_rdap(facts, _now())

    async def _with_registrar_dates(self, facts: DomainFacts, link: str, domain: str) -> DomainFacts:
        """Add the dates a thin registry left out, as evidence only; the registrar failing costs only those."""
        host = urlsplit(link).netloc
        try:
            if self.gate is not None:
                await self.gate.enter(self.name, f"{self.name} {host}")
            status, document = await self._fetch(link, domain)
            extra = domain_facts(document) if status == 200 else None
        except ProviderError as exc:
            log.info("registrar RDAP for %s gave nothing: %s", domain, exc)
            return facts
        except Exception:  # whatever the registrar sends, the registry's answer stands
            log.exception("registrar RDAP answer for %s could not be read", domain)
            return facts
        if extra is None:
            return facts
        return replace(
            facts,
            registrar_registered_at=extra.registered_at,
            registrar_expires_at=extra.expires_at,
            nameservers=facts.nameservers or extra.nameservers,
        )

    async def _fetch(self, url: str, domain: str) -> tuple[int, dict]:
        """GET an RDAP domain object, following https redirects; (404, {}) when absent."""
        for _ in range(MAX_REDIRECTS + 1):
            host = urlsplit(url).netloc
            try:
                async with self._clients.next().stream("GET", url) as response:
                    if response.status_code in (301, 302, 303, 307, 308):
                        target = urljoin(url, response.headers.get("Location", ""))
                        if not target.startswith("https://"):
                            raise ProviderError(f"rdap server {host} redirected {domain} to a non-https URL")
                        url = target
                        continue
                    if response.status_code == 404:
                        return 404, {}
                    if response.status_code != 200:
                        raise ProviderError(
                            f"rdap server {host} answered HTTP {response.status_code} for {domain}",
                            retry_after=retry_after(response),
                            server_wide=response.status_code in SERVER_WIDE_STATUSES,
                        )
                    body = await read_capped(response, MAX_BODY, f"rdap answer from {host} for {domain}")
            except httpx.TimeoutException as exc:
                raise ProviderError(
                    f"rdap server {host} timed out for {domain}", server_wide=unreachable(exc)
                ) from None
            except httpx.HTTPError as exc:
                raise ProviderError(
                    f"rdap request to {host} for {domain} failed: {type(exc).__name__}", server_wide=unreachable(exc)
                ) from None
            document = _domain_object(body, host, domain)
            return (404, {}) if document is None else (200, document)
        raise ProviderError(f"rdap servers redirected {domain} more than {MAX_REDIRECTS} times")

    async def aclose(self) -> None:
        await self._clients.aclose()


def _domain_object(body: bytes, host: str, domain: str) -> dict | None:
    """The domain object; None when the body is RFC 9083's error object for "not found" (sent with
    HTTP 200 by some servers: the registry's own word, as a 404 is)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ProviderError(f"rdap answer from {host} for {domain} is not JSON") from None
    if not isinstance(document, dict):
        raise ProviderError(f"rdap answer from {host} for {domain} is not an object")
    kind = document.get("objectClassName")
    if kind is None and "errorCode" in document:  # an error object sent with HTTP 200
        if document["errorCode"] == 404:
            return None
        raise ProviderError(f"rdap server {host} answered {domain} with error {document['errorCode']!r}")
    if kind is not None and kind != "domain":
        raise ProviderError(f"rdap answer from {host} for {domain} is a {kind!r}, not a domain")
    named = document.get("ldhName")
    if isinstance(named, str) and named.lower().rstrip(".") != domain:
        raise ProviderError(f"rdap server {host} answered about {named!r} when asked about {domain}")
    return document


def _now() -> float:
    return datetime.now(UTC).timestamp()
