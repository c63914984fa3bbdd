"""DNS delegation check: is the registrable domain still delegated from its parent zone?

DNS is a confirming provider. NXDOMAIN for the domain's NS records is strong
evidence of a lapse (registries pull the delegation when a registration ends);
a delegation says only that the name is in the zone, not who holds it now, so
it never outweighs a registry's own status.
"""

from __future__ import annotations

import dns.asyncresolver
import dns.exception
import dns.inet
import dns.name
import dns.rdatatype
import dns.resolver

from streams.providers.base import ProviderError, Verdict
from streams.providers.hostname import safe_hostname


class DnsProvider:
    name = "dns"

    def __init__(self, nameservers: list[str] | None, port: int = 53, timeout: float = 5.0):
        if nameservers is None:
            # The system's resolv.conf; raises at startup if there is none.
            self._resolver = dns.asyncresolver.Resolver(configure=True)
            self._route = "dns:system"
        else:
            if not nameservers:
                raise ValueError("DnsProvider needs at least one nameserver, or None for the system resolver")
            for address in nameservers:
                if not dns.inet.is_address(address):
                    raise ValueError(f"DnsProvider nameserver {address!r} is not an IP address")
            self._resolver = dns.asyncresolver.Resolver(configure=False)
            self._resolver.nameservers = list(nameservers)
            self._route = "dns:" + ",".join(
                f"[{address}]:{port}" if ":" in address else f"{address}:{port}" for address in nameservers
            )
        self._resolver.port = port
        self._resolver.timeout = timeout  # per attempt; lifetime caps the whole check
        self._resolver.lifetime = timeout
        # No answer cache: a recheck months later must ask again, never see a stale delegation.
        self._resolver.cache = None

    def route(self, domain: str) -> str:
        return self._route

    async def check(self, domain: str) -> Verdict:
        safe_hostname(domain)
        # Absolute name and no search list: only ever the domain itself is asked about.
        qname = dns.name.from_text(domain, origin=dns.name.root)
        try:
            answer = await self._resolver.resolve(qname, dns.rdatatype.NS, search=False)
        except dns.resolver.NXDOMAIN:
            return Verdict("lapsed", ("nxdomain",), "not delegated: the parent zone answers NXDOMAIN", lifecycle=False)
        except dns.resolver.NoAnswer:
            return Verdict("inconclusive", ("no-ns",), "the name exists but has no NS records", lifecycle=False)
        except dns.exception.Timeout:
            raise ProviderError(f"dns lookup of {domain} timed out") from None
        except dns.resolver.NoNameservers:
            # Every resolver failed (SERVFAIL, REFUSED, malformed answer...).
            raise ProviderError(f"dns lookup of {domain} failed: no resolver gave a usable answer") from None
        except OSError as exc:  # the resolver cannot be reached at all
            raise ProviderError(f"dns lookup of {domain} failed: {type(exc).__name__}", server_wide=True) from None
        except dns.exception.DNSException as exc:
            raise ProviderError(f"dns lookup of {domain} failed: {type(exc).__name__}") from None
        nameservers = tuple(sorted({rdata.target.to_text(omit_final_dot=True).lower() for rdata in answer}))
        return Verdict(
            "active", ("delegated",), f"delegated to {', '.join(nameservers)}", nameservers=nameservers, lifecycle=False
        )

    async def aclose(self) -> None:
        # The resolver holds no sockets between queries.
        return None
