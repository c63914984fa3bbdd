"""The default provider: RDAP where a registry publishes it, WHOIS where no RDAP service is known,
against a real WHOIS server on loopback."""

from __future__ import annotations

import uuid

import pytest

from streams.domains.provider_setup import build_gate, build_provider
from streams.ops.inspect import check_now
from streams.settings import load_settings
from tests import whois_answers as answers
from tests.whois_server import WhoisServer


@pytest.fixture(scope="module")
def whois():
    server = WhoisServer().start()
    yield server
    server.stop()


def settings_for(whois: WhoisServer, tmp_path, **extra: str):
    return load_settings(
        {
            "LAPSEWATCH_DATA_DIR": str(tmp_path),
            "LAPSEWATCH_RDAP_BOOTSTRAP_URL": "off",
            "LAPSEWATCH_WHOIS_SERVERS": f"eu={whois.server},it={whois.server}",
            "LAPSEWATCH_PROVIDER_TIMEOUT": "2s",
            **extra,
        }
    )


def name(tld: str) -> str:
    return f"atelier-{uuid.uuid4().hex[:8]}.{tld}"


async def test_rdap_answers_where_it_can_and_whois_where_no_rdap_service_is_known(whois, tmp_path):
    settings = settings_for(whois, tmp_path)
    chain = build_provider("rdap", settings, build_gate(settings))
    try:
        assert chain.pick("shop.com").name == "rdap"  # IANA's file lists .com
        assert chain.pick("shop.de").name == "rdap"  # DENIC's own RDAP server, from the registry table
        assert chain.pick("shop.eu").name == "whois" and chain.route("shop.eu") == whois.server
        assert chain.pick("shop.cn").name == "whois"  # the shipped WHOIS table
        assert chain.source_for("shop.eu") == "whois" and chain.source_for("shop.com") == "iana"
        unserved = await chain.check("shop.aq")  # neither RDAP nor WHOIS: said plainly, never a lapse
        assert unserved.verdict == "inconclusive" and "no RDAP service" in unserved.detail
    finally:
        await chain.aclose()


async def test_whois_servers_go_at_their_own_much_lower_rate(whois, tmp_path):
    gate = build_gate(settings_for(whois, tmp_path, LAPSEWATCH_WHOIS_SERVER_RATE="0.5"))
    assert gate.server_rates == {"whois": 0.5} and gate.slowest == 0.5


async def test_check_names_whois_as_the_provider_that_answered(whois, tmp_path):
    domain = name("eu")
    whois.set(domain, {"bytes": answers.eurid_status(domain, "AVAILABLE")})
    [answer] = await check_now(domain, ["rdap"], settings_for(whois, tmp_path))
    assert (answer["provider"], answer["verdict"], answer["flags"]) == ("whois", "lapsed", ["not found"])
    assert answer["answered_by"] == {"server": whois.server, "source": "whois"}
    assert len(whois.queries_for(domain)) == 1
