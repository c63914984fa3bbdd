"""Dates as WHOIS registries write them → epoch seconds. Pure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streams.providers.whois_dates import DBY_DASH, DMY_DOT, ISO, YBD_DASH, YMD_DOT, YMD_SLASH, read_date


def utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    "text, formats, offset, expected",
    [
        ("2027-05-31T22:09:44Z", (ISO,), 0, utc(2027, 5, 31, 22, 9, 44)),
        ("2027-05-31T22:09:44.123Z", (ISO,), 0, utc(2027, 5, 31, 22, 9, 44)),
        ("2027-05-31T23:00:00+01:00", (ISO,), 0, utc(2027, 5, 31, 22)),
        ("2027-05-31 15:50:04", (ISO,), 8, utc(2027, 5, 31, 7, 50, 4)),  # CNNIC writes Beijing time
        ("2027-11-11 00:00:00 (UTC+8)", (ISO,), 0, utc(2027, 11, 10, 16)),  # TWNIC names its zone
        ("2027-05-31", (ISO,), 0, utc(2027, 6, 1)),  # a whole day ends at the next midnight
        ("2027-05-31", (ISO,), 1, utc(2027, 5, 31, 23)),  # ... the registry's midnight
        ("2027/08/03", (YMD_SLASH,), 9, utc(2027, 8, 3, 15)),  # JPRS, in JST
        ("2027.05.21 00:00:00", (YMD_DOT,), 0, utc(2027, 5, 21)),  # NASK
        ("2027. 03. 14.", (YMD_DOT,), 0, utc(2027, 3, 15)),  # KISA
        ("19.6.2027 10:46:30", (DMY_DOT,), 0, utc(2027, 6, 19, 10, 46, 30)),  # Traficom
        ("2027-Aug-23.", (YBD_DASH,), 0, utc(2027, 8, 24)),  # TRABIS
        ("05-Nov-2027", (DBY_DASH,), 0, utc(2027, 11, 6)),  # Nominet
        ("  2027-05-31T22:09:44Z  ", (ISO,), 0, utc(2027, 5, 31, 22, 9, 44)),
    ],
)
def test_each_registrys_format(text, formats, offset, expected):
    assert read_date(text, formats, offset) == expected


@pytest.mark.parametrize(
    "text, formats",
    [
        ("", (ISO,)),
        ("soon", (ISO,)),
        ("2027-02-30", (ISO,)),  # no such day
        ("2027-13-01T00:00:00Z", (ISO,)),
        ("2027-Foo-23.", (YBD_DASH,)),
        ("10000-01-01T00:00:00Z", (ISO,)),
        ("9999-12-31T00:00:00Z", (ISO,)),  # later than any registry means
        ("31.05.2027", (ISO, YMD_DOT)),  # a format the registry does not use
        ("2027/05/31", (ISO,)),
    ],
)
def test_what_does_not_read_is_none(text, formats):
    assert read_date(text, formats) is None
