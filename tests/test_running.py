"""The ways to run lapsewatch that the README promises."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.kafka.broker import free_port
from tests.harness import Bus, Worker, WorkerConfig, email_event, unique, unique_domain, wait_for

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "streams" / "data" / "demo-scenario.json"


def _clean_env(**updates: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LAPSEWATCH_")}
    env.update(updates)
    return env


async def test_worker_without_a_broker_starts_an_embedded_one_and_stops_on_sigterm(tmp_path):
    log_path = tmp_path / "worker.log"
    env = _clean_env(
        LAPSEWATCH_STATUS_PROVIDER="simulated",
        LAPSEWATCH_SIMULATED_SCENARIO=str(SCENARIO),
        LAPSEWATCH_WEB_PORT=str(free_port()),
        LAPSEWATCH_DATA_DIR=str(tmp_path / "data"),
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streams", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            await wait_for(
                lambda: "Worker ready" in log_path.read_text() or process.poll() is not None,
                60,
                "the worker",
                lambda: log_path.read_text()[-3000:],
            )
            text = log_path.read_text()
            assert "started an embedded Tansu broker at kafka://127.0.0.1:" in text
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(30)
    assert code == 0


async def test_faust_command_line_runs_the_same_app(broker_url, fastly, tmp_path):
    config = WorkerConfig(broker_url, fastly.url, tmp_path)
    log_path = tmp_path / "faust.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "faust", "-A", "streams.app", "worker", "-l", "info"],
            env=config.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
        )
        bus = await Bus(broker_url.split("://", 1)[1]).start()
        try:
            await wait_for(
                lambda: "Worker ready" in log_path.read_text() or process.poll() is not None,
                60,
                "the faust worker",
                lambda: log_path.read_text()[-3000:],
            )
            await bus.follow(config.topics["email_unverified"])
            domain = unique_domain("faustcli")
            fastly.scenario.set(domain, "inactive")
            await bus.send(
                config.topics["email_events"], "f1", email_event("email_added", "f1", f"f@{domain}", verified=True)
            )
            await wait_for(
                lambda: bus.values(config.topics["email_unverified"]),
                30,
                "the event",
                lambda: log_path.read_text()[-3000:],
            )
        finally:
            await bus.close()
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0


async def test_first_deployment_processes_what_the_input_topics_already_hold(broker_url, fastly, tmp_path):
    config = WorkerConfig(broker_url, fastly.url, tmp_path)
    admin = AIOKafkaAdminClient(bootstrap_servers=broker_url.split("://", 1)[1])
    await admin.start()
    # The platform's topics predate lapsewatch, with partition counts of their own.
    await admin.create_topics([NewTopic(config.topics["email_events"], 3, 1), NewTopic(config.topics["logins"], 5, 1)])
    await admin.close()
    bus = await Bus(broker_url.split("://", 1)[1]).start()
    domains = [unique_domain(f"history{i}") for i in range(6)]
    accounts = [unique(f"old{i}") for i in range(6)]
    for account, domain in zip(accounts, domains, strict=True):
        fastly.scenario.set(domain, "inactive")
        await bus.send(
            config.topics["email_events"], account, email_event("email_added", account, f"x@{domain}", verified=True)
        )
    snapshot_domain, snapshot_account = unique_domain("history-login"), unique("old-login")
    fastly.scenario.set(snapshot_domain, "inactive")
    await bus.send(
        config.topics["logins"],
        snapshot_account,
        {
            "event_id": unique("login"),
            "account_id": snapshot_account,
            "emails": [{"email": f"y@{snapshot_domain}", "verified": True}],
        },
    )

    worker = await Worker(config).start()
    try:
        await bus.follow(config.topics["email_unverified"])
        expected = set(accounts) | {snapshot_account}
        await wait_for(
            lambda: {v["data"]["account_id"] for v in bus.values(config.topics["email_unverified"])} == expected,
            30,
            "an event for every retained account",
            worker.log_tail,
        )
    finally:
        worker.stop()
        await bus.close()


def test_demo_prints_the_events_within_a_minute():
    result = subprocess.run(
        [sys.executable, "-m", "streams", "demo", "--timeout", "60"],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    unverified = [line for line in result.stdout.splitlines() if "] email-unverified" in line]
    assert len(unverified) == 5
    assert not any("frank@gmail.com" in line or "grace@" in line or "carol@" in line for line in unverified)
    assert "done in" in result.stdout
