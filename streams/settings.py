"""Settings from the environment, validated once at start.

Every problem names the variable, so a bad deployment stops with a message an
operator can act on instead of a traceback.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from streams.domains.policy import Policy

PREFIX = "LAPSEWATCH_"

# Public topic names (the event contract) and their override variables.
DEFAULT_TOPICS = {
    "EMAIL_EVENTS": "accounts.email-events",
    "LOGINS": "accounts.logins",
    "EMAIL_UNVERIFIED": "accounts.email-unverified",
    "DOMAIN_STATUS": "domains.status",
    "DEAD_LETTER": "lapsewatch.dead-letter",
}

PROVIDERS = ("fastly", "simulated")

# Tansu 0.6.0 reports an end offset one short after a batch of several records,
# which breaks Faust's changelog recovery; one record per batch avoids it.
TANSU_SAFE_ENV = {"LAPSEWATCH_PRODUCER_MAX_BATCH_BYTES": "1"}


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(text: str) -> float:
    """`90s`, `15m`, `1h`, `30d`, `1w` or plain seconds → seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"expected a duration such as 90s, 15m, 1h, 30d or plain seconds, got {text!r}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@dataclass(frozen=True)
class Topics:
    email_events: str
    logins: str
    email_unverified: str
    domain_status: str
    dead_letter: str


@dataclass(frozen=True)
class Settings:
    broker: str | None
    app_id: str
    data_dir: Path
    web_port: int
    partitions: int
    replication_factor: int
    topics: Topics

    provider: str
    fastly_api_url: str
    fastly_api_key: str | None = field(repr=False)
    simulated_scenario: Path | None
    provider_timeout: float
    check_concurrency: int

    policy: Policy
    tick: float

    public_domains_extra: frozenset[str]
    max_event_bytes: int

    session_timeout: float
    rebalance_timeout: float
    heartbeat_interval: float
    producer_max_batch_bytes: int

    @property
    def internal_prefix(self) -> str:
        return self.app_id


class _Reader:
    """Reads typed values from an environment mapping, naming the variable on error."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env

    def raw(self, name: str) -> str | None:
        value = self.env.get(PREFIX + name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def _fail(self, name: str, problem: str) -> SettingsError:
        return SettingsError(f"{PREFIX}{name}: {problem}")

    def text(self, name: str, default: str) -> str:
        return self.raw(name) or default

    def duration(self, name: str, default: str, *, minimum: float = 0.0) -> float:
        text = self.raw(name) or default
        try:
            seconds = parse_duration(text)
        except ValueError as exc:
            raise self._fail(name, str(exc)) from None
        if seconds < minimum:
            raise self._fail(name, f"must be at least {minimum:g} seconds, got {text!r}")
        return seconds

    def integer(self, name: str, default: int, *, minimum: int, maximum: int) -> int:
        text = self.raw(name)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            raise self._fail(name, f"expected a whole number, got {text!r}") from None
        if not minimum <= value <= maximum:
            raise self._fail(name, f"must be between {minimum} and {maximum}, got {value}")
        return value

    def fraction(self, name: str, default: float) -> float:
        text = self.raw(name)
        if text is None:
            return default
        try:
            value = float(text)
        except ValueError:
            raise self._fail(name, f"expected a number between 0 and 1, got {text!r}") from None
        if not 0.0 <= value < 1.0:
            raise self._fail(name, f"must be at least 0 and below 1, got {value}")
        return value

    def path(self, name: str, *, must_exist: bool) -> Path | None:
        text = self.raw(name)
        if text is None:
            return None
        path = Path(text)
        if must_exist and not path.is_file():
            raise self._fail(name, f"file {text!r} does not exist")
        return path

    def secret(self, name: str) -> str | None:
        """A secret from `NAME` or from the file named by `NAME_FILE`; never echoed."""
        value = self.raw(name)
        file_path = self.path(name + "_FILE", must_exist=True)
        if value and file_path:
            raise self._fail(name, f"set either {PREFIX}{name} or {PREFIX}{name}_FILE, not both")
        if file_path:
            value = file_path.read_text().strip() or None
            if value is None:
                raise self._fail(name + "_FILE", "the file is empty")
        return value


def _broker_urls(reader: _Reader) -> str | None:
    text = reader.raw("BROKER")
    if text is None:
        return None
    urls = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "://" not in part:
            part = "kafka://" + part
        scheme, _, rest = part.partition("://")
        if scheme != "kafka" or not re.match(r"^[A-Za-z0-9.\-\[\]:]+:\d+$", rest):
            raise SettingsError(
                f"{PREFIX}BROKER: expected kafka://host:port (comma-separated for several), got {part!r}"
            )
        urls.append(part)
    if not urls:
        raise SettingsError(f"{PREFIX}BROKER: no broker address in {text!r}")
    return ";".join(urls)


def _topic_name(reader: _Reader, key: str) -> str:
    name = reader.text("TOPIC_" + key, DEFAULT_TOPICS[key])
    if not re.match(r"^[A-Za-z0-9._\-]{1,249}$", name) or name in (".", ".."):
        raise SettingsError(
            f"{PREFIX}TOPIC_{key}: {name!r} is not a valid Kafka topic name "
            "(letters, digits, '.', '_', '-'; at most 249)"
        )
    return name


def _provider(reader: _Reader) -> tuple[str, str | None, Path | None]:
    name = reader.raw("STATUS_PROVIDER")
    key = reader.secret("FASTLY_API_KEY")
    scenario = reader.path("SIMULATED_SCENARIO", must_exist=True)
    if name is None:
        if key:
            name = "fastly"
        elif scenario:
            name = "simulated"
        else:
            raise SettingsError(
                f"{PREFIX}STATUS_PROVIDER: no domain status provider is configured. Set "
                f"{PREFIX}STATUS_PROVIDER=fastly with {PREFIX}FASTLY_API_KEY (or {PREFIX}FASTLY_API_KEY_FILE), "
                f"or {PREFIX}STATUS_PROVIDER=simulated with {PREFIX}SIMULATED_SCENARIO"
            )
    name = name.lower()
    if name not in PROVIDERS:
        raise SettingsError(f"{PREFIX}STATUS_PROVIDER: expected one of {', '.join(PROVIDERS)}, got {name!r}")
    if name == "fastly" and not key:
        raise SettingsError(
            f"{PREFIX}FASTLY_API_KEY: the fastly provider needs an API key "
            f"(set {PREFIX}FASTLY_API_KEY or {PREFIX}FASTLY_API_KEY_FILE)"
        )
    if name == "simulated" and scenario is None:
        raise SettingsError(f"{PREFIX}SIMULATED_SCENARIO: the simulated provider needs a scenario file")
    return name, key, scenario


def _api_url(reader: _Reader) -> str:
    url = reader.text("FASTLY_API_URL", "https://api.fastly.com").rstrip("/")
    if not re.match(r"^https?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~\-/]*)?$", url):
        raise SettingsError(f"{PREFIX}FASTLY_API_URL: expected an http(s) base URL, got {url!r}")
    return url


def _public_domains(reader: _Reader) -> frozenset[str]:
    names = set()
    text = reader.raw("PUBLIC_DOMAINS")
    if text:
        names.update(part.strip().lower().rstrip(".") for part in text.split(",") if part.strip())
    path = reader.path("PUBLIC_DOMAINS_FILE", must_exist=True)
    if path:
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip().lower().rstrip(".")
            if line:
                names.add(line)
    return frozenset(names)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from `env` (default: the process environment)."""
    reader = _Reader(os.environ if env is None else env)
    provider, key, scenario = _provider(reader)
    app_id = reader.text("APP_ID", "lapsewatch")
    if not re.match(r"^[A-Za-z0-9._\-]{1,100}$", app_id):
        raise SettingsError(f"{PREFIX}APP_ID: use letters, digits, '.', '_' or '-', got {app_id!r}")
    settings = Settings(
        broker=_broker_urls(reader),
        app_id=app_id,
        data_dir=Path(reader.text("DATA_DIR", "./lapsewatch-data")),
        web_port=reader.integer("WEB_PORT", 6066, minimum=1, maximum=65535),
        partitions=reader.integer("PARTITIONS", 8, minimum=1, maximum=10000),
        replication_factor=reader.integer("REPLICATION_FACTOR", 1, minimum=1, maximum=100),
        topics=Topics(**{key.lower(): _topic_name(reader, key) for key in DEFAULT_TOPICS}),
        provider=provider,
        fastly_api_url=_api_url(reader),
        fastly_api_key=key,
        simulated_scenario=scenario,
        provider_timeout=reader.duration("PROVIDER_TIMEOUT", "10s", minimum=0.01),
        check_concurrency=reader.integer("CHECK_CONCURRENCY", 16, minimum=1, maximum=10000),
        policy=Policy(
            recheck_interval=reader.duration("RECHECK_INTERVAL", "30d", minimum=1),
            recheck_jitter=reader.fraction("RECHECK_JITTER", 0.1),
            retry_min=reader.duration("RETRY_MIN", "5m", minimum=0.01),
            retry_max=reader.duration("RETRY_MAX", "1d", minimum=0.01),
            inconclusive_retry_min=reader.duration("INCONCLUSIVE_RETRY_MIN", "15m", minimum=0.01),
            inconclusive_retry_max=reader.duration("INCONCLUSIVE_RETRY_MAX", "6h", minimum=0.01),
            confirm_after=reader.duration("CONFIRM_AFTER", "1h"),
            login_freshness=reader.duration("LOGIN_FRESHNESS", "7d"),
        ),
        tick=reader.duration("TICK", "1s", minimum=0.01),
        public_domains_extra=_public_domains(reader),
        max_event_bytes=reader.integer("MAX_EVENT_BYTES", 256 * 1024, minimum=1024, maximum=64 * 1024 * 1024),
        session_timeout=reader.duration("BROKER_SESSION_TIMEOUT", "60s", minimum=1),
        rebalance_timeout=reader.duration("BROKER_REBALANCE_TIMEOUT", "60s", minimum=1),
        heartbeat_interval=reader.duration("BROKER_HEARTBEAT_INTERVAL", "3s", minimum=0.1),
        producer_max_batch_bytes=reader.integer("PRODUCER_MAX_BATCH_BYTES", 16384, minimum=1,
                                                maximum=64 * 1024 * 1024),
    )
    for low, high in (("RETRY_MIN", "RETRY_MAX"), ("INCONCLUSIVE_RETRY_MIN", "INCONCLUSIVE_RETRY_MAX")):
        if getattr(settings.policy, low.lower()) > getattr(settings.policy, high.lower()):
            raise SettingsError(f"{PREFIX}{low}: must not exceed {PREFIX}{high}")
    if settings.heartbeat_interval >= settings.session_timeout:
        raise SettingsError(f"{PREFIX}BROKER_HEARTBEAT_INTERVAL: must be shorter than {PREFIX}BROKER_SESSION_TIMEOUT")
    return settings
