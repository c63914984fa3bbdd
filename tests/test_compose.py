"""docker-compose.yml and deploy/prometheus.yml, checked without a Docker engine.

The file is parsed and its structure checked against the code (settings, the
contract's topics, the web endpoints), and one worker is started with the
compose workers' environment on the embedded broker.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import urllib.request
from functools import cache
from pathlib import Path
from typing import ClassVar

import yaml

from streams.settings import DEFAULT_TOPICS, PREFIX, load_settings
from tests.harness import FASTLY_TEST_KEY, WorkerConfig, email_event, unique, unique_domain, wait_for

ROOT = Path(__file__).resolve().parent.parent
T = 45  # seconds: generous for shared CI machines; every wait ends as soon as its condition holds
# Official images, pinned to a release.
PINNED = {"apache/kafka": r"\d+\.\d+\.\d+", "prom/prometheus": r"v\d+\.\d+\.\d+"}


@cache
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def services() -> dict[str, dict]:
    return compose()["services"]


def workers() -> dict[str, dict]:
    """The services that run `lapsewatch worker` (the image's default command)."""
    found = {
        name: s
        for name, s in services().items()
        if "build" in s and "command" not in s and "LAPSEWATCH_APP_ID" in s.get("environment", {})
    }
    assert len(found) == 2, sorted(found)
    return found


def env_of(service: dict) -> dict[str, str]:
    env = service["environment"]
    assert isinstance(env, dict), "environment as a mapping, so values stay readable"
    for key, value in env.items():
        assert isinstance(value, str), f"{key}: quote it, compose wants strings ({value!r})"
    return env


def secret_file(path: str) -> str:
    """The host file a compose secret mounted at `path` comes from (/run/secrets/<name>)."""
    name = path.removeprefix("/run/secrets/")
    assert path == f"/run/secrets/{name}" and name in compose()["secrets"], path
    source = ROOT / compose()["secrets"][name]["file"]
    assert source.is_file(), source
    return str(source)


def here(env: dict[str, str], data_dir: Path) -> dict[str, str]:
    """A compose worker's environment as it reads on this machine: its own data directory, secrets from the repo."""
    return {
        **env,
        "LAPSEWATCH_DATA_DIR": str(data_dir),
        "LAPSEWATCH_CONTROL_KEY_FILE": secret_file(env["LAPSEWATCH_CONTROL_KEY_FILE"]),
    }


def settings_read() -> list[str]:
    """Every variable load_settings reads, in order."""

    class Recording(dict):
        names: ClassVar[list[str]] = []  # shared: read from the class after load_settings

        def get(self, key, default=None):
            self.names.append(key)
            return super().get(key, default)

    load_settings(Recording())
    return list(dict.fromkeys(Recording.names))


def readme_settings() -> set[str]:
    """The variables README's settings table documents, shorthand (`/ _MAX`, `… _LOGINS`) expanded."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index("\n## Settings") :]
    table = table[: table.index("\n## ", 1)] if "\n## " in table[1:] else table
    known = set(settings_read())
    names: set[str] = set()
    for line in table.splitlines():
        if not line.startswith(f"| `{PREFIX}"):
            continue
        first_cell = line.split("|")[1]
        tokens = re.findall(r"`([A-Z_]+)`", first_cell)
        base = tokens[0]
        names.add(base)
        for suffix in tokens[1:]:
            if suffix.startswith(PREFIX):
                names.add(suffix)
                continue
            parts = base.split("_")
            candidates = {base + suffix} | {"_".join(parts[:-k]) + suffix for k in range(1, len(parts) - 1)}
            match = candidates & known
            assert len(match) == 1, f"README: cannot tell which variable {suffix} after {base} is: {candidates}"
            names |= match
    return names


# --- structure ----------------------------------------------------------------------------------------------


def test_the_services_are_all_there_with_pinned_official_images():
    assert set(services()) == {"kafka", "topic-init", "fastly-simulator", "worker-1", "worker-2", "prometheus"}
    for name, service in services().items():
        if "build" in service:
            assert service["build"] == "." and (ROOT / "Dockerfile").is_file()
            continue
        image, _, tag = service["image"].partition(":")
        assert image in PINNED and re.fullmatch(PINNED[image], tag), f"{name}: {service['image']} is not pinned"
    assert services()["kafka"]["image"] == services()["topic-init"]["image"]
    kafka = services()["kafka"]["environment"]
    assert (
        kafka["KAFKA_PROCESS_ROLES"] == "broker,controller" and "CONTROLLER" in kafka["KAFKA_CONTROLLER_LISTENER_NAMES"]
    )
    assert "ZOOKEEPER" not in " ".join(kafka)


def test_healthchecks_and_start_order():
    for name, service in services().items():
        for dependency, spec in service.get("depends_on", {}).items():
            assert dependency in services(), f"{name} depends on unknown {dependency}"
            assert spec["condition"] in ("service_started", "service_healthy", "service_completed_successfully")
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services()[dependency], f"{name} waits for {dependency}'s health"
    assert services()["topic-init"]["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    assert services()["topic-init"]["restart"] == "no"
    assert "kafka-broker-api-versions.sh" in " ".join(services()["kafka"]["healthcheck"]["test"])
    for name, worker in workers().items():
        assert worker["depends_on"] == {
            "kafka": {"condition": "service_healthy"},
            "topic-init": {"condition": "service_completed_successfully"},
            "fastly-simulator": {"condition": "service_healthy"},
        }
        port = env_of(worker)["LAPSEWATCH_WEB_PORT"]
        assert f"http://127.0.0.1:{port}/healthz" in " ".join(worker["healthcheck"]["test"]), name
    assert set(services()["prometheus"]["depends_on"]) == set(workers())


def test_the_workers_share_a_group_but_not_their_state_or_ports():
    envs = {name: env_of(w) for name, w in workers().items()}
    assert len({env["LAPSEWATCH_APP_ID"] for env in envs.values()}) == 1
    ports, volumes = set(), set()
    for name, worker in workers().items():
        env = envs[name]
        port = env["LAPSEWATCH_WEB_PORT"]
        assert worker["ports"] == [f"127.0.0.1:{port}:{port}"]
        [volume] = worker["volumes"]
        source, target = volume.split(":")
        assert target == env["LAPSEWATCH_DATA_DIR"] and source in compose()["volumes"]
        ports.add(port)
        volumes.add(source)
        # Apart from their web port and name, the two workers are configured alike.
        own = ("LAPSEWATCH_WEB_PORT", "LAPSEWATCH_WEB_HOST")
        assert {k: v for k, v in env.items() if k not in own} == {
            k: v for k, v in next(iter(envs.values())).items() if k not in own
        }
    assert len(ports) == len(volumes) == 2


def test_the_workers_listen_on_the_compose_network_and_advertise_their_service_name(tmp_path):
    for name, worker in workers().items():
        env = env_of(worker)
        # Loopback (the default) would keep out Prometheus and the other worker's forwarded requests.
        assert env["LAPSEWATCH_WEB_BIND"] == "0.0.0.0"
        settings = load_settings(here(env, tmp_path / name))
        assert settings.web_bind == "0.0.0.0" and settings.web_host == name
        assert settings.web_url == f"http://{name}:{env['LAPSEWATCH_WEB_PORT']}"
        # Unauthenticated, and /domains/{name} tells which domains accounts use: the host's loopback only.
        assert all(mapping.startswith("127.0.0.1:") for mapping in worker["ports"]), worker["ports"]


def test_every_setting_is_written_out_and_accepted(tmp_path):
    documented = readme_settings()
    read = settings_read()
    assert documented <= set(read), f"README documents variables load_settings never reads: {documented - set(read)}"
    kafka = services()["kafka"]["environment"]
    for name, worker in workers().items():
        env = env_of(worker)
        assert set(read) <= set(env), f"{name}: not written out: {sorted(set(read) - set(env))}"
        assert {k for k in env if k.startswith(PREFIX)} <= set(read), f"{name}: variables nobody reads"
        # The worker reaches Kafka on its inter-container listener; topic-init uses the same.
        broker = env["LAPSEWATCH_BROKER"].removeprefix("kafka://")
        assert f"INTERNAL://{broker}" in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")
        assert services()["topic-init"]["environment"]["BOOTSTRAP"] == broker
        settings = load_settings(here(env, tmp_path / name))
        assert settings.web_port == int(env["LAPSEWATCH_WEB_PORT"]) and settings.provider == "fastly"
        assert settings.topics.__dict__ == {key.lower(): topic for key, topic in DEFAULT_TOPICS.items()}
        assert settings.broker_security.protocol == "PLAINTEXT"
        # Control commands are signed here, with the key the workers' secret mounts.
        assert settings.control_keys and worker["secrets"] == ["lapsewatch-control-key"]
        # Written out as the defaults, not different values in disguise.
        defaults = load_settings(
            {k: v for k, v in env.items() if k in ("LAPSEWATCH_STATUS_PROVIDER", "LAPSEWATCH_FASTLY_API_KEY")}
        )
        assert settings.policy == defaults.policy
        for field in (
            "partitions",
            "check_concurrency",
            "provider_rate",
            "server_rate",
            "breaker_failures",
            "breaker_cooldown",
            "breaker_max_cooldown",
            "provider_timeout",
            "check_deadline",
            "tick",
            "max_event_bytes",
            "session_timeout",
            "rebalance_timeout",
            "heartbeat_interval",
            "producer_max_batch_bytes",
            "rdap_bootstrap_url",
            "rdap_bootstrap_refresh",
            "log_format",
            "control_max_age",
        ):
            assert getattr(settings, field) == getattr(defaults, field), field


def topic_specs() -> dict[str, tuple[int, int]]:
    """topic-init's topics: name → (partitions, retention.ms)."""
    specs = {}
    for spec in services()["topic-init"]["environment"]["TOPICS"].split():
        name, partitions, retention = spec.split(":")
        specs[name] = (int(partitions), int(retention))
    return specs


def test_topic_init_creates_the_contract_topics():
    specs = topic_specs()
    assert set(specs) == set(DEFAULT_TOPICS.values())
    env = env_of(next(iter(workers().values())))
    assert set(specs) == {env[f"LAPSEWATCH_TOPIC_{key}"] for key in DEFAULT_TOPICS}
    day = 86_400_000
    for key in ("EMAIL_UNVERIFIED", "DOMAIN_STATUS", "DEAD_LETTER"):
        # The partitions lapsewatch would give its outputs if it created them.
        assert specs[DEFAULT_TOPICS[key]][0] == int(env["LAPSEWATCH_PARTITIONS"])
    for name, (partitions, retention) in specs.items():
        assert partitions >= 1 and day <= retention, name
    dead_letter = specs[DEFAULT_TOPICS["DEAD_LETTER"]][1]
    assert dead_letter >= 90 * day and dead_letter == max(r for _, r in specs.values())
    script = " ".join(services()["topic-init"]["command"])
    assert "--if-not-exists" in script and "retention.ms" in script and "$$TOPICS" in script
    # Faust creates the internal (repartition and compacted changelog) topics itself.
    assert not any(name.startswith(env["LAPSEWATCH_APP_ID"] + "-") for name in specs)


def test_prometheus_scrapes_every_worker():
    prometheus = services()["prometheus"]
    assert "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    targets = {t for static in job["static_configs"] for t in static["targets"]}
    assert targets == {f"{name}:{env_of(w)['LAPSEWATCH_WEB_PORT']}" for name, w in workers().items()}


# --- the same settings, on the embedded broker ----------------------------------------------------------------


async def test_a_worker_with_the_compose_environment_processes_events(
    start_pipeline, broker_url, fastly, tmp_path_factory
):
    worker = next(iter(workers().values()))
    compose_env = env_of(worker)
    healthcheck = worker["healthcheck"]["test"]
    config = WorkerConfig(broker_url, fastly.url, tmp_path_factory.mktemp("compose"))
    # Adapted: the broker, the simulator (loopback, its own key), the data directory and the port; the app id
    # and topic names are made unique because the session's broker is shared with other tests.
    harness_env = config.env()
    port = harness_env["LAPSEWATCH_WEB_PORT"]
    adapted = {
        "LAPSEWATCH_BROKER": broker_url,
        "LAPSEWATCH_FASTLY_API_URL": fastly.url,
        "LAPSEWATCH_FASTLY_API_KEY": FASTLY_TEST_KEY,
        "LAPSEWATCH_DATA_DIR": str(config.data_dir),
        "LAPSEWATCH_WEB_PORT": port,
        "LAPSEWATCH_APP_ID": config.app_id,
        "LAPSEWATCH_CONTROL_KEY_FILE": secret_file(compose_env["LAPSEWATCH_CONTROL_KEY_FILE"]),
        **{f"LAPSEWATCH_TOPIC_{name.upper()}": topic for name, topic in config.topics.items()},
    }
    if not os.environ.get("LAPSEWATCH_TEST_BROKER"):
        # Tansu holds a new group's first join for half the rebalance timeout (30 s with compose's 60 s):
        # the tests' short group timings here.
        adapted.update(
            {
                k: harness_env[k]
                for k in (
                    "LAPSEWATCH_BROKER_SESSION_TIMEOUT",
                    "LAPSEWATCH_BROKER_REBALANCE_TIMEOUT",
                    "LAPSEWATCH_BROKER_HEARTBEAT_INTERVAL",
                )
            }
        )
    config.overrides = {**compose_env, **adapted}
    env = config.env()
    assert {k: env[k] for k in compose_env if k not in adapted} == {
        k: v for k, v in compose_env.items() if k not in adapted
    }
    pipeline = await start_pipeline(config=config)

    active, lapsing = unique_domain("compose-active"), unique_domain("compose-lapsing")
    fastly.scenario.set(active, "active")
    fastly.scenario.set(lapsing, "inactive")
    await pipeline.email(email_event("email_added", unique("acct"), f"a@{active}", verified=True))
    await pipeline.email(email_event("email_added", unique("acct"), f"b@{lapsing}", verified=True))
    log = pipeline.worker.log_tail
    await wait_for(lambda: pipeline.transitions(active) == ["first_seen", "active"], T, "the active verdict", log)
    # LAPSEWATCH_CONFIRM_AFTER is 1h as in compose: a lapse waits for its confirmation, nothing is emitted yet.
    await wait_for(
        lambda: pipeline.transitions(lapsing) == ["first_seen", "lapse_suspected"], T, "the lapse to be suspected", log
    )
    assert pipeline.unverified() == []

    # The compose healthcheck, as Docker would run it, on this worker's port.
    command = [part.replace(":6066/", f":{port}/") for part in healthcheck[1:]]
    assert command[0] == "python"
    done = await asyncio.to_thread(subprocess.run, [sys.executable, *command[1:]], capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    # And what Prometheus scrapes.
    body = await asyncio.to_thread(
        lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
    )
    assert b"lapsewatch_" in body

    # An operator's command, signed by the CLI with the compose key as `docker compose exec` would run it.
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "streams", "recheck", active, "--by", "compose-test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and " sent signed as " in done.stdout, done.stderr
    await wait_for(lambda: "control" in pipeline.transitions(active), T, "the signed recheck's audit", log)
    assert pipeline.dead_letters() == []
