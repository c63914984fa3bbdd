"""RDAP where the registry publishes it, WHOIS (port 43) where no RDAP service is known.

The default provider: `pick(domain)` names the provider that serves a domain,
so the checker rates, breaks circuits and counts per real server and provider
("whois" in `lapsewatch_checks_total` shows the WHOIS share).
"""

from __future__ import annotations

from streams.providers.base import StatusProvider, Verdict
from streams.providers.rdap import RdapProvider
from streams.providers.whois import WhoisProvider
from streams.providers.whois_servers import server_for


class RdapThenWhois:
    name = "rdap"

    def __init__(self, rdap: RdapProvider, whois: WhoisProvider):
        self.rdap = rdap
        self.whois = whois
        self.bootstrap = rdap.bootstrap

    def pick(self, domain: str) -> StatusProvider:
        if self.rdap.bootstrap.base_for(domain) is None and server_for(self.whois.servers, domain) is not None:
            return self.whois
        return self.rdap  # it also says plainly when no RDAP service is known either

    def route(self, domain: str) -> str:
        return self.pick(domain).route(domain)

    def source_for(self, domain: str) -> str | None:
        provider = self.pick(domain)
        return "whois" if provider is self.whois else self.bootstrap.source_for(domain)

    async def check(self, domain: str) -> Verdict:
        return await self.pick(domain).check(domain)

    async def refresh_bootstrap(self) -> bool:
        return await self.rdap.refresh_bootstrap()

    async def aclose(self) -> None:
        await self.rdap.aclose()
        await self.whois.aclose()
