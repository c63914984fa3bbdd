"""The timing policy of checks: how often, how soon after trouble, how long to confirm."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Policy:
    recheck_interval: float  # between routine checks
    recheck_jitter: float  # fraction of the interval rechecks spread over
    retry_min: float  # first delay after a failed check, doubling...
    retry_max: float  # ...up to this
    inconclusive_retry_min: float  # same, after an inconclusive verdict
    inconclusive_retry_max: float
    confirm_after: float  # delay before the check that confirms a lapse; 0 = none...
    confirm_provider: str | None  # ...unless a second provider is to confirm it: only its answer then does
    inconclusive_limit: float  # inconclusive this long: a lapse candidate, still to be confirmed
    login_freshness: float  # a login rechecks domains whose last verdict is older

    @property
    def confirms(self) -> bool:
        return self.confirm_after > 0 or self.confirm_provider is not None

    def may_confirm(self, provider: str) -> bool:
        """Whether `provider`'s lapsed answer can confirm a suspected lapse."""
        return self.confirm_provider is None or provider == self.confirm_provider
