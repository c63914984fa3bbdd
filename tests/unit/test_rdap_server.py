"""The test RDAP server itself: HTTPS with the test CA, each answer form, the
plan's sequences and prefixes, the bootstrap file and the request record."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import orjson
import pytest

from tests import rdap_documents as docs
from tests.rdap_server import RdapServer
from tests.tls import certificate_authority


@pytest.fixture
def server(rdap):
    return rdap


@pytest.fixture
async def client():
    async with httpx.AsyncClient(
        verify=certificate_authority().client_ssl_context(), follow_redirects=False, timeout=5
    ) as client:
        yield client


def name(label: str = "shop") -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}.test"


async def test_a_json_answer_is_rdap_json_over_verified_https(server, client):
    domain = name()
    document = docs.domain_object(domain, ["active"], "2015-04-01T00:00:00Z", "2030-04-01T00:00:00Z")
    server.set(domain, {"json": document})
    response = await client.get(server.base_url("registry") + f"domain/{domain}")
    assert server.base_url("registry") == f"https://127.0.0.1:{server.port}/registry/"
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/rdap+json")
    assert response.json() == document
    assert response.json()["objectClassName"] == "domain" and response.json()["ldhName"] == domain


async def test_an_unplanned_name_is_an_rfc9083_404(server, client):
    response = await client.get(server.base_url("anything") + f"domain/{name('unknown')}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/rdap+json")
    body = response.json()
    assert body["errorCode"] == 404 and body["title"] == "Not Found" and isinstance(body["description"], list)


async def test_status_answers_carry_retry_after_and_an_error_body(server, client):
    domain = name("busy")
    server.set(domain, {"status": 429, "retry_after": "2"})
    response = await client.get(server.base_url() + f"domain/{domain}")
    assert response.status_code == 429 and response.headers["retry-after"] == "2"
    assert response.json()["errorCode"] == 429
    server.set(domain, {"status": 503})
    response = await client.get(server.base_url() + f"domain/{domain}")
    assert response.status_code == 503 and "retry-after" not in response.headers


async def test_a_redirect_names_its_location(server, client):
    domain = name("moved")
    target = server.base_url("elsewhere") + f"domain/{domain}"
    server.set(domain, {"redirect": target, "status": 301}, prefix="registry")
    server.set(domain, {"json": docs.as_name(docs.PENDING_DELETE, domain)}, prefix="elsewhere")
    response = await client.get(server.base_url("registry") + f"domain/{domain}")
    assert response.status_code == 301 and response.headers["location"] == target
    followed = await client.get(target)
    assert followed.json()["status"] == ["pending delete"] and followed.json()["ldhName"] == domain
    assert (server.count(domain, prefix="registry"), server.count(domain, prefix="elsewhere")) == (1, 1)


async def test_a_sequence_plays_in_order_and_its_last_answer_repeats(server, client):
    domain = name("flaky")
    server.set(domain, [{"status": 500}, {"json": docs.as_name(docs.THICK_ACTIVE, domain)}, {"status": 404}])
    url = server.base_url() + f"domain/{domain}"
    assert [(await client.get(url)).status_code for _ in range(4)] == [500, 200, 404, 404]
    assert server.count(domain) == 4
    server.set(domain, {"status": 503})  # a new plan starts over
    assert server.count(domain) == 0 and (await client.get(url)).status_code == 503


async def test_body_shapes_raw_truncated_and_huge(server, client):
    domain = name("odd")
    url = server.base_url() + f"domain/{domain}"
    server.set(
        domain,
        [
            {"raw": "<html>maintenance</html>", "content_type": "text/html"},
            {"truncated": docs.REREGISTERED},
            {"huge": 200_000},
        ],
    )
    raw = await client.get(url)
    assert (raw.status_code, raw.headers["content-type"], raw.text) == (200, "text/html", "<html>maintenance</html>")
    cut = await client.get(url)
    assert cut.status_code == 200 and orjson.dumps(docs.REREGISTERED).startswith(cut.content)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(cut.content)
    huge = await client.get(url)
    assert huge.status_code == 200 and "content-length" not in huge.headers and len(huge.content) == 200_000
    assert orjson.loads(huge.content)["objectClassName"] == "domain"


async def test_the_bootstrap_file(server, client):
    document = docs.dns_bootstrap({"test": server.base_url("registry")}, publication="2099-01-01T00:00:00Z")
    server.serve_bootstrap(document)
    response = await client.get(server.bootstrap_url)
    assert response.status_code == 200 and response.json() == document
    assert response.json()["services"] == [[["test"], [server.base_url("registry")]]]
    server.serve_bootstrap(None)
    assert (await client.get(server.bootstrap_url)).status_code == 503


async def test_requests_are_recorded(server, client):
    domain = name("seen")
    before = len(server.requests)
    await client.get(
        server.base_url("registry") + f"domain/{domain}",
        params={"x": "1"},
        headers={"Accept": "application/rdap+json", "User-Agent": "lapsewatch-test"},
    )
    method, path, query, headers = server.requests[-1]
    assert (method, path, query) == ("GET", f"/registry/domain/{domain}", "x=1")
    assert headers.get("Accept") == headers["accept"] == "application/rdap+json"
    assert "user-agent" in headers and headers["User-Agent"] == "lapsewatch-test"
    assert len(server.requests) == before + 1 and server.count(domain) == 1 and server.count(domain.upper()) == 1


async def test_stop_cuts_a_hang_short():
    server = RdapServer().start()
    domain = name("hang")
    server.set(domain, {"hang": 30})
    async with httpx.AsyncClient(verify=certificate_authority().client_ssl_context(), timeout=0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(server.base_url() + f"domain/{domain}")
    assert server.count(domain) == 1
    started = time.monotonic()
    await asyncio.to_thread(server.stop)
    assert time.monotonic() - started < 2
