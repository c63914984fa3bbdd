"""TLS and SASL for the connection to Kafka: validation, and what Faust and aiokafka are given."""

from __future__ import annotations

import ssl

import faust
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from streams.settings import SettingsError, load_settings
from tests.tls import certificate_authority

PASSWORD = "pw-Zq8!never-in-a-log"
BROKER = {"LAPSEWATCH_BROKER": "kafka://kafka-1:9093"}


@pytest.fixture(scope="module")
def pem(tmp_path_factory):
    """The test CA's file, a client certificate it issued with its key, and a key of another certificate."""
    ca = certificate_authority()
    folder = tmp_path_factory.mktemp("broker-tls")
    client, other = ca.ca.issue_cert("lapsewatch-client"), ca.ca.issue_cert("someone-else")
    files = {
        "ca": ca.ca_pem_path,
        "cert": folder / "client.pem",
        "key": folder / "client.key",
        "other_key": folder / "other.key",
        "not_pem": folder / "not.pem",
    }
    client.cert_chain_pems[0].write_to_path(str(files["cert"]))
    client.private_key_pem.write_to_path(str(files["key"]))
    other.private_key_pem.write_to_path(str(files["other_key"]))
    files["not_pem"].write_text("not a certificate\n")
    return {name: str(path) for name, path in files.items()}


def sasl(protocol: str = "SASL_SSL", mechanism: str = "SCRAM-SHA-512", **extra: str) -> dict[str, str]:
    return {
        **BROKER,
        "LAPSEWATCH_BROKER_SECURITY_PROTOCOL": protocol,
        "LAPSEWATCH_BROKER_SASL_MECHANISM": mechanism,
        "LAPSEWATCH_BROKER_SASL_USERNAME": "lapsewatch",
        "LAPSEWATCH_BROKER_SASL_PASSWORD": PASSWORD,
        **extra,
    }


def test_plaintext_is_the_default_and_gives_faust_no_credentials():
    security = load_settings({}).broker_security
    assert security.protocol == "PLAINTEXT"
    assert security.client_options() == {"security_protocol": "PLAINTEXT"}
    assert security.faust_credentials() is None


@pytest.mark.parametrize(
    "env, faust_type",
    [
        ({"LAPSEWATCH_BROKER_SECURITY_PROTOCOL": "SSL"}, faust.SSLCredentials),
        (sasl("SASL_PLAINTEXT", "PLAIN"), faust.SASLCredentials),
        (sasl("SASL_PLAINTEXT", "SCRAM-SHA-256"), faust.SASLCredentials),
        (sasl("SASL_SSL", "scram-sha-512"), faust.SASLCredentials),
        (sasl("SASL_SSL", "SCRAM-SHA-256"), faust.SASLCredentials),
    ],
)
async def test_faust_and_aiokafka_get_the_same_security_for_each_protocol(env, faust_type, pem):
    env = {**BROKER, "LAPSEWATCH_BROKER_CA_FILE": pem["ca"], **env}
    if env["LAPSEWATCH_BROKER_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT":
        del env["LAPSEWATCH_BROKER_CA_FILE"]
    security = load_settings(env).broker_security
    options = security.client_options()
    credentials = security.faust_credentials()
    assert isinstance(credentials, faust_type)
    # What Faust hands its own aiokafka clients is what lapsewatch's clients get.
    from_faust = credentials_to_aiokafka_auth(credentials)
    assert {k: v for k, v in from_faust.items() if k != "ssl_context"} == {
        k: v for k, v in options.items() if k != "ssl_context"
    }
    assert options["security_protocol"] == env["LAPSEWATCH_BROKER_SECURITY_PROTOCOL"]
    tls = options["security_protocol"] in ("SSL", "SASL_SSL")
    assert (options.get("ssl_context") is not None) is tls and (from_faust.get("ssl_context") is not None) is tls
    if tls:
        context = options["ssl_context"]
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        assert [c["subject"] for c in context.get_ca_certs()] == [
            c["subject"] for c in ssl.create_default_context(cafile=pem["ca"]).get_ca_certs()
        ]
    if "SASL_MECHANISM" in str(env):
        assert options["sasl_mechanism"] == env["LAPSEWATCH_BROKER_SASL_MECHANISM"].upper()
        assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("lapsewatch", PASSWORD)
    # aiokafka checks the combination when a client is made (no connection yet).
    for client in (
        AIOKafkaProducer(bootstrap_servers="127.0.0.1:9", **options),
        AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9", **options),
    ):
        await client.stop()


def test_a_client_certificate_is_loaded_for_mutual_tls(pem):
    security = load_settings(
        {
            **BROKER,
            "LAPSEWATCH_BROKER_SECURITY_PROTOCOL": "SSL",
            "LAPSEWATCH_BROKER_CA_FILE": pem["ca"],
            "LAPSEWATCH_BROKER_CERT_FILE": pem["cert"],
            "LAPSEWATCH_BROKER_KEY_FILE": pem["key"],
        }
    ).broker_security
    assert (str(security.cert_file), str(security.key_file)) == (pem["cert"], pem["key"])
    assert isinstance(security.client_options()["ssl_context"], ssl.SSLContext)


def test_the_password_is_read_from_a_file(tmp_path):
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    env = sasl()
    del env["LAPSEWATCH_BROKER_SASL_PASSWORD"]
    env["LAPSEWATCH_BROKER_SASL_PASSWORD_FILE"] = str(secret)
    assert load_settings(env).broker_security.sasl_password == PASSWORD
    # The commands that need only the connection read the same variables.
    assert load_settings(env).broker_security.client_options()["sasl_plain_password"] == PASSWORD


def _bad(pem, tmp_path) -> list[tuple[dict[str, str], str]]:
    empty = tmp_path / "empty"
    empty.write_text("")
    plaintext_with = lambda name, value: {**BROKER, f"LAPSEWATCH_{name}": value}
    return [
        ({**BROKER, "LAPSEWATCH_BROKER_SECURITY_PROTOCOL": "TLS"}, "BROKER_SECURITY_PROTOCOL"),
        ({"LAPSEWATCH_BROKER_SECURITY_PROTOCOL": "SSL"}, "BROKER_SECURITY_PROTOCOL"),  # the embedded broker
        (sasl(mechanism=""), "BROKER_SASL_MECHANISM"),
        (sasl(mechanism="GSSAPI"), "BROKER_SASL_MECHANISM"),
        (sasl(LAPSEWATCH_BROKER_SASL_USERNAME=""), "BROKER_SASL_USERNAME"),
        (sasl(LAPSEWATCH_BROKER_SASL_PASSWORD=""), "BROKER_SASL_PASSWORD"),
        (sasl(LAPSEWATCH_BROKER_SASL_PASSWORD_FILE=str(empty)), "BROKER_SASL_PASSWORD"),  # both given
        (
            sasl(LAPSEWATCH_BROKER_SASL_PASSWORD="", LAPSEWATCH_BROKER_SASL_PASSWORD_FILE=str(empty)),
            "BROKER_SASL_PASSWORD_FILE",
        ),
        (
            sasl(LAPSEWATCH_BROKER_SASL_PASSWORD="", LAPSEWATCH_BROKER_SASL_PASSWORD_FILE=PASSWORD),
            "BROKER_SASL_PASSWORD_FILE",
        ),  # the secret pasted where its file belongs
        (sasl(LAPSEWATCH_BROKER_SASL_PASSWORD=PASSWORD + "\nx"), "BROKER_SASL_PASSWORD"),
        (sasl("PLAINTEXT"), "BROKER_SASL_MECHANISM"),  # SASL settings without a SASL protocol
        (plaintext_with("BROKER_SASL_PASSWORD", PASSWORD), "BROKER_SASL_PASSWORD"),
        (plaintext_with("BROKER_CA_FILE", pem["ca"]), "BROKER_CA_FILE"),
        (sasl("SASL_PLAINTEXT", LAPSEWATCH_BROKER_CA_FILE=pem["ca"]), "BROKER_CA_FILE"),
        (sasl(LAPSEWATCH_BROKER_CA_FILE=str(tmp_path / "missing.pem")), "BROKER_CA_FILE"),
        (sasl(LAPSEWATCH_BROKER_CA_FILE=pem["not_pem"]), "BROKER_CA_FILE"),
        (sasl(LAPSEWATCH_BROKER_CERT_FILE=pem["cert"]), "BROKER_KEY_FILE"),
        (sasl(LAPSEWATCH_BROKER_KEY_FILE=pem["key"]), "BROKER_CERT_FILE"),
        (
            sasl(LAPSEWATCH_BROKER_CERT_FILE=pem["cert"], LAPSEWATCH_BROKER_KEY_FILE=pem["other_key"]),
            "BROKER_CERT_FILE",
        ),
        (sasl(LAPSEWATCH_BROKER_CERT_FILE=pem["not_pem"], LAPSEWATCH_BROKER_KEY_FILE=pem["key"]), "BROKER_CERT_FILE"),
    ]


def test_each_mistake_is_refused_naming_its_variable_and_never_showing_the_password(pem, tmp_path):
    for env, variable in _bad(pem, tmp_path):
        with pytest.raises(SettingsError) as caught:
            load_settings(env)
        message = str(caught.value)
        assert message.startswith(f"LAPSEWATCH_{variable}: "), (env, message)
        assert PASSWORD not in message and PASSWORD not in repr(caught.value), message


def test_the_password_is_in_no_repr(pem):
    settings = load_settings(sasl(LAPSEWATCH_BROKER_CA_FILE=pem["ca"]))
    assert settings.broker_security.sasl_password == PASSWORD
    for shown in (
        repr(settings),
        str(settings),
        repr(settings.broker_security),
        repr(settings.broker_security.faust_credentials()),
    ):
        assert PASSWORD not in shown
    assert "lapsewatch" in repr(settings.broker_security.faust_credentials())
