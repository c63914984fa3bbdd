"""TLS end to end (issue 15, item 4): a worker, `backfill`, `lag` and a control command over a real TLS connection.

Tansu speaks plaintext only, so this module starts its own Tansu advertising the port of tests/tls_proxy.py's TLS
terminator: every client is told that port, and no record reaches the broker but through TLS. The proxy's
certificate comes from the test CA (tests/tls.py); with mTLS on it refuses a client without a certificate from it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import trustme

from streams.kafka.broker import EmbeddedBroker, free_port
from streams.settings import BrokerSecurity
from tests.harness import FASTLY_TEST_KEY, Bus, Worker, WorkerConfig, email_event, unique, unique_domain, wait_for
from tests.tls import certificate_authority
from tests.tls_proxy import TlsProxy

pytestmark = pytest.mark.broker

T = 60  # seconds any single outcome may take on a loaded machine
CLIENT_NAME = "lapsewatch-worker.test"


@dataclass
class Certs:
    ca_file: Path
    cert_file: Path  # a client certificate the test CA issued, for mTLS
    key_file: Path
    other_ca_file: Path  # a CA that did not sign the proxy's certificate

    def key_body(self) -> str:
        """A line from the middle of the private key: it must appear in no output."""
        lines = self.key_file.read_text().splitlines()
        return lines[len(lines) // 2]


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Certs:
    ca = certificate_authority()
    folder = tmp_path_factory.mktemp("tls-certs")
    client = ca.ca.issue_cert(CLIENT_NAME, common_name=CLIENT_NAME)
    cert_file, key_file, other_ca_file = folder / "client.pem", folder / "client.key", folder / "other-ca.pem"
    cert_file.write_bytes(b"".join(pem.bytes() for pem in client.cert_chain_pems))
    key_file.write_bytes(client.private_key_pem.bytes())
    key_file.chmod(0o600)
    trustme.CA(organization_name="not the broker's CA").cert_pem.write_to_path(str(other_ca_file))
    return Certs(Path(ca.ca_pem_path), cert_file, key_file, other_ca_file)


@pytest.fixture(scope="module")
def proxy() -> Iterator[TlsProxy]:
    """A Tansu of this module's own, reachable only through the TLS proxy: it advertises the proxy's port."""
    port = free_port()
    broker = EmbeddedBroker(advertised_port=port).start()
    tls = TlsProxy(broker.port, certificate_authority(), port=port).start()
    yield tls
    tls.stop()
    broker.stop()


def security(certs: Certs, *, client_cert: bool, ca_file: Path | None = None) -> dict[str, str]:
    env = {"LAPSEWATCH_BROKER_SECURITY_PROTOCOL": "SSL", "LAPSEWATCH_BROKER_CA_FILE": str(ca_file or certs.ca_file)}
    if client_cert:
        env |= {"LAPSEWATCH_BROKER_CERT_FILE": str(certs.cert_file), "LAPSEWATCH_BROKER_KEY_FILE": str(certs.key_file)}
    return env


async def lapsewatch(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """`python -m streams ARGS` with `env`; the deadline turns a hang into a failure."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streams",
        *args,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), T)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"lapsewatch {' '.join(args)} did not finish within {T}s") from None
    return process.returncode or 0, out.decode(), err.decode()


@pytest.mark.parametrize("mtls", [False, True], ids=["tls", "mtls"])
async def test_worker_backfill_lag_and_control_over_tls(proxy, certs, fastly, tmp_path, mtls):
    proxy.require_client_cert = mtls
    seen = len(proxy.accepted)
    broker_url = f"kafka://{proxy.bootstrap}"
    config = WorkerConfig(broker_url, fastly.url, tmp_path, security(certs, client_cert=mtls))
    env = config.env()
    worker = await Worker(config).start()
    options = BrokerSecurity(
        "SSL",
        ca_file=certs.ca_file,
        cert_file=certs.cert_file if mtls else None,
        key_file=certs.key_file if mtls else None,
    ).client_options()
    bus = await Bus(proxy.bootstrap, options).start()
    outputs: list[str] = []
    try:
        topics = config.topics
        await bus.follow(topics["email_unverified"], topics["domain_status"], topics["dead_letter"])

        def unverified(account: str) -> list[dict]:
            return bus.values(topics["email_unverified"], lambda v: v["data"]["account_id"] == account)

        # An email event in: the worker applies it, finds the domain lapsed and sends email-unverified out.
        lapsed = unique_domain("tls-lapsed")
        fastly.scenario.set(lapsed, "inactive")
        account = unique("tls-acct")
        await bus.send(
            topics["email_events"], account, email_event("email_added", account, f"a@{lapsed}", verified=True)
        )
        await wait_for(lambda: unverified(account), T, "email-unverified for the event sent", worker.log_tail)

        # backfill: a file's rows produced by the CLI over TLS, unverified by the worker.
        backfilled = unique_domain("tls-backfilled")
        fastly.scenario.set(backfilled, "inactive")
        rows = [unique("tls-bf") for _ in range(3)]
        accounts = tmp_path / "accounts.jsonl"
        accounts.write_bytes(
            b"".join(
                orjson.dumps(
                    {"account_id": a, "email": f"{a}@{backfilled}", "verified": True, "verified_at": "2024-05-01"}
                )
                + b"\n"
                for a in rows
            )
        )
        code, out, err = await lapsewatch(env, "backfill", str(accounts))
        outputs += [out, err]
        assert code == 0, err
        await wait_for(lambda: all(unverified(a) for a in rows), T, "the backfilled rows unverified", worker.log_tail)

        # A control command over TLS: applied by the worker, audited on domains.status.
        allowed = unique_domain("tls-allowed")
        code, out, err = await lapsewatch(env, "allow", allowed, "--by", "tls-test", "--reason", "over TLS")
        outputs += [out, err]
        assert code == 0, err

        def audit() -> list[dict]:
            return bus.values(
                topics["domain_status"],
                lambda v: v["subject"] == allowed and v["data"]["transition"] == "control",
            )

        await wait_for(audit, T, "the allow's audit record", worker.log_tail)
        assert audit()[0]["data"]["control"]["requested_by"] == "tls-test"

        # lag over TLS: both groups measured, and the input topic holds the four records sent.
        code, out, err = await lapsewatch(env, "lag", "--json")
        outputs += [out, err]
        assert code == 0, err
        report = orjson.loads(out)
        assert {g["group"] for g in report["groups"]} == {config.app_id, f"{config.app_id}-input"}
        assert not report["missing_topics"]
        ends = [p["end"] for p in report["partitions"] if p["topic"] == topics["email_events"]]
        assert sum(ends) == 1 + len(rows), report["partitions"]
    finally:
        await bus.close()
        worker.stop()

    # Everyone talked through the proxy, and with mTLS each presented the test CA's client certificate.
    clients = proxy.accepted[seen:]
    assert clients, "no connection went through the TLS proxy"
    if mtls:
        assert all(subject and CLIENT_NAME in subject for subject in clients), clients
    else:
        assert not any(clients), clients
    assert not bus.values(topics["dead_letter"])
    for text in [worker.log(), *outputs]:
        assert certs.key_body() not in text and "PRIVATE KEY" not in text and FASTLY_TEST_KEY not in text


async def test_mtls_refuses_a_client_without_a_certificate(proxy, certs, fastly, tmp_path):
    proxy.require_client_cert = True
    refused = len(proxy.refused)
    config = WorkerConfig(f"kafka://{proxy.bootstrap}", fastly.url, tmp_path, security(certs, client_cert=False))
    code, out, err = await lapsewatch(config.env(), "lag", "--json")
    assert code == 1 and "Error: cannot reach the broker at" in err, (out, err)
    assert "LAPSEWATCH_BROKER_CERT_FILE" in " ".join(err.split()), err  # where to look, though TLS could not say
    # The worker stops at once rather than retrying for ever.
    worker = Worker(config)
    assert await worker.run_until_exit(T) != 0, worker.log_tail()
    assert "Unable to bootstrap" in worker.log(), worker.log_tail()
    # TLS 1.3 tells the client only that the connection closed; the proxy saw why.
    assert proxy.refused[refused:], "the proxy refused no handshake"
    assert all("PEER_DID_NOT_RETURN_A_CERTIFICATE" in why for why in proxy.refused[refused:]), proxy.refused


async def test_a_client_trusting_another_ca_fails_clearly(proxy, certs, fastly, tmp_path):
    proxy.require_client_cert = False
    wrong_ca = security(certs, client_cert=True, ca_file=certs.other_ca_file)
    config = WorkerConfig(f"kafka://{proxy.bootstrap}", fastly.url, tmp_path, wrong_ca)
    code, out, err = await lapsewatch(config.env(), "lag", "--json")
    assert code == 1 and "Error: cannot reach the broker at" in err, (out, err)
    assert "certificate verify failed" in err, err
    worker = Worker(config)
    assert await worker.run_until_exit(T) != 0, worker.log_tail()
    assert "certificate verify failed" in worker.log(), worker.log_tail()
    for text in (out, err, worker.log()):
        assert certs.key_body() not in text and "PRIVATE KEY" not in text and FASTLY_TEST_KEY not in text
