"""Values servers send that we parse: Retry-After and RDAP dates. Pure."""

from __future__ import annotations

import time

import pytest

from streams.providers.httpio import MAX_RETRY_AFTER, parse_retry_after
from streams.providers.rdap import parse_date

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 30 ", 30.0),
        ("0", 0.0),
        ("9" * 400, MAX_RETRY_AFTER),  # as good as forever: we look again within a day
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER),
        ("inf", None),
        ("nan", None),
        ("1e400", None),
        ("-5", None),
        ("2.5", None),
        ("soon", None),
        ("", None),
    ],
)
def test_retry_after_is_delay_seconds_or_an_http_date_and_bounded(header, seconds):
    assert parse_retry_after(header, NOW) == seconds


def test_retry_after_as_a_date_counts_from_now():
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(NOW + 90))
    assert parse_retry_after(date, NOW) == 90.0


@pytest.mark.parametrize(
    ("text", "year"),
    [
        ("2024-05-01T12:00:00Z", 2024),
        ("2024-05-01t12:00:00z", 2024),  # RFC 3339 §5.6 allows lowercase t and z
        ("2024-05-01T12:00:00.123+02:00", 2024),
        ("2024-05-01", 2024),  # a naive date is UTC
    ],
)
def test_rdap_dates_parse(text, year):
    assert time.gmtime(parse_date(text)).tm_year == year


@pytest.mark.parametrize(
    "text",
    [
        "9999-12-31T23:59:59-05:00",
        "10000-01-01T00:00:00Z",
        "9500-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "1969-12-31T00:00:00Z",
        "yesterday",
        "",
        None,
        20240501,
        ["2024-05-01"],
    ],
)
def test_impossible_rdap_dates_are_no_date(text):
    assert parse_date(text) is None


def test_a_lone_status_string_is_one_status_not_its_letters():
    from streams.providers.rdap import domain_facts

    facts = domain_facts({"status": "clientHold", "events": "none", "nameservers": {"ldhName": "x"}})
    assert facts.statuses == ("client hold",) and facts.nameservers == () and facts.expires_at is None
