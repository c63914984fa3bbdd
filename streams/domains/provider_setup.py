"""The status providers and their rate gate, built from the settings.

Here, not in streams/providers, because it reads Settings, which sit above the
providers; the worker's checker, `lapsewatch check` and `coverage` build theirs here.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

from streams.providers import StatusProvider
from streams.providers.gate import Gate
from streams.settings import Settings

if TYPE_CHECKING:  # imported where used: a command builds only the providers it asks for
    from streams.providers.chain import RdapThenWhois
    from streams.providers.whois import WhoisProvider


def build_gate(settings: Settings) -> Gate:
    """The request rates of every provider, WHOIS servers at their own, much lower, rate."""
    return Gate(settings.provider_rate, settings.server_rate, {"whois": settings.whois_server_rate})


def _verify(settings: Settings) -> ssl.SSLContext | bool:
    return ssl.create_default_context(cafile=str(settings.ca_bundle)) if settings.ca_bundle else True


def build_rdap(settings: Settings, gate: Gate | None = None) -> RdapThenWhois:
    """RDAP, with WHOIS for the TLDs that have no RDAP service: the provider named "rdap"."""
    from streams.providers.bootstrap import BootstrapSource
    from streams.providers.chain import RdapThenWhois
    from streams.providers.rdap import RdapProvider

    source = BootstrapSource(settings.rdap_bootstrap_url, settings.data_dir, dict(settings.rdap_servers))
    rdap = RdapProvider(
        source,
        settings.provider_timeout,
        verify=_verify(settings),
        gate=gate,
        max_connections=settings.check_concurrency,
    )
    return RdapThenWhois(rdap, _whois(settings, gate))


def build_provider(name: str, settings: Settings, gate: Gate | None = None) -> StatusProvider:
    if name == "rdap":
        return build_rdap(settings, gate)
    verify = _verify(settings)
    if name == "whois":
        return _whois(settings, gate)
    if name == "fastly":
        from streams.providers.fastly import FastlyProvider

        assert settings.fastly_api_key
        return FastlyProvider(
            settings.fastly_api_url,
            settings.fastly_api_key,
            settings.provider_timeout,
            verify=verify,
            max_connections=settings.check_concurrency,
        )
    if name == "dns":
        from streams.providers.dns import DnsProvider

        resolvers = settings.dns_resolvers
        return DnsProvider(
            [host for host, _ in resolvers] or None, resolvers[0][1] if resolvers else 53, settings.provider_timeout
        )
    if name == "simulated":
        from streams.providers.scenario import Scenario
        from streams.providers.scenario_provider import SimulatedProvider

        assert settings.simulated_scenario
        return SimulatedProvider(Scenario.load(settings.simulated_scenario), settings.provider_timeout)
    raise ValueError(f"unknown provider {name!r}")


def _whois(settings: Settings, gate: Gate | None) -> WhoisProvider:
    from streams.providers.whois import WhoisProvider
    from streams.providers.whois_servers import shipped_whois_table

    shipped = shipped_whois_table()
    return WhoisProvider(
        {**shipped.servers, **settings.whois_servers}, settings.provider_timeout, gate=gate, unserved=shipped.none
    )
