"""Domain status providers, chosen by LAPSEWATCH_STATUS_PROVIDER (and LAPSEWATCH_CONFIRM_PROVIDER).

May import only each other and streams.core; streams/domains/provider_setup.py builds them from the settings.
"""

from __future__ import annotations

from streams.providers.base import ProviderError, StatusProvider, Verdict

__all__ = ["ProviderError", "StatusProvider", "Verdict"]
