"""WHOIS answers → verdicts or refusals, registry by registry. Pure: no sockets.

The answers are in each registry's own format (tests/whois_answers.py). A
refusal is always the server's failure and never "not found"; anything the
policy cannot read is inconclusive with evidence, never a lapse.
"""

from __future__ import annotations

import time

import pytest

from streams.providers.base import ProviderError
from streams.providers.rdap_policy import NOT_FOUND_FLAG
from streams.providers.whois_policy import (
    MAX_EXCERPT,
    classify_whois,
    decode_answer,
    query_line,
    read_answer,
    referral_target,
)
from streams.providers.whois_registries import (
    BY_HOST,
    GENERIC,
    HOLD,
    LAPSE,
    REGISTERED,
    REGISTRIES,
    RESERVED,
    registry_for,
)
from tests import whois_answers as answers

NOW = 1_790_000_000.0
DAY = 86400.0
CASES = answers.cases(NOW)


def classify(case: answers.Case):
    return classify_whois(decode_answer(case.raw, case.server, case.domain), case.server, case.domain, NOW)


@pytest.mark.parametrize("case", [c for c in CASES if c.verdict != "refused"], ids=str)
def test_each_registry_answer_gets_its_verdict(case):
    verdict = classify(case)
    assert verdict.verdict == case.verdict, verdict.detail
    if case.flags is not None:
        assert verdict.flags == case.flags
    assert verdict.grace is case.grace
    if case.expires_in is not None:
        assert verdict.expires_at is not None, verdict.detail
        # Whole-day dates end at the next midnight in the registry's zone: within two days of the day written.
        assert abs(verdict.expires_at - (NOW + case.expires_in * DAY)) <= 2 * DAY
    if case.verdict == "inconclusive":
        assert "the answer began:" in verdict.detail  # the evidence
    assert verdict.detail


@pytest.mark.parametrize("case", [c for c in CASES if c.verdict == "refused"], ids=str)
def test_a_refusal_is_the_servers_failure_never_a_verdict(case):
    with pytest.raises(ProviderError) as raised:
        classify(case)
    assert raised.value.server_wide is True
    assert raised.value.retry_after == case.retry_after
    assert case.server in str(raised.value)


def test_the_not_found_verdict_is_rdaps():
    case = next(c for c in CASES if c.name == "de-free")
    verdict = classify(case)
    assert (verdict.verdict, verdict.flags) == ("lapsed", (NOT_FOUND_FLAG,))
    assert "DENIC" in verdict.detail and verdict.grace is False


def test_every_registry_has_a_registered_and_a_not_found_answer():
    """Each table row is exercised by the catalogue, in its own format."""
    by_registry: dict[str, set[str]] = {}
    for case in CASES:
        by_registry.setdefault(registry_for(case.server, case.domain).name, set()).add(case.verdict)
    for registry in REGISTRIES:
        assert {"active", "lapsed"} <= by_registry.get(registry.name, set()), registry.name


def test_the_catalogue_covers_the_largest_tlds_without_rdap():
    tlds = {case.domain.rsplit(".", 1)[-1] for case in CASES}
    assert {
        "de",
        "cn",
        "ru",
        "eu",
        "it",
        "io",
        "co",
        "me",
        "us",
        "ch",
        "jp",
        "se",
        "be",
        "at",
        "dk",
        "nz",
        "tw",
        "kr",
        "tr",
        "fi",
        "ir",
    } <= tlds


def _status_rows():
    for registry in REGISTRIES:
        record = answers.RECORDS.get(registry.name)
        if record is None:
            continue
        for key, (kind, _) in registry.states.items():
            yield pytest.param(registry, record, key, kind, id=f"{registry.name}:{key}")


@pytest.mark.parametrize("registry, record, status, kind", list(_status_rows()))
def test_every_registry_status_means_what_the_registry_publishes(registry, record, status, kind):
    """Each row of each registry's status table, written in the registry's format."""
    server = registry.hosts[0]
    domain = f"statustest.{registry.tlds[0]}"
    written = " ".join(word.capitalize() for word in status.split())

    def verdict(days: float):
        return classify_whois(decode_answer(record(domain, written, days, NOW), server, domain), server, domain, NOW)

    later = verdict(200)
    if kind == LAPSE:
        assert (later.verdict, later.grace) == ("lapsed", True), later.detail
    elif kind == RESERVED:
        assert later.verdict == "inconclusive", later.detail
    elif kind == REGISTERED:
        assert later.verdict == "active", later.detail
    elif kind == HOLD:
        assert later.verdict == "active", later.detail
        if registry.expiry:
            assert verdict(-3).verdict == "lapsed"  # held and expired
    assert later.flags == (written,)


def test_registries_with_statuses_have_a_record_builder():
    for registry in REGISTRIES:
        if registry.states and registry.name not in ("TCI (.ru, .su, .рф)",):
            assert registry.name in answers.RECORDS, registry.name


def test_an_unknown_status_is_inconclusive_and_reported():
    raw = answers.punktum("nordlys-bager.dk", "Frozen By Court", answers.on(NOW, 100, "%Y-%m-%d"))
    answer = read_answer(
        decode_answer(raw, "whois.punktum.dk", "nordlys-bager.dk"), "whois.punktum.dk", "nordlys-bager.dk"
    )
    assert answer.unknown == ["Frozen By Court"]
    verdict = classify_whois(raw.decode(), "whois.punktum.dk", "nordlys-bager.dk", NOW)
    assert verdict.verdict == "inconclusive" and "unrecognised statuses" in verdict.detail


def test_a_lapse_status_wins_over_an_unknown_one():
    raw = answers.nic_it("trattoria-sole.it", "pendingDelete / frozenByCourt", answers.on(NOW, 10, "%Y-%m-%d"))
    assert classify_whois(raw.decode(), "whois.nic.it", "trattoria-sole.it", NOW).verdict == "lapsed"


def test_an_expired_registration_is_a_lapse_and_an_unexpired_one_is_not():
    for days, expected in ((-1, "lapsed"), (1, "active")):
        raw = answers.punktum("nordlys-bager.dk", "Active", answers.on(NOW, days, "%Y-%m-%d"))
        assert classify_whois(raw.decode(), "whois.punktum.dk", "nordlys-bager.dk", NOW).verdict == expected


def test_a_date_only_expiry_lasts_its_whole_day():
    today = answers.on(NOW, 0, "%Y-%m-%d")
    raw = answers.punktum("nordlys-bager.dk", "Active", today)
    assert classify_whois(raw.decode(), "whois.punktum.dk", "nordlys-bager.dk", NOW).verdict == "active"


def test_pl_takes_the_renewal_date_never_the_option_date():
    raw = answers.nask(
        "wisla-piekarnia.pl", answers.on(NOW, 171, "%Y.%m.%d 00:00:00"), answers.on(NOW, -100, "%Y.%m.%d 12:01:14")
    )
    verdict = classify_whois(raw.decode(), "whois.dns.pl", "wisla-piekarnia.pl", NOW)
    assert verdict.verdict == "active" and verdict.expires_at > NOW + 160 * DAY


def test_icann_format_takes_the_registrys_expiry_never_the_registrars():
    raw = answers.icann("cafe-andino.co", ["ok"], answers.on(NOW, 87, "%Y-%m-%dT%H:%M:%SZ"))
    assert b"Registrar Registration Expiration Date: 2020" in raw
    verdict = classify_whois(raw.decode(), "whois.registry.co", "cafe-andino.co", NOW)
    assert verdict.verdict == "active" and verdict.expires_at > NOW


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\r\n\r\n",
        "<html><body>Bad gateway</body></html>",
        "% This server is being maintained\n% please stand by\n",
        "Domain Name: cafe-andino.co\n",  # a record without status or date, from a registry that has both
        "\x00\x01\x02 binary noise",
    ],
)
def test_anything_unreadable_is_inconclusive_with_a_capped_excerpt(text):
    verdict = classify_whois(text + "x" * 5000, "whois.registry.co", "cafe-andino.co", NOW)
    assert verdict.verdict == "inconclusive"
    excerpt = verdict.detail.split("the answer began: ", 1)[1]
    assert len(excerpt) <= MAX_EXCERPT + 2  # the repr's quotes


def test_the_excerpt_skips_legal_notices():
    raw = answers.nic_at("konditorei-gruber.at").decode().replace("domain:", "domian:")
    verdict = classify_whois(raw, "whois.nic.at", "konditorei-gruber.at", NOW)
    assert verdict.verdict == "inconclusive"
    assert "Copyright" not in verdict.detail and "domian:" in verdict.detail


def test_the_excerpt_carries_nobodys_contact_data():
    """It goes into events on domains.status: names, addresses, mail and phone numbers stay out."""
    raw = (
        "Domian:     pasticceria-ferri.it\nStatus:     weird\nRegistrant\n  Organization: Pasticceria Ferri\n"
        "  Address:  Via Roma 8\n            Modena\nAdmin Contact: Maria Ferri\nTech Email: it@ferri.example\n"
        "Phone: +39.059123456\nRegistrant Name: Maria Ferri\n[Name] Maria\nRegistrar: Aruba S.p.A.\n"
    )
    verdict = classify_whois(raw, "whois.nic.it", "pasticceria-ferri.it", NOW)
    assert verdict.verdict == "inconclusive"
    for private in ("Ferri S", "Via Roma", "Modena", "Maria", "ferri.example", "059123456"):
        assert private not in verdict.detail, private
    assert "Domian:" in verdict.detail and "Registrar: Aruba" in verdict.detail


def test_an_answer_about_another_domain_decides_nothing():
    raw = answers.punktum("someone-else.dk", "Deactivated", answers.on(NOW, -20, "%Y-%m-%d"))
    verdict = classify_whois(raw.decode(), "whois.punktum.dk", "nordlys-bager.dk", NOW)
    assert verdict.verdict == "inconclusive" and "someone-else.dk" in verdict.detail


def test_a_not_found_line_about_another_domain_is_not_our_not_found():
    raw = answers.iis_not_found("someone-else.se")
    assert classify_whois(raw.decode(), "whois.iis.se", "ingen-har.se", NOW).verdict == "inconclusive"


def test_not_found_beside_a_records_facts_is_never_a_lapse():
    raw = answers.icann("tidepool.io", ["clientTransferProhibited"], answers.on(NOW, 100, "%Y-%m-%dT%H:%M:%SZ"))
    text = "Domain not found.\n" + raw.decode()
    verdict = classify_whois(text, "whois.nic.io", "tidepool.io", NOW)
    assert verdict.verdict == "inconclusive" and "not registered, yet" in verdict.detail


def test_a_refusal_beside_a_not_found_line_is_still_a_refusal():
    text = "No Data Found\r\nquery rate limit exceeded, try again later\r\n"
    with pytest.raises(ProviderError) as raised:
        classify_whois(text, "whois.nic.us", "nobody-here.us", NOW)
    assert raised.value.server_wide is True


def test_a_not_found_phrase_of_another_registry_is_not_read():
    """Each registry's own not-found words only: DENIC never says "No Data Found"."""
    verdict = classify_whois("Domain: frei-und-leer.de\nNo Data Found\n", "whois.denic.de", "frei-und-leer.de", NOW)
    assert verdict.verdict == "inconclusive"


@pytest.mark.parametrize(
    "line",
    [
        "% Error: 55000000002 Connection refused; access control limit reached.",
        "-3: IP address blocked",
        "-2: Excessive querying",
        "-1: Still in grace period, wait 60 seconds",
        "% Maximum queries per hour reached (100)",
        "# Too many connections.",
        "request limit exceeded for 192.0.2.1",
        "    The WHOIS query quota for 192.0.2.1 has been exceeded",
        "You have exceeded this limit",
        "You have exceeded allowed connection rate.",
        "Your connection limit exceeded. Please slow down and try again later.",
        "WHOIS LIMIT EXCEEDED - SEE WWW.PIR.ORG/WHOIS FOR DETAILS",
        "Lookup quota exceeded.",
        "Service temporarily unavailable.",
        "query_status: 440 Request Denied",
        "Access denied",
        "Your IP address has been blocked",
        "Too many connection attempts. Please try again in a few seconds.",
        "Please try again later.",
    ],
)
def test_refusals_as_servers_word_them(line):
    with pytest.raises(ProviderError) as raised:
        classify_whois(f"{line}\r\n", "whois.example-registry.test", "shop.test", NOW)
    assert raised.value.server_wide is True


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("-1: Still in grace period, wait 7777777 seconds\n", 86400.0),  # at most a day
        ("The WHOIS query quota has been exceeded\nand will be replenished in 50 seconds.\n", 50.0),
        ("Too many requests. Try again in 2 minutes.\n", 120.0),
        ("# Too many connections.\n", None),
    ],
)
def test_a_refusal_carries_the_wait_the_server_asked_for(text, seconds):
    with pytest.raises(ProviderError) as raised:
        classify_whois(text, "whois.example-registry.test", "shop.test", NOW)
    assert raised.value.retry_after == seconds


def test_legal_notices_that_speak_of_limits_are_no_refusal():
    case = next(c for c in CASES if c.name == "uk-registered")
    assert b"exceeding query rate or volume" in case.raw and b"Access may be withdrawn" in case.raw
    assert classify(case).verdict == "active"


def test_generic_registries_read_icanns_common_format():
    raw = answers.icann("harbour-books.example", ["clientHold"], answers.on(NOW, -3, "%Y-%m-%dT%H:%M:%SZ"))
    verdict = classify_whois(raw.decode(), "whois.unknown-registry.test", "harbour-books.example", NOW)
    assert registry_for("whois.unknown-registry.test", "harbour-books.example") is GENERIC
    assert (verdict.verdict, verdict.flags) == ("lapsed", ("clientHold",))


@pytest.mark.parametrize(
    "line",
    [
        'No match for "NOBODY-HERE.EXAMPLE".',
        "NOT FOUND",
        "No Data Found",
        "No entries found for the selected source(s).",
        "Domain not found.",
        "The queried object does not exist: DOMAIN NOT FOUND",
        "Domain nobody-here.example not registered.",
    ],
)
def test_generic_not_found_lines(line):
    verdict = classify_whois(
        f"{line}\n>>> Last update of WHOIS database: 2025-11-30T03:51:48Z <<<\n",
        "whois.unknown-registry.test",
        "nobody-here.example",
        NOW,
    )
    assert (verdict.verdict, verdict.flags) == ("lapsed", (NOT_FOUND_FLAG,))


def test_a_generic_not_found_line_naming_another_domain_is_inconclusive():
    verdict = classify_whois(
        'No match for "SOMEONE-ELSE.EXAMPLE".\n', "whois.unknown-registry.test", "nobody-here.example", NOW
    )
    assert verdict.verdict == "inconclusive"


@pytest.mark.parametrize(
    "text",
    [
        "[Expires on]" + " " * 100_000 + "\n[Status] Active\n",
        "Domain Status: " + "a" * 120_000,
        "Registration status:\n" + "    x\n" * 20_000,
        ("Domain Name: a.jp\n" + "\t" * 50 + "\n") * 2_000,
        "% " + "-1:" * 40_000,
        "query_status: " * 9_000,
        "".join(f"Domain Status: s{i}\n" for i in range(7_000)),
    ],
)
def test_hostile_answers_are_read_in_linear_time(text):
    started = time.perf_counter()
    for server, domain in (
        ("whois.jprs.jp", "a.jp"),
        ("whois.nic.uk", "a.co.uk"),
        ("whois.nic.io", "a.io"),
        ("whois.irs.net.nz", "a.nz"),
    ):
        try:
            classify_whois(text, server, domain, NOW)
        except ProviderError:
            pass
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize(
    "server, domain, line",
    [
        ("whois.denic.de", "baeckerei-lindner.de", b"-T dn,ace baeckerei-lindner.de\r\n"),
        ("whois.jprs.jp", "sakura-pan.jp", b"sakura-pan.jp/e\r\n"),
        ("whois.verisign-grs.com", "harbour-books.com", b"domain harbour-books.com\r\n"),
        ("whois.nic.it", "pasticceria-ferri.it", b"pasticceria-ferri.it\r\n"),
        ("127.0.0.1:4343", "baeckerei-lindner.de", b"-T dn,ace baeckerei-lindner.de\r\n"),  # a mirror of DENIC
    ],
)
def test_query_lines_follow_each_registry(server, domain, line):
    assert query_line(server, domain) == line


@pytest.mark.parametrize(
    "raw, server, domain, text",
    # Each row names the encoding its registry sends, UTF-8 too, so the table reads as one (hence noqa: UP012).
    [
        ("Jürgen".encode("latin-1"), "whois.denic.de", "x.de", "Jürgen"),
        ("Jürgen".encode("utf-8"), "whois.denic.de", "x.de", "Jürgen"),  # noqa: UP012
        ("Yılmaz Şti.".encode("cp1254"), "whois.trabis.gov.tr", "x.com.tr", "Yılmaz Şti."),
        ("한빛제과".encode("euc-kr"), "whois.kr", "x.kr", "한빛제과"),
        ("한빛제과".encode("utf-8"), "whois.kr", "x.kr", "한빛제과"),  # noqa: UP012
        ("Mökki".encode("latin-1"), "127.0.0.1:4343", "x.fi", "Mökki"),
    ],
)
def test_answers_decode_in_the_registrys_codepage(raw, server, domain, text):
    assert decode_answer(raw, server, domain) == text


@pytest.mark.parametrize("server", ["whois.kr", "whois.trabis.gov.tr", "whois.denic.de", "whois.unknown.test"])
def test_no_byte_sequence_makes_decoding_raise(server):
    garbage = bytes(range(256)) * 4 + b"\xff\xfe\x80\x81\xc3(\xa0\xa1\xe2\x28\xa1"
    assert isinstance(decode_answer(garbage, server, "x.kr"), str)


def test_a_referral_is_followed_only_to_a_known_server_and_never_back():
    raw = answers.icann_thin("harbour-books.example", "whois.registrar.example").decode()
    answer = read_answer(raw, "whois.registry.example", "harbour-books.example")
    assert answer.referral == "whois.registrar.example"
    assert (
        referral_target(answer, {"whois.registrar.example": "whois.registrar.example:4343"})
        == "whois.registrar.example:4343"
    )
    assert referral_target(answer, {"whois.other.example": "whois.other.example"}) is None
    back = read_answer(
        answers.icann_thin("harbour-books.example", "whois.registry.example").decode(),
        "whois.registry.example",
        "harbour-books.example",
    )
    assert referral_target(back, {"whois.registry.example": "whois.registry.example"}) is None


@pytest.mark.parametrize(
    "line",
    [
        "Registrar WHOIS Server: ",
        "Registrar WHOIS Server: not a host!",
        "Registrar WHOIS Server: http://evil.example/x y",
    ],
)
def test_a_referral_must_name_a_host(line):
    answer = read_answer(f"Domain Name: a.example\n{line}\n", "whois.registry.example", "a.example")
    assert answer.referral is None


def test_registry_rows_are_found_by_host_then_tld():
    assert registry_for("whois.denic.de", "x.de").name == "DENIC"
    assert registry_for("WHOIS.DENIC.DE", "x.com").name == "DENIC"  # the host decides
    assert registry_for("127.0.0.1", "x.de").name == "DENIC"  # a mirror: the TLD decides
    assert registry_for("127.0.0.1", "x.test") is GENERIC
    assert all(host == host.lower() for host in BY_HOST)


@pytest.mark.parametrize(
    "statuses, days, expected, why",
    [
        (["serverHold", "autoRenewPeriod"], 30, "lapsed", "in grace after expiry and serverHold"),
        (["clientHold"], -2, "lapsed", "expired and clientHold"),
        (["clientHold"], 30, "active", "registered and not expired; clientHold"),
        (["autoRenewPeriod"], 30, "active", "grace period"),
    ],
)
def test_holds_follow_rdaps_rules(statuses, days, expected, why):
    raw = answers.cnnic("jiu-dian.cn", statuses, answers.on(NOW, days, "%Y-%m-%d 15:50:04"))
    verdict = classify_whois(raw.decode(), "whois.cnnic.cn", "jiu-dian.cn", NOW)
    assert verdict.verdict == expected and why in verdict.detail
