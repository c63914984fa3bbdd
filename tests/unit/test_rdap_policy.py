"""Every RDAP status the specifications name, and the dates, → one verdict. Pure."""

from __future__ import annotations

import pytest

from streams.providers.rdap_policy import (
    HOLD,
    KNOWN_STATUSES,
    LAPSED,
    REGISTERED,
    DomainFacts,
    classify_rdap,
    normalise_status,
    unknown_statuses,
)

NOW = 1_790_000_000.0
DAY = 86400.0
FUTURE, PAST = NOW + 200 * DAY, NOW - 3 * DAY


def verdict(statuses, expires=FUTURE, registered=NOW - 900 * DAY):
    return classify_rdap(DomainFacts(tuple(statuses), registered, expires), NOW)


@pytest.mark.parametrize("status", sorted(REGISTERED))
def test_registered_statuses_are_active_while_not_expired(status):
    assert verdict([status]).verdict == "active"


@pytest.mark.parametrize("status", sorted(LAPSED))
def test_redemption_and_deletion_are_lapses_whatever_the_dates(status):
    result = verdict(["client transfer prohibited", status], expires=FUTURE)
    assert (result.verdict, result.grace) == ("lapsed", True)
    assert status in result.detail


@pytest.mark.parametrize("status", sorted(HOLD))
def test_a_hold_is_a_lapse_only_after_expiry_or_in_grace(status):
    assert verdict([status], expires=FUTURE).verdict == "active"
    assert verdict([status], expires=PAST).verdict == "lapsed"
    assert verdict([status, "auto renew period"], expires=FUTURE).verdict == "lapsed"


@pytest.mark.parametrize(
    "statuses, expires, expected, grace",
    [
        (["active"], PAST, "lapsed", True),  # expired and not renewed
        (["active"], None, "active", False),  # some registries publish no expiry
        (["auto renew period"], FUTURE, "active", True),  # renewed by the registry, the registrar may still delete
        ([], FUTURE, "active", False),  # status is optional (RFC 9083): a 200 domain object is a registered name
        ([], None, "active", False),
        ([], PAST, "lapsed", True),
        (["active", "frozen by court order"], FUTURE, "inconclusive", False),
        (["frozen by court order"], FUTURE, "inconclusive", False),
        (["frozen by court order"], None, "inconclusive", False),
        (["pending delete", "frozen by court order"], FUTURE, "lapsed", True),
        (["frozen by court order"], PAST, "lapsed", True),  # the passed expiry decides
        (["client hold", "frozen by court order"], PAST, "lapsed", True),
        (["server recover prohibited"], FUTURE, "active", False),  # AFNIC's own lock
        (["server recover prohibited"], PAST, "lapsed", True),
    ],
)
def test_dates_and_combinations(statuses, expires, expected, grace):
    result = verdict(statuses, expires=expires)
    assert (result.verdict, result.grace) == (expected, grace)


def test_the_verdict_carries_the_evidence():
    result = verdict(["client hold"], expires=PAST, registered=NOW - 400 * DAY)
    assert result.flags == ("client hold",)
    assert (result.registered_at, result.expires_at) == (NOW - 400 * DAY, PAST)
    assert "expired" in result.detail and "held by the registrar" in result.detail


@pytest.mark.parametrize(
    "raw, normal",
    [
        ("clientHold", "client hold"),
        ("serverTransferProhibited", "server transfer prohibited"),
        ("redemptionPeriod", "redemption period"),
        ("pendingDelete", "pending delete"),
        ("ok", "active"),
        ("Client Hold", "client hold"),
        ("auto_renew_period", "auto renew period"),
        ("  active ", "active"),
    ],
)
def test_epp_spellings_are_normalised(raw, normal):
    assert normalise_status(raw) == normal
    assert normal in KNOWN_STATUSES


@pytest.mark.parametrize(
    "status",
    [
        "server recover prohibited",
        "client recover prohibited",
        "serverRestoreProhibited",
        "registrant change prohibited",
    ],
)
def test_any_prohibited_value_is_a_lock(status):
    normal = normalise_status(status)
    assert verdict([normal]).verdict == "active"
    assert unknown_statuses((normal,)) == []


def test_an_unknown_value_beside_a_lapse_stays_in_the_evidence():
    result = verdict(["redemption period", "frozen by court order"])
    assert result.verdict == "lapsed"
    assert "frozen by court order" in result.flags and "frozen by court order" in result.detail
    expired = verdict(["frozen by court order"], expires=PAST)
    assert expired.verdict == "lapsed" and "frozen by court order" in expired.detail


def test_no_status_says_so_in_the_evidence():
    result = verdict([], expires=None)
    assert result.verdict == "active" and "publishes no status" in result.detail
