"""Instants as lapsewatch writes and reads them: RFC 3339 in UTC to the second, `2024-05-01T12:00:00Z`. Pure.

Events, dead letters, the /domains answer and the operator tools all format
times here, so they cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(moment: datetime | float) -> str:
    """`moment` (a datetime, or seconds since the epoch) as `YYYY-MM-DDTHH:MM:SSZ`; fractions are dropped."""
    if isinstance(moment, (int, float)):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def iso_utc_or_none(moment: float | None) -> str | None:
    """`iso_utc`, with None (a time not known) kept as None."""
    return None if moment is None else iso_utc(moment)


def parse_iso(text: str) -> datetime:
    """An ISO 8601 / RFC 3339 time (`Z` or `z` for UTC) as an aware datetime; one without an offset is UTC.

    ValueError when it is not such a time.
    """
    moment = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def epoch_seconds(text: str | None) -> float | None:
    """An ISO 8601 time as seconds since the epoch; None (or empty) stays None."""
    return parse_iso(text).timestamp() if text else None
