"""Fastly Domain Research API, Status endpoint (precise variant)."""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

import httpx
import orjson

from streams.providers.base import SERVER_WIDE_STATUSES, ProviderError, Verdict, report_unknown
from streams.providers.fastly_policy import classify_fastly, unknown_flags
from streams.providers.hostname import safe_hostname
from streams.providers.httpio import HEADERS, Clients, read_capped, retry_after, unreachable

STATUS_PATH = "/domain-management/v1/tools/status"
MAX_BODY = 1024 * 1024  # a status answer is a few hundred bytes


class FastlyProvider:
    name = "fastly"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float,
        *,
        verify: ssl.SSLContext | bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 32,
    ):
        self._server = urlsplit(base_url).netloc
        self._clients = Clients(
            max_connections,
            transport,
            base_url=base_url,
            headers={**HEADERS, "Fastly-Key": api_key, "Accept": "application/json"},
            timeout=timeout,
            verify=verify,
            follow_redirects=False,
        )

    def route(self, domain: str) -> str:
        return self._server

    async def check(self, domain: str) -> Verdict:
        safe_hostname(domain)
        try:
            async with self._clients.next().stream("GET", STATUS_PATH, params={"domain": domain}) as response:
                if response.status_code != 200:
                    raise ProviderError(
                        f"fastly answered HTTP {response.status_code} for {domain}",
                        retry_after=retry_after(response),
                        server_wide=response.status_code in SERVER_WIDE_STATUSES,
                    )
                body = await read_capped(response, MAX_BODY, f"fastly answer for {domain}")
        except httpx.TimeoutException as exc:
            raise ProviderError(f"fastly timed out for {domain}", server_wide=unreachable(exc)) from None
        except httpx.HTTPError as exc:
            # The exception text names only the URL, never the request headers.
            raise ProviderError(
                f"fastly request for {domain} failed: {type(exc).__name__}", server_wide=unreachable(exc)
            ) from None
        verdict = parse_status_body(body, domain)
        report_unknown(self.name, unknown_flags(verdict.flags))
        return verdict

    async def aclose(self) -> None:
        await self._clients.aclose()


def parse_status_body(body: bytes, domain: str) -> Verdict:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ProviderError(f"fastly answer for {domain} is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("status"), str):
        raise ProviderError(f"fastly answer for {domain} has no status string")
    answered = document.get("domain")
    if isinstance(answered, str) and answered.lower().rstrip(".") != domain:
        raise ProviderError(f"fastly answered about {answered!r} when asked about {domain}")
    if not document["status"].strip():
        raise ProviderError(f"fastly answer for {domain} has an empty status")
    return classify_fastly(document["status"])
