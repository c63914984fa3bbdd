"""Dates as WHOIS registries write them, read into epoch seconds. Pure.

Each registry writes its own format, so each format is a named reader and a
registry lists the ones it uses. A date that does not read is None: missing
evidence, never a failure. A date without a time of day stands for the whole
day, so it ends at the next midnight (in the registry's time zone): a
registration is never called expired while its last day runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeAlias

# Dates a registry could mean: later ones are typos, and would not print in UTC.
EARLIEST = 0.0
LATEST = datetime(9000, 1, 1, tzinfo=UTC).timestamp()

MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
    )
}

_TIME = r"(?:[T ]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?)?"
# A zone after the time: Z, UTC, +01:00, +0100, (UTC+8), (JST) is left to the registry's offset.
_ZONE = re.compile(r"\s*(?:(Z|UTC|GMT)\b|([+-])(\d{2}):?(\d{2})\b|\(UTC([+-]\d{1,2})\))", re.IGNORECASE)


# (year, month, day, hour, minute, second); no hour: a date without a time of day.
Fields: TypeAlias = tuple[int, int, int, int | None, int, int]
# The match → its fields, or None when a part does not read.
FieldReader: TypeAlias = Callable[[re.Match[str]], Fields | None]


@dataclass(frozen=True, slots=True)
class DateFormat:
    name: str
    pattern: re.Pattern[str]
    fields: FieldReader


def _numbers(year: int, month: int, day: int) -> FieldReader:
    def fields(match: re.Match[str]) -> Fields:
        hour, minute, second = match.group(4), match.group(5), match.group(6)
        return (
            int(match.group(year)),
            int(match.group(month)),
            int(match.group(day)),
            None if hour is None else int(hour),
            int(minute or 0),
            int(second or 0),
        )

    return fields


def _named_month(year: int, month: int, day: int) -> FieldReader:
    def fields(match: re.Match[str]) -> Fields | None:
        number = MONTHS.get(match.group(month)[:3].lower())
        if number is None:
            return None
        return int(match.group(year)), number, int(match.group(day)), None, 0, 0

    return fields


ISO = DateFormat("2027-05-31T22:09:44Z", re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})" + _TIME), _numbers(1, 2, 3))
YMD_SLASH = DateFormat("2027/05/31", re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})" + _TIME), _numbers(1, 2, 3))
# .pl "2027.05.31 00:00:00" and .kr "2027. 05. 31."
YMD_DOT = DateFormat("2027.05.31", re.compile(r"(\d{4})\.\s?(\d{1,2})\.\s?(\d{1,2})\.?" + _TIME), _numbers(1, 2, 3))
# .fi "31.5.2027 10:46:30"
DMY_DOT = DateFormat("31.5.2027", re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})" + _TIME), _numbers(3, 2, 1))
# .tr "2027-May-31."
YBD_DASH = DateFormat("2027-May-31", re.compile(r"(\d{4})-([A-Za-z]{3,9})-(\d{1,2})\b"), _named_month(1, 2, 3))
# .uk "31-May-2027"
DBY_DASH = DateFormat("31-May-2027", re.compile(r"(\d{1,2})-([A-Za-z]{3,9})-(\d{4})\b"), _named_month(3, 2, 1))


def read_date(text: str, formats: tuple[DateFormat, ...], utc_offset_hours: float = 0.0) -> float | None:
    """The first of `formats` that reads the start of `text`, as epoch seconds; None if none does.

    `utc_offset_hours` is the registry's own zone, for dates that name none.
    """
    value = text.strip()
    for form in formats:
        match = form.pattern.match(value)
        if match is None:
            continue
        fields = form.fields(match)
        if fields is None:
            return None
        year, month, day, hour, minute, second = fields
        offset = _zone(value[match.end() :], utc_offset_hours)
        try:
            moment = datetime(year, month, day, hour or 0, minute, second, tzinfo=UTC)
        except ValueError:
            return None
        if hour is None:
            moment += timedelta(days=1)  # the whole day
        stamp = moment.timestamp() - offset * 3600
        return stamp if EARLIEST <= stamp <= LATEST else None
    return None


def _zone(rest: str, default: float) -> float:
    match = _ZONE.match(rest)
    if match is None:
        return default
    if match.group(1):
        return 0.0
    if match.group(2):
        hours = int(match.group(3)) + int(match.group(4)) / 60
        return hours if match.group(2) == "+" else -hours
    return float(int(match.group(5)))
