"""Settings from an environment mapping: durations, validation, and secrecy of the API key. Pure."""

from __future__ import annotations

import pytest

from streams.settings import SettingsError, load_settings, parse_duration

KEY = "sk-unit-0a1b2c3d4e5f-DO-NOT-ECHO"
FASTLY = {"LAPSEWATCH_STATUS_PROVIDER": "fastly", "LAPSEWATCH_FASTLY_API_KEY": KEY}


def settings_error(env: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    return str(caught.value)


# --- durations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("15m", 900.0),
        ("1h", 3600.0),
        ("30d", 2_592_000.0),
        ("1w", 604_800.0),
        ("250ms", 0.25),
        ("42", 42.0),
        ("1.5h", 5400.0),
        (" 2m ", 120.0),
    ],
)
def test_parse_duration_accepts_units_and_plain_seconds(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "-5s", "5x", "5 s s", "h"])
def test_parse_duration_rejects_malformed_text(text):
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90.0), ("1w", 604_800.0), ("42", 42.0)])
def test_a_duration_variable_is_read_in_seconds(text, seconds):
    settings = load_settings({"LAPSEWATCH_RECHECK_INTERVAL": text})
    assert settings.policy.recheck_interval == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["abc", "-5s", "5x", "0", "250ms"])
def test_a_bad_duration_variable_is_named_first_in_the_error(text):
    message = settings_error({"LAPSEWATCH_RECHECK_INTERVAL": text})
    assert message.startswith("LAPSEWATCH_RECHECK_INTERVAL: ")
    assert repr(text) in message


def test_an_empty_variable_means_its_default():
    assert load_settings({"LAPSEWATCH_RECHECK_INTERVAL": "  "}).policy.recheck_interval == 30 * 86400


# --- every error names its variable -----------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"LAPSEWATCH_RETRY_MAX": "soon"}, "LAPSEWATCH_RETRY_MAX"),
        ({"LAPSEWATCH_WEB_PORT": "70000"}, "LAPSEWATCH_WEB_PORT"),
        ({"LAPSEWATCH_WEB_BIND": "*"}, "LAPSEWATCH_WEB_BIND"),
        ({"LAPSEWATCH_WEB_HOST": "http://worker-1"}, "LAPSEWATCH_WEB_HOST"),
        ({"LAPSEWATCH_PARTITIONS": "eight"}, "LAPSEWATCH_PARTITIONS"),
        ({"LAPSEWATCH_RECHECK_JITTER": "1"}, "LAPSEWATCH_RECHECK_JITTER"),
        ({"LAPSEWATCH_PROVIDER_RATE": "0"}, "LAPSEWATCH_PROVIDER_RATE"),
        ({"LAPSEWATCH_APP_ID": "my app"}, "LAPSEWATCH_APP_ID"),
        ({"LAPSEWATCH_FASTLY_API_URL": "ftp://x"}, "LAPSEWATCH_FASTLY_API_URL"),
        ({"LAPSEWATCH_CA_BUNDLE": "/nonexistent/ca.pem"}, "LAPSEWATCH_CA_BUNDLE"),
        ({"LAPSEWATCH_DNS_RESOLVERS": "resolver.example"}, "LAPSEWATCH_DNS_RESOLVERS"),
        ({"LAPSEWATCH_RDAP_SERVERS": "com"}, "LAPSEWATCH_RDAP_SERVERS"),
        ({"LAPSEWATCH_STATUS_PROVIDER": "simulated"}, "LAPSEWATCH_SIMULATED_SCENARIO"),
        ({"LAPSEWATCH_BREAKER_COOLDOWN": "1h", "LAPSEWATCH_BREAKER_MAX_COOLDOWN": "1m"}, "LAPSEWATCH_BREAKER_COOLDOWN"),
        ({"LAPSEWATCH_BROKER_HEARTBEAT_INTERVAL": "60s"}, "LAPSEWATCH_BROKER_HEARTBEAT_INTERVAL"),
        ({"LAPSEWATCH_BROKER_FETCH_MAX_WAIT": "2m"}, "LAPSEWATCH_BROKER_FETCH_MAX_WAIT"),
    ],
)
def test_every_settings_error_starts_with_the_variable_name(env, variable):
    assert settings_error(env).startswith(variable + ": ")


# --- the web server: where it listens, how other workers reach it -----------------------------


def test_the_web_server_listens_on_loopback_and_advertises_it_by_default():
    settings = load_settings({})
    assert (settings.web_bind, settings.web_host, settings.web_url) == (
        "127.0.0.1",
        "127.0.0.1",
        "http://127.0.0.1:6066",
    )


@pytest.mark.parametrize("wildcard", ["0.0.0.0", "::", "[::]"])
def test_a_wildcard_bind_advertises_the_host_name(wildcard):
    import socket

    settings = load_settings({"LAPSEWATCH_WEB_BIND": wildcard, "LAPSEWATCH_WEB_PORT": "6067"})
    assert settings.web_bind == wildcard.strip("[]")
    assert (settings.web_host, settings.web_url) == (socket.gethostname(), f"http://{socket.gethostname()}:6067")


@pytest.mark.parametrize(
    ("bind", "url"),
    [
        ("10.1.2.3", "http://10.1.2.3:6066"),
        ("[::1]", "http://[::1]:6066"),
        ("fd00::5", "http://[fd00::5]:6066"),
        ("worker-1.internal", "http://worker-1.internal:6066"),
    ],
)
def test_a_specific_bind_address_is_also_the_advertised_one(bind, url):
    settings = load_settings({"LAPSEWATCH_WEB_BIND": bind})
    assert settings.web_bind == settings.web_host == bind.strip("[]")
    assert settings.web_url == url


def test_the_advertised_host_can_be_set():
    settings = load_settings({"LAPSEWATCH_WEB_BIND": "0.0.0.0", "LAPSEWATCH_WEB_HOST": "worker_1"})
    assert (settings.web_bind, settings.web_host, settings.web_url) == ("0.0.0.0", "worker_1", "http://worker_1:6066")


@pytest.mark.parametrize("variable", ["LAPSEWATCH_WEB_BIND", "LAPSEWATCH_WEB_HOST"])
@pytest.mark.parametrize(
    "text",
    [
        "*",
        "http://worker-1",
        "worker-1:6066",
        "10.0.0.256",
        "127.1",
        "0.0.0.0/0",
        "two words",
        "-worker",
        "worker..internal",
        "a" * 64 + ".example",
    ],
)
def test_a_web_address_that_is_neither_an_ip_address_nor_a_host_name_is_refused(variable, text):
    message = settings_error({variable: text})
    assert message.startswith(variable + ": ") and repr(text) in message
    assert "LAPSEWATCH_WEB_PORT" in message  # where the port goes instead


@pytest.mark.parametrize("wildcard", ["0.0.0.0", "::"])
def test_a_wildcard_is_refused_as_the_advertised_host(wildcard):
    message = settings_error({"LAPSEWATCH_WEB_BIND": "0.0.0.0", "LAPSEWATCH_WEB_HOST": wildcard})
    assert message.startswith("LAPSEWATCH_WEB_HOST: ") and "host name or address" in message


# --- providers --------------------------------------------------------------------------------


def test_without_a_status_provider_the_default_is_rdap():
    # The README still says the variable is required; the module now defaults to RDAP.
    settings = load_settings({})
    assert (settings.provider, settings.confirm_provider, settings.fastly_api_key) == ("rdap", None, None)


def test_an_unknown_provider_names_the_status_provider_variable():
    message = settings_error({"LAPSEWATCH_STATUS_PROVIDER": "gopher"})
    assert message.startswith("LAPSEWATCH_STATUS_PROVIDER: ")
    assert "'gopher'" in message


def test_whois_servers_override_the_table_and_a_bad_one_names_the_variable():
    settings = load_settings({"LAPSEWATCH_WHOIS_SERVERS": "de=127.0.0.1:4343, io=whois.example.net"})
    assert settings.whois_servers == {"de": "127.0.0.1:4343", "io": "whois.example.net"}
    assert settings.whois_server_rate == 0.2  # well under one query a second per server
    for bad in ("de", "de=", "de=host:0", "de=bad host", "d e=whois.example"):
        assert settings_error({"LAPSEWATCH_WHOIS_SERVERS": bad}).startswith("LAPSEWATCH_WHOIS_SERVERS: ")
    assert settings_error({"LAPSEWATCH_WHOIS_SERVER_RATE": "0"}).startswith("LAPSEWATCH_WHOIS_SERVER_RATE: ")


def test_the_provider_name_is_case_insensitive():
    assert load_settings({**FASTLY, "LAPSEWATCH_STATUS_PROVIDER": "Fastly"}).provider == "fastly"


def test_fastly_without_a_key_is_refused():
    message = settings_error({"LAPSEWATCH_STATUS_PROVIDER": "fastly"})
    assert message.startswith("LAPSEWATCH_FASTLY_API_KEY: ")
    assert "LAPSEWATCH_FASTLY_API_KEY_FILE" in message  # says how to give it


def test_fastly_as_the_confirming_provider_needs_a_key_too():
    assert settings_error({"LAPSEWATCH_CONFIRM_PROVIDER": "fastly"}).startswith("LAPSEWATCH_FASTLY_API_KEY: ")


def test_the_confirming_provider_must_differ_from_the_primary():
    assert settings_error({**FASTLY, "LAPSEWATCH_CONFIRM_PROVIDER": "fastly"}).startswith(
        "LAPSEWATCH_CONFIRM_PROVIDER: "
    )


def test_the_key_is_read_inline_or_from_a_file(tmp_path):
    assert load_settings(FASTLY).fastly_api_key == KEY
    key_file = tmp_path / "fastly"
    key_file.write_text(f"  {KEY}\n")
    settings = load_settings({"LAPSEWATCH_STATUS_PROVIDER": "fastly", "LAPSEWATCH_FASTLY_API_KEY_FILE": str(key_file)})
    assert settings.fastly_api_key == KEY


def test_a_key_given_both_inline_and_as_a_file_is_refused(tmp_path):
    key_file = tmp_path / "fastly"
    key_file.write_text(KEY)
    message = settings_error({**FASTLY, "LAPSEWATCH_FASTLY_API_KEY_FILE": str(key_file)})
    assert message.startswith("LAPSEWATCH_FASTLY_API_KEY: ")
    assert "not both" in message
    assert KEY not in message


def test_an_empty_key_file_is_refused(tmp_path):
    key_file = tmp_path / "fastly"
    key_file.write_text(" \n")
    message = settings_error({"LAPSEWATCH_STATUS_PROVIDER": "fastly", "LAPSEWATCH_FASTLY_API_KEY_FILE": str(key_file)})
    assert message.startswith("LAPSEWATCH_FASTLY_API_KEY_FILE: ")
    assert "empty" in message


def test_a_missing_key_file_is_refused(tmp_path):
    message = settings_error(
        {"LAPSEWATCH_STATUS_PROVIDER": "fastly", "LAPSEWATCH_FASTLY_API_KEY_FILE": str(tmp_path / "absent")}
    )
    assert message.startswith("LAPSEWATCH_FASTLY_API_KEY_FILE: ")


# --- broker and topics ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("localhost:9092", "kafka://localhost:9092"),
        ("kafka-1:9092, kafka://kafka-2:9093", "kafka://kafka-1:9092;kafka://kafka-2:9093"),
        ("[::1]:9092", "kafka://[::1]:9092"),
    ],
)
def test_broker_addresses_are_normalised_to_kafka_urls(text, url):
    assert load_settings({"LAPSEWATCH_BROKER": text}).broker == url


def test_no_broker_means_the_embedded_one():
    assert load_settings({}).broker is None


@pytest.mark.parametrize(
    "text", ["localhost", "http://broker:9092", "broker:port", "kafka://bro ker:9092", ",", "kafka-1:9092,kafka-2"]
)
def test_a_bad_broker_is_refused(text):
    assert settings_error({"LAPSEWATCH_BROKER": text}).startswith("LAPSEWATCH_BROKER: ")


def test_topic_names_can_be_overridden():
    settings = load_settings({"LAPSEWATCH_TOPIC_DEAD_LETTER": "team.dlq-v2"})
    assert settings.topics.dead_letter == "team.dlq-v2"
    assert settings.topics.email_events == "accounts.email-events"


@pytest.mark.parametrize(
    ("variable", "name"),
    [
        ("LAPSEWATCH_TOPIC_EMAIL_EVENTS", "bad topic"),
        ("LAPSEWATCH_TOPIC_LOGINS", "logins/v1"),
        ("LAPSEWATCH_TOPIC_DEAD_LETTER", ".."),
        ("LAPSEWATCH_TOPIC_DOMAIN_STATUS", "t" * 250),
    ],
)
def test_a_bad_topic_name_is_refused(variable, name):
    message = settings_error({variable: name})
    assert message.startswith(variable + ": ")
    assert "not a valid Kafka topic name" in message


# --- ordering between related settings --------------------------------------------------------


def test_retry_min_above_retry_max_is_refused():
    message = settings_error({"LAPSEWATCH_RETRY_MIN": "2d", "LAPSEWATCH_RETRY_MAX": "1d"})
    assert message == "LAPSEWATCH_RETRY_MIN: must not exceed LAPSEWATCH_RETRY_MAX"


def test_retry_min_equal_to_retry_max_is_allowed():
    policy = load_settings({"LAPSEWATCH_RETRY_MIN": "1h", "LAPSEWATCH_RETRY_MAX": "60m"}).policy
    assert (policy.retry_min, policy.retry_max) == (3600.0, 3600.0)


def test_inconclusive_retry_min_above_its_max_is_refused():
    assert settings_error({"LAPSEWATCH_INCONCLUSIVE_RETRY_MIN": "7h"}).startswith(
        "LAPSEWATCH_INCONCLUSIVE_RETRY_MIN: must not exceed LAPSEWATCH_INCONCLUSIVE_RETRY_MAX"
    )


# --- the API key is never shown ---------------------------------------------------------------


def test_the_api_key_is_not_in_the_settings_repr():
    settings = load_settings(FASTLY)
    assert settings.fastly_api_key == KEY
    assert KEY not in repr(settings)
    assert KEY not in str(settings)


@pytest.mark.parametrize(
    "extra",
    [
        {"LAPSEWATCH_BROKER": "nowhere"},
        {"LAPSEWATCH_TOPIC_LOGINS": "bad topic"},
        {"LAPSEWATCH_RETRY_MIN": "2d"},
        {"LAPSEWATCH_RECHECK_INTERVAL": "-5s"},
        {"LAPSEWATCH_CONFIRM_PROVIDER": "fastly"},
        {"LAPSEWATCH_STATUS_PROVIDER": "fastly!"},
        {"LAPSEWATCH_FASTLY_API_URL": "not a url"},
    ],
)
def test_the_api_key_is_in_no_settings_error(extra):
    message = settings_error({**FASTLY, **extra})
    assert message.startswith("LAPSEWATCH_")
    assert KEY not in message


# --- settings that would only fail later, at the first check ---------------------------------


def test_a_ca_bundle_that_is_not_pem_is_refused(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("this is not a certificate\n")
    assert settings_error({"LAPSEWATCH_CA_BUNDLE": str(bundle)}).startswith("LAPSEWATCH_CA_BUNDLE: ")


def test_a_pem_ca_bundle_is_taken():
    from tests.tls import certificate_authority

    bundle = certificate_authority().ca_pem_path
    assert str(load_settings({"LAPSEWATCH_CA_BUNDLE": bundle}).ca_bundle) == bundle


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"[]",
        b'{"default": 3}',
        b'{"latency_ms": "fast"}',
        b'{"latency_ms": -1}',
        b'{"domains": {"a.com": 7}}',
        b'{"domains": []}',
    ],
)
def test_a_scenario_file_that_cannot_be_played_is_refused(tmp_path, content):
    scenario = tmp_path / "scenario.json"
    scenario.write_bytes(content)
    message = settings_error(
        {"LAPSEWATCH_STATUS_PROVIDER": "simulated", "LAPSEWATCH_SIMULATED_SCENARIO": str(scenario)}
    )
    assert message.startswith("LAPSEWATCH_SIMULATED_SCENARIO: ")


@pytest.mark.parametrize("bad_key", [KEY + "\nX-Injected: 1", KEY + " with spaces", KEY + "é", "\x00" + KEY])
def test_a_key_that_cannot_be_a_header_is_refused_without_echoing_it(bad_key):
    message = settings_error({"LAPSEWATCH_STATUS_PROVIDER": "fastly", "LAPSEWATCH_FASTLY_API_KEY": bad_key})
    assert message.startswith("LAPSEWATCH_FASTLY_API_KEY: ") and KEY not in message


def test_a_data_dir_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "data"
    path.write_text("")
    assert settings_error({"LAPSEWATCH_DATA_DIR": str(path)}).startswith("LAPSEWATCH_DATA_DIR: ")


def test_dns_without_any_resolver_is_refused(tmp_path):
    from streams.settings import _system_resolvers_exist

    empty = tmp_path / "resolv.conf"
    empty.write_text("# no nameserver here\n")
    with pytest.raises(SettingsError, match=r"^LAPSEWATCH_DNS_RESOLVERS: "):
        _system_resolvers_exist(str(empty))


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"LAPSEWATCH_RDAP_BOOTSTRAP_URL": "http://data.iana.org/rdap/dns.json"}, "LAPSEWATCH_RDAP_BOOTSTRAP_URL"),
        ({"LAPSEWATCH_RECHECK_INTERVAL": "9" * 30 + "d"}, "LAPSEWATCH_RECHECK_INTERVAL"),
        ({"LAPSEWATCH_RETRY_MAX": "1000w"}, "LAPSEWATCH_RETRY_MAX"),
        ({"LAPSEWATCH_PROVIDER_TIMEOUT": "20s", "LAPSEWATCH_CHECK_DEADLINE": "10s"}, "LAPSEWATCH_CHECK_DEADLINE"),
    ],
)
def test_values_past_their_bounds_are_refused(env, variable):
    assert settings_error(env).startswith(variable + ": ")


def test_the_bootstrap_refresh_can_be_turned_off():
    assert load_settings({"LAPSEWATCH_RDAP_BOOTSTRAP_URL": "off"}).rdap_bootstrap_url is None
