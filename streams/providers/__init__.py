"""Domain status providers, chosen by LAPSEWATCH_STATUS_PROVIDER."""

from __future__ import annotations

from streams.providers.base import ProviderError, StatusProvider, Verdict
from streams.settings import Settings

__all__ = ["ProviderError", "StatusProvider", "Verdict", "provider_from_settings"]


def provider_from_settings(settings: Settings) -> StatusProvider:
    if settings.provider == "fastly":
        from streams.providers.fastly import FastlyProvider

        assert settings.fastly_api_key
        return FastlyProvider(settings.fastly_api_url, settings.fastly_api_key, settings.provider_timeout,
                              max_connections=settings.check_concurrency)
    if settings.provider == "simulated":
        from streams.providers.scenario import Scenario
        from streams.providers.simulated import SimulatedProvider

        assert settings.simulated_scenario
        return SimulatedProvider(Scenario.load(settings.simulated_scenario), settings.provider_timeout)
    raise ValueError(f"unknown provider {settings.provider!r}")
