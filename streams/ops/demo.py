"""`lapsewatch demo`: the whole job on one machine, in about a minute.

An embedded broker, a worker process with the simulated provider, a few
accounts (some on lapsed domains), and the email-unverified events printed as
they arrive.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.kafka.broker import EmbeddedBroker, free_port

# (account, address, verified): who the demo platform has.
ACCOUNTS = [
    ("1001", "Alice@Mail.Defunct-Bakery.com", True),
    ("1002", "bob@defunct-bakery.com", True),
    ("1003", "carol@defunct-bakery.com", False),  # never verified: nothing to unverify
    ("1004", "dan@closed-agency.co.uk", True),
    ("1005", "erin@old-startup.io", True),
    ("1006", "frank@gmail.com", True),  # public mailbox: never checked
    ("1007", "grace@healthy-shop.com", True),
    ("1008", "heidi@registry-hiccup.net", True),  # inconclusive, then active: never a lapse
    ("1009", "ivan@flaky-dns.org", True),  # a provider error first: retried, then active
]
LOGIN_SNAPSHOT = ("1010", "judy@old-startup.io")  # an account that predates lapsewatch, seen at login
EXPECTED = {"1001", "1002", "1004", "1005", "1010"}


def _events() -> list[tuple[str, str, dict]]:
    out = []
    for account, address, verified in ACCOUNTS:
        out.append(
            (
                "email",
                account,
                {
                    "event_id": f"demo-{account}",
                    "type": "email_added",
                    "account_id": account,
                    "email": address,
                    "verified": verified,
                    "verified_at": "2023-03-01T09:00:00Z" if verified else None,
                },
            )
        )
    account, address = LOGIN_SNAPSHOT
    out.append(
        (
            "login",
            account,
            {
                "event_id": f"demo-login-{account}",
                "account_id": account,
                "emails": [{"email": address, "verified": True, "verified_at": "2022-06-01T09:00:00Z"}],
            },
        )
    )
    return out


async def _produce(bootstrap: str, topics: dict[str, str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for kind, key, value in _events():
            await producer.send_and_wait(topics[kind], key=key.encode(), value=orjson.dumps(value))
    finally:
        await producer.stop()


async def _watch(bootstrap: str, topics: dict[str, str], timeout: float, started: float) -> set[str]:
    consumer = AIOKafkaConsumer(
        topics["unverified"],
        topics["status"],
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        metadata_max_age_ms=500,
    )
    await consumer.start()
    seen: set[str] = set()
    try:
        deadline = time.monotonic() + timeout
        while seen != EXPECTED and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for tp, messages in batches.items():
                for message in messages:
                    event = orjson.loads(message.value)
                    data = event["data"]
                    elapsed = time.monotonic() - started
                    if tp.topic == topics["unverified"]:
                        seen.add(data["account_id"])
                        print(
                            f"[{elapsed:5.1f}s] email-unverified  account {data['account_id']:<5} "
                            f"{data['email']:<32} domain {data['domain']} ({' '.join(data['domain_status'])})"
                        )
                    else:
                        print(f"[{elapsed:5.1f}s]   domain {data['domain']:<22} {data['transition']}")
                    sys.stdout.flush()
    finally:
        await consumer.stop()
    return seen


def run_demo(timeout: float) -> int:
    started = time.monotonic()
    broker = EmbeddedBroker().start()
    print(f"embedded Tansu broker at {broker.url}")
    workdir = Path(tempfile.mkdtemp(prefix="lapsewatch-demo-"))
    scenario = workdir / "scenario.json"
    scenario.write_bytes(resources.files("streams.data").joinpath("demo-scenario.json").read_bytes())
    topics = {
        "email": "accounts.email-events",
        "login": "accounts.logins",
        "unverified": "accounts.email-unverified",
        "status": "domains.status",
    }
    env = {key: value for key, value in os.environ.items() if not key.startswith("LAPSEWATCH_")}
    env.update(
        {
            "LAPSEWATCH_BROKER": broker.url,
            "LAPSEWATCH_APP_ID": "lapsewatch-demo",
            "LAPSEWATCH_DATA_DIR": str(workdir / "data"),
            "LAPSEWATCH_WEB_PORT": str(free_port()),
            "LAPSEWATCH_STATUS_PROVIDER": "simulated",
            "LAPSEWATCH_SIMULATED_SCENARIO": str(scenario),
            "LAPSEWATCH_CONFIRM_AFTER": "5s",
            "LAPSEWATCH_TICK": "0.5s",
            # The simulated provider is in process: the politeness meant for real registries only slows the show.
            "LAPSEWATCH_SERVER_RATE": "100",
            "LAPSEWATCH_RETRY_MIN": "2s",
            "LAPSEWATCH_INCONCLUSIVE_RETRY_MIN": "2s",
            "LAPSEWATCH_BROKER_SESSION_TIMEOUT": "6s",
            "LAPSEWATCH_BROKER_REBALANCE_TIMEOUT": "3s",
            "LAPSEWATCH_BROKER_HEARTBEAT_INTERVAL": "1s",
        }
    )
    log_path = workdir / "worker.log"
    print(f"worker log: {log_path}\nlapse confirmation after 5 s; waiting for {len(EXPECTED)} email-unverified events")
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "streams", "worker", "-l", "info"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            bootstrap = broker.bootstrap
            asyncio.run(_produce(bootstrap, topics))
            seen = asyncio.run(_watch(bootstrap, topics, timeout, started))
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
            broker.stop()
    total = time.monotonic() - started
    if seen == EXPECTED:
        print(f"done in {total:.1f}s: {len(seen)} addresses unverified, the others left alone")
        return 0
    print(f"only {len(seen)} of {len(EXPECTED)} events after {total:.1f}s; see {log_path}", file=sys.stderr)
    return 1
