"""Settings from the environment, validated once at start.

Every problem names the variable, so a bad deployment stops with a message an
operator can act on instead of a traceback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from streams.core.control_auth import NO_KEYS, ControlKeys, parse_keys
from streams.core.policy import Policy

PREFIX = "LAPSEWATCH_"

# Public topic names (the event contract) and their override variables.
DEFAULT_TOPICS = {
    "EMAIL_EVENTS": "accounts.email-events",
    "LOGINS": "accounts.logins",
    "EMAIL_UNVERIFIED": "accounts.email-unverified",
    "DOMAIN_STATUS": "domains.status",
    "DEAD_LETTER": "lapsewatch.dead-letter",
    "CONTROL": "lapsewatch.control",
}

PROVIDERS = ("rdap", "whois", "fastly", "dns", "simulated")
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
IANA_RDAP_BOOTSTRAP = "https://data.iana.org/rdap/dns.json"


# Longer than any sensible interval; a typo of many digits must not become "never".
MAX_DURATION = 400 * 86400.0
# A producer batch travels in one request, and Faust's producer sends at most 1,000,000 bytes a request.
MAX_PRODUCER_BATCH = 900 * 1024


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
    control: str


@dataclass(frozen=True)
class BrokerSecurity:
    """How every Kafka client lapsewatch makes (Faust's and its own aiokafka ones) authenticates."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def ssl_context(self):
        """A client context trusting `ca_file` (or the system's CAs), with the client certificate when given."""
        if self.protocol not in ("SSL", "SASL_SSL"):
            return None
        import ssl

        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file:
            context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context

    def client_options(self) -> dict:
        """Keyword arguments for aiokafka's producer, consumer and admin clients."""
        options: dict = {"security_protocol": self.protocol}
        context = self.ssl_context()
        if context is not None:
            options["ssl_context"] = context
        if self.protocol.startswith("SASL_"):
            options.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password,
            )
        return options

    def faust_credentials(self):
        """Faust's `broker_credentials`: None for PLAINTEXT."""
        import faust

        if self.protocol == "PLAINTEXT":
            return None
        if self.protocol == "SSL":
            return faust.SSLCredentials(self.ssl_context())
        # With an ssl_context Faust makes it SASL_SSL, without one SASL_PLAINTEXT.
        return faust.SASLCredentials(
            username=self.sasl_username,
            password=self.sasl_password,
            ssl_context=self.ssl_context(),
            mechanism=self.sasl_mechanism,
        )


@dataclass(frozen=True)
class Settings:
    broker: str | None
    app_id: str
    data_dir: Path
    web_port: int
    web_bind: str  # the address the web server listens on
    web_host: str  # the host other workers reach it by (Faust's canonical_url)
    partitions: int
    replication_factor: int
    topics: Topics

    provider: str
    confirm_provider: str | None
    fastly_api_url: str
    fastly_api_key: str | None = field(repr=False)
    simulated_scenario: Path | None
    rdap_bootstrap_url: str | None
    rdap_bootstrap_refresh: float
    rdap_servers: dict[str, str]
    whois_servers: dict[str, str]  # LAPSEWATCH_WHOIS_SERVERS: ahead of the shipped table
    dns_resolvers: tuple[tuple[str, int], ...]  # empty: the system's resolvers
    ca_bundle: Path | None
    provider_timeout: float
    check_deadline: float
    check_concurrency: int
    provider_rate: float
    server_rate: float
    whois_server_rate: float
    breaker_failures: int
    breaker_cooldown: float
    breaker_max_cooldown: float
    breaker_window: float

    policy: Policy
    tick: float

    public_domains_extra: frozenset[str]
    max_event_bytes: int
    log_format: str

    session_timeout: float
    rebalance_timeout: float
    heartbeat_interval: float
    producer_max_batch_bytes: int
    fetch_max_wait: float = 0.1
    restore_batch_records: int = 50_000
    standby_replicas: int = 1
    broker_security: BrokerSecurity = BrokerSecurity()
    # Empty: control commands are taken unsigned, as before the keys existed (production should set one).
    control_keys: ControlKeys = field(default=NO_KEYS, repr=False)
    control_max_age: float = 3600.0

    @property
    def web_url(self) -> str:
        """Faust's canonical_url: how other workers reach this one (Faust's own template leaves IPv6 unbracketed)."""
        host = f"[{self.web_host}]" if ":" in self.web_host else self.web_host
        return f"http://{host}:{self.web_port}"

    @property
    def internal_topics(self) -> dict[str, str]:
        """The repartition topics lapsewatch's consumer group reads besides the two inputs."""
        return {
            "account_commands": f"{self.app_id}-account-commands",
            "domain_commands": f"{self.app_id}-domain-commands",
        }

    @property
    def input_group(self) -> str:
        """The consumer group of the input reader (streams/accounts/intake.py), apart from Faust's own."""
        return f"{self.app_id}-input"

    @property
    def groups(self) -> dict[str, list[str]]:
        """Each consumer group the workers commit offsets under, with the topics it reads."""
        return {
            self.input_group: [self.topics.email_events, self.topics.logins],
            self.app_id: [self.topics.control, *self.internal_topics.values()],
        }

    @property
    def consumed_topics(self) -> list[str]:
        """Every topic the workers read, in either group."""
        return [topic for topics in self.groups.values() for topic in topics]


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

    def duration(self, name: str, default: str, *, minimum: float = 0.0, maximum: float = MAX_DURATION) -> float:
        text = self.raw(name) or default
        try:
            seconds = parse_duration(text)
        except ValueError as exc:
            raise self._fail(name, str(exc)) from None
        if seconds < minimum:
            raise self._fail(name, f"must be at least {minimum:g} seconds, got {text!r}")
        if seconds > maximum:
            raise self._fail(name, f"must be at most {maximum:g} seconds, got {text!r}")
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

    def number(self, name: str, default: float) -> float:
        """A positive number, such as a rate per second."""
        text = self.raw(name)
        if text is None:
            return default
        try:
            value = float(text)
        except ValueError:
            raise self._fail(name, f"expected a positive number, got {text!r}") from None
        if not 0.0 < value < float("inf"):
            raise self._fail(name, f"must be a positive number, got {text!r}")
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

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = (self.raw(name) or default).lower()
        if value not in choices:
            raise self._fail(name, f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def path(self, name: str, *, must_exist: bool, secret: bool = False) -> Path | None:
        text = self.raw(name)
        if text is None:
            return None
        path = Path(text)
        if must_exist and not path.is_file():
            # A secret pasted where its file's path belongs must not be echoed.
            shown = "the file it names" if secret else f"file {text!r}"
            raise self._fail(name, f"{shown} does not exist")
        return path

    def secret(self, name: str) -> str | None:
        """A secret from `NAME` or from the file named by `NAME_FILE`; never echoed."""
        value = self.raw(name)
        file_path = self.path(name + "_FILE", must_exist=True, secret=True)
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


def bootstrap_servers(broker: str) -> str:
    """`kafka://h:p;kafka://h2:p2` (Settings.broker) → `h:p,h2:p2`, as aiokafka's clients take it."""
    return ",".join(url.split("://", 1)[-1] for url in broker.split(";"))


def _broker_security(reader: _Reader, broker: str | None) -> BrokerSecurity:
    """TLS and SASL for the connection to Kafka; checked here so a bad file or a missing password stops the start."""
    import ssl

    protocol = reader.raw("BROKER_SECURITY_PROTOCOL")
    protocol = (protocol or "PLAINTEXT").upper().replace("-", "_")
    if protocol not in SECURITY_PROTOCOLS:
        raise reader._fail(
            "BROKER_SECURITY_PROTOCOL",
            f"expected one of {', '.join(SECURITY_PROTOCOLS)}, got {reader.raw('BROKER_SECURITY_PROTOCOL')!r}",
        )
    if protocol != "PLAINTEXT" and broker is None:
        raise reader._fail(
            "BROKER_SECURITY_PROTOCOL", f"{protocol} needs {PREFIX}BROKER: the embedded broker speaks PLAINTEXT only"
        )
    sasl, tls = protocol.startswith("SASL_"), protocol in ("SSL", "SASL_SSL")
    mechanism = reader.raw("BROKER_SASL_MECHANISM")
    username = reader.raw("BROKER_SASL_USERNAME")
    password = reader.secret("BROKER_SASL_PASSWORD")
    for name, value in (
        ("BROKER_SASL_MECHANISM", mechanism),
        ("BROKER_SASL_USERNAME", username),
        ("BROKER_SASL_PASSWORD", password),
    ):
        if value is not None and not sasl:
            # Likely a forgotten protocol: refusing beats silently connecting without authentication.
            raise reader._fail(
                name, f"is set, but {PREFIX}BROKER_SECURITY_PROTOCOL is {protocol}; use SASL_SSL or SASL_PLAINTEXT"
            )
    if sasl:
        if mechanism is None:
            raise reader._fail("BROKER_SASL_MECHANISM", f"{protocol} needs one of {', '.join(SASL_MECHANISMS)}")
        mechanism = mechanism.upper()
        if mechanism not in SASL_MECHANISMS:
            raise reader._fail(
                "BROKER_SASL_MECHANISM", f"expected one of {', '.join(SASL_MECHANISMS)}, got {mechanism!r}"
            )
        if username is None:
            raise reader._fail("BROKER_SASL_USERNAME", f"{protocol} needs a user name")
        if password is None:
            raise reader._fail(
                "BROKER_SASL_PASSWORD",
                f"{protocol} needs a password (set {PREFIX}BROKER_SASL_PASSWORD or {PREFIX}BROKER_SASL_PASSWORD_FILE)",
            )
        if "\n" in password or "\r" in password:
            raise reader._fail("BROKER_SASL_PASSWORD", "must be one line")  # never echoed
    ca_file = reader.path("BROKER_CA_FILE", must_exist=True)
    cert_file = reader.path("BROKER_CERT_FILE", must_exist=True)
    key_file = reader.path("BROKER_KEY_FILE", must_exist=True, secret=True)
    for name, path in (("BROKER_CA_FILE", ca_file), ("BROKER_CERT_FILE", cert_file), ("BROKER_KEY_FILE", key_file)):
        if path is not None and not tls:
            raise reader._fail(name, f"is set, but {PREFIX}BROKER_SECURITY_PROTOCOL is {protocol}; use SSL or SASL_SSL")
    if (cert_file is None) != (key_file is None):
        missing = "BROKER_KEY_FILE" if key_file is None else "BROKER_CERT_FILE"
        raise reader._fail(
            missing, f"a client certificate needs both {PREFIX}BROKER_CERT_FILE and {PREFIX}BROKER_KEY_FILE"
        )
    if ca_file is not None:
        try:
            ssl.create_default_context(cafile=str(ca_file))
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise reader._fail(
                "BROKER_CA_FILE", f"{str(ca_file)!r} is not a PEM file of CA certificates ({exc.__class__.__name__})"
            ) from None
    if cert_file is not None:
        try:
            ssl.create_default_context().load_cert_chain(str(cert_file), str(key_file))
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise reader._fail(
                "BROKER_CERT_FILE",
                f"{str(cert_file)!r} with {PREFIX}BROKER_KEY_FILE is not a PEM "
                f"certificate and its unencrypted private key ({exc.__class__.__name__})",
            ) from None
    return BrokerSecurity(protocol, mechanism if sasl else None, username, password, ca_file, cert_file, key_file)


# RFC 1123 labels, plus "_" (Docker service names may have it).
_HOST_NAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_\-]{0,61}[A-Za-z0-9_])?"
    r"(\.[A-Za-z0-9_]([A-Za-z0-9_\-]{0,61}[A-Za-z0-9_])?)*\.?"
)


def _address_or_host_name(reader: _Reader, name: str) -> str | None:
    """An IP address (an IPv6 one with or without brackets) or a host name; None when unset."""
    import ipaddress

    text = reader.raw(name)
    if text is None:
        return None
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    # An all-digit last label is a mistyped IPv4 address (10.0.0.256), not a name.
    if _HOST_NAME.fullmatch(bare) and not bare.rstrip(".").rpartition(".")[2].isdigit():
        return bare
    raise reader._fail(
        name,
        f"expected an IP address or a host name, without scheme or port (the port is {PREFIX}WEB_PORT), got {text!r}",
    )


def _is_wildcard(address: str) -> bool:
    """0.0.0.0 or :: (every interface)."""
    import ipaddress

    try:
        return ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return False


def _web_bind_and_host(reader: _Reader) -> tuple[str, str]:
    """Loopback unless told otherwise: nothing authenticates the web server, and /domains/{name} tells
    whoever asks whether (and how many) accounts use a domain.

    The advertised host defaults to the bind address, so loopback workers on one machine forward to each
    other; a wildcard bind is no address to connect to, so then it is Faust's default, the host name.
    """
    import socket

    bind = _address_or_host_name(reader, "WEB_BIND") or "127.0.0.1"
    host = _address_or_host_name(reader, "WEB_HOST")
    if host is None:
        host = socket.gethostname() if _is_wildcard(bind) else bind
    elif _is_wildcard(host):
        raise reader._fail(
            "WEB_HOST",
            f"{host!r} means every interface, other workers cannot connect to it; "
            "give this worker's host name or address",
        )
    return bind, host


def _topic_name(reader: _Reader, key: str) -> str:
    name = reader.text("TOPIC_" + key, DEFAULT_TOPICS[key])
    if not re.match(r"^[A-Za-z0-9._\-]{1,249}$", name) or name in (".", ".."):
        raise SettingsError(
            f"{PREFIX}TOPIC_{key}: {name!r} is not a valid Kafka topic name "
            "(letters, digits, '.', '_', '-'; at most 249)"
        )
    return name


def _provider_name(reader: _Reader, name: str) -> str | None:
    value = (reader.raw(name) or "").lower() or None
    if value is not None and value not in PROVIDERS:
        raise SettingsError(f"{PREFIX}{name}: expected one of {', '.join(PROVIDERS)}, got {value!r}")
    return value


def _providers(reader: _Reader) -> tuple[str, str | None, str | None, Path | None]:
    """The primary and confirming providers, with what each needs."""
    name = _provider_name(reader, "STATUS_PROVIDER") or "rdap"
    confirm = _provider_name(reader, "CONFIRM_PROVIDER")
    if confirm == name:
        raise SettingsError(
            f"{PREFIX}CONFIRM_PROVIDER: must differ from {PREFIX}STATUS_PROVIDER ({name}); "
            "leave it unset to confirm with the same provider"
        )
    key = reader.secret("FASTLY_API_KEY")
    scenario = reader.path("SIMULATED_SCENARIO", must_exist=True)
    chosen = {name, confirm}
    if "fastly" in chosen and not key:
        raise SettingsError(
            f"{PREFIX}FASTLY_API_KEY: the fastly provider needs an API key "
            f"(set {PREFIX}FASTLY_API_KEY or {PREFIX}FASTLY_API_KEY_FILE)"
        )
    if key is not None and not re.fullmatch(r"[\x21-\x7e]+", key):
        # Never echoed: the message says what is wrong, not what it is.
        raise SettingsError(
            f"{PREFIX}FASTLY_API_KEY: must be one line of printable ASCII without spaces (it goes into an HTTP header)"
        )
    if "simulated" in chosen and scenario is None:
        raise SettingsError(f"{PREFIX}SIMULATED_SCENARIO: the simulated provider needs a scenario file")
    if scenario is not None:
        from streams.providers.scenario import Scenario

        try:
            Scenario.load(scenario)
        except (ValueError, OSError) as exc:
            raise SettingsError(f"{PREFIX}SIMULATED_SCENARIO: {scenario}: {exc}") from None
    if "dns" in chosen and not reader.raw("DNS_RESOLVERS"):
        _system_resolvers_exist()
    return name, confirm, key, scenario


def _system_resolvers_exist(resolv_conf: str = "/etc/resolv.conf") -> None:
    import dns.resolver

    try:
        dns.resolver.Resolver(filename=resolv_conf, configure=True)
    except dns.resolver.NoResolverConfiguration:
        raise SettingsError(
            f"{PREFIX}DNS_RESOLVERS: the dns provider needs resolvers and this system has none "
            "configured (no nameserver in /etc/resolv.conf); list them, such as 9.9.9.9"
        ) from None


def _ca_bundle(reader: _Reader) -> Path | None:
    import ssl

    path = reader.path("CA_BUNDLE", must_exist=True)
    if path is not None:
        try:
            ssl.create_default_context(cafile=str(path))
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise SettingsError(
                f"{PREFIX}CA_BUNDLE: {str(path)!r} is not a PEM file of CA certificates ({exc.__class__.__name__})"
            ) from None
    return path


def _data_dir(reader: _Reader) -> Path:
    path = Path(reader.text("DATA_DIR", "./lapsewatch-data"))
    if path.exists() and not path.is_dir():
        raise SettingsError(f"{PREFIX}DATA_DIR: {str(path)!r} exists and is not a directory")
    return path


def _https_url_or_off(reader: _Reader, name: str, default: str) -> str | None:
    url = reader.text(name, default)
    if url.lower() in ("off", "none"):
        return None
    # https only: the file decides where every RDAP query goes.
    if not re.fullmatch(r"https://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~\-/%]*)?", url):
        raise SettingsError(f"{PREFIX}{name}: expected an https URL or off, got {url!r}")
    return url


def _whois_servers(reader: _Reader) -> dict[str, str]:
    """`de=whois.denic.de,io=127.0.0.1:4343`: WHOIS servers ahead of the shipped table."""
    from streams.providers.whois_servers import parse_whois_servers

    try:
        return parse_whois_servers(reader.raw("WHOIS_SERVERS") or "")
    except ValueError as exc:
        raise SettingsError(f"{PREFIX}WHOIS_SERVERS: {exc}") from None


def _rdap_servers(reader: _Reader) -> dict[str, str]:
    """`com=https://rdap.example/,org=...`: explicit RDAP servers, ahead of the bootstrap."""
    text = reader.raw("RDAP_SERVERS")
    servers: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        suffix, _, url = part.partition("=")
        suffix, url = suffix.strip().lower().strip("."), url.strip()
        if not re.match(r"^[a-z0-9\-.]+$", suffix) or not re.match(r"^https?://[A-Za-z0-9.\-\[\]:]+(/\S*)?$", url):
            raise SettingsError(f"{PREFIX}RDAP_SERVERS: expected tld=https://server/path/ pairs, got {part.strip()!r}")
        servers[suffix] = url if url.endswith("/") else url + "/"
    return servers


def _dns_resolvers(reader: _Reader) -> tuple[tuple[str, int], ...]:
    """`127.0.0.1:5353,9.9.9.9`: resolver addresses, port 53 unless given."""
    import ipaddress

    resolvers = []
    for part in (reader.raw("DNS_RESOLVERS") or "").split(","):
        part = part.strip()
        if not part:
            continue
        host, port = part, 53
        if part.count(":") == 1:
            host, _, port_text = part.partition(":")
            port = int(port_text) if port_text.isdigit() else -1
        elif part.startswith("[") and "]:" in part:
            host, _, port_text = part[1:].partition("]:")
            port = int(port_text) if port_text.isdigit() else -1
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            port = -1
        if not 0 < port < 65536:
            raise SettingsError(f"{PREFIX}DNS_RESOLVERS: expected IP[:port] addresses, got {part!r}")
        resolvers.append((host.strip("[]"), port))
    if len({port for _, port in resolvers}) > 1:
        raise SettingsError(f"{PREFIX}DNS_RESOLVERS: every resolver must use the same port")
    return tuple(resolvers)


def _api_url(reader: _Reader) -> str:
    url = reader.text("FASTLY_API_URL", "https://api.fastly.com").rstrip("/")
    if not re.match(r"^https?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~\-/]*)?$", url):
        raise SettingsError(f"{PREFIX}FASTLY_API_URL: expected an http(s) base URL, got {url!r}")
    return url


def _control_keys(reader: _Reader) -> ControlKeys:
    """The control commands' shared keys, one a line (the first signs); checked here, never echoed."""
    text = reader.secret("CONTROL_KEY")
    if text is None:
        return NO_KEYS
    name = "CONTROL_KEY_FILE" if reader.raw("CONTROL_KEY_FILE") else "CONTROL_KEY"
    try:
        return parse_keys(text)
    except ValueError as exc:  # the message names a line, never the key
        raise reader._fail(name, str(exc)) from None


def _public_domains(reader: _Reader) -> frozenset[str]:
    names: set[str] = set()
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
    provider, confirm_provider, key, scenario = _providers(reader)
    app_id = reader.text("APP_ID", "lapsewatch")
    if not re.match(r"^[A-Za-z0-9._\-]{1,100}$", app_id):
        raise SettingsError(f"{PREFIX}APP_ID: use letters, digits, '.', '_' or '-', got {app_id!r}")
    broker = _broker_urls(reader)
    web_bind, web_host = _web_bind_and_host(reader)
    settings = Settings(
        broker=broker,
        app_id=app_id,
        data_dir=_data_dir(reader),
        web_port=reader.integer("WEB_PORT", 6066, minimum=1, maximum=65535),
        web_bind=web_bind,
        web_host=web_host,
        partitions=reader.integer("PARTITIONS", 8, minimum=1, maximum=10000),
        replication_factor=reader.integer("REPLICATION_FACTOR", 1, minimum=1, maximum=100),
        topics=Topics(**{key.lower(): _topic_name(reader, key) for key in DEFAULT_TOPICS}),
        provider=provider,
        confirm_provider=confirm_provider,
        fastly_api_url=_api_url(reader),
        fastly_api_key=key,
        simulated_scenario=scenario,
        rdap_bootstrap_url=_https_url_or_off(reader, "RDAP_BOOTSTRAP_URL", IANA_RDAP_BOOTSTRAP),
        rdap_bootstrap_refresh=reader.duration("RDAP_BOOTSTRAP_REFRESH", "1d", minimum=60),
        rdap_servers=_rdap_servers(reader),
        whois_servers=_whois_servers(reader),
        dns_resolvers=_dns_resolvers(reader),
        ca_bundle=_ca_bundle(reader),
        provider_timeout=reader.duration("PROVIDER_TIMEOUT", "10s", minimum=0.01, maximum=600),
        check_deadline=reader.duration("CHECK_DEADLINE", "30s", minimum=0.01, maximum=3600),
        check_concurrency=reader.integer("CHECK_CONCURRENCY", 48, minimum=1, maximum=10000),
        provider_rate=reader.number("PROVIDER_RATE", 20.0),
        server_rate=reader.number("SERVER_RATE", 2.0),
        # WHOIS servers refuse far sooner than RDAP ones (DENIC, EURid, Nominet count per minute or hour).
        whois_server_rate=reader.number("WHOIS_SERVER_RATE", 0.2),
        breaker_failures=reader.integer("BREAKER_FAILURES", 5, minimum=1, maximum=1000),
        breaker_cooldown=reader.duration("BREAKER_COOLDOWN", "1m", minimum=0.01),
        breaker_max_cooldown=reader.duration("BREAKER_MAX_COOLDOWN", "15m", minimum=0.01),
        breaker_window=reader.duration("BREAKER_WINDOW", "2m", minimum=0.01),
        policy=Policy(
            recheck_interval=reader.duration("RECHECK_INTERVAL", "30d", minimum=1),
            recheck_jitter=reader.fraction("RECHECK_JITTER", 0.1),
            retry_min=reader.duration("RETRY_MIN", "5m", minimum=0.01),
            retry_max=reader.duration("RETRY_MAX", "1d", minimum=0.01),
            inconclusive_retry_min=reader.duration("INCONCLUSIVE_RETRY_MIN", "15m", minimum=0.01),
            inconclusive_retry_max=reader.duration("INCONCLUSIVE_RETRY_MAX", "6h", minimum=0.01),
            confirm_after=reader.duration("CONFIRM_AFTER", "1h"),
            confirm_provider=confirm_provider,
            inconclusive_limit=reader.duration("INCONCLUSIVE_LIMIT", "7d", minimum=1),
            login_freshness=reader.duration("LOGIN_FRESHNESS", "7d"),
        ),
        tick=reader.duration("TICK", "1s", minimum=0.01),
        public_domains_extra=_public_domains(reader),
        max_event_bytes=reader.integer("MAX_EVENT_BYTES", 256 * 1024, minimum=1024, maximum=64 * 1024 * 1024),
        log_format=reader.choice("LOG_FORMAT", "text", ("text", "json")),
        session_timeout=reader.duration("BROKER_SESSION_TIMEOUT", "60s", minimum=1),
        rebalance_timeout=reader.duration("BROKER_REBALANCE_TIMEOUT", "60s", minimum=1),
        heartbeat_interval=reader.duration("BROKER_HEARTBEAT_INTERVAL", "3s", minimum=0.1),
        fetch_max_wait=reader.duration("BROKER_FETCH_MAX_WAIT", "100ms", minimum=0.001, maximum=30),
        producer_max_batch_bytes=reader.integer(
            "PRODUCER_MAX_BATCH_BYTES", 512 * 1024, minimum=1, maximum=MAX_PRODUCER_BATCH
        ),
        restore_batch_records=reader.integer("RESTORE_BATCH_RECORDS", 50_000, minimum=1, maximum=10_000_000),
        standby_replicas=reader.integer("STANDBY_REPLICAS", 1, minimum=0, maximum=10),
        broker_security=_broker_security(reader, broker),
        control_keys=_control_keys(reader),
        control_max_age=reader.duration("CONTROL_MAX_AGE", "1h", minimum=1),
    )
    if settings.breaker_cooldown > settings.breaker_max_cooldown:
        raise SettingsError(f"{PREFIX}BREAKER_COOLDOWN: must not exceed {PREFIX}BREAKER_MAX_COOLDOWN")
    for low, high in (("RETRY_MIN", "RETRY_MAX"), ("INCONCLUSIVE_RETRY_MIN", "INCONCLUSIVE_RETRY_MAX")):
        if getattr(settings.policy, low.lower()) > getattr(settings.policy, high.lower()):
            raise SettingsError(f"{PREFIX}{low}: must not exceed {PREFIX}{high}")
    if settings.check_deadline < settings.provider_timeout:
        raise SettingsError(
            f"{PREFIX}CHECK_DEADLINE: must be at least {PREFIX}PROVIDER_TIMEOUT "
            f"({settings.provider_timeout:g} s): a check makes one request or more"
        )
    if settings.heartbeat_interval >= settings.session_timeout:
        raise SettingsError(f"{PREFIX}BROKER_HEARTBEAT_INTERVAL: must be shorter than {PREFIX}BROKER_SESSION_TIMEOUT")
    return settings
