"""Tests for hookline.core.kafka_auth: client options, and refusals named by setting.

The refusals of a real broker are in tests/e2e/test_kafka_secured.py; here, the
translation of each kind of error and the options every client gets.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path

import pytest
from aiokafka import errors

from hookline.core import kafka
from hookline.core.config import Settings
from hookline.core.kafka_auth import client_options, explain
from support.stack import ROOT

SASL = Settings.from_env(
    {
        "HOOKLINE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "HOOKLINE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "HOOKLINE_KAFKA_SASL_USERNAME": "svc",
        "HOOKLINE_KAFKA_SASL_PASSWORD": "pw",
    }
)


def test_plaintext_clients_get_no_security_options() -> None:
    assert client_options(Settings.from_env({})) == {"security_protocol": "PLAINTEXT"}


def test_sasl_ssl_clients_get_credentials_and_a_verifying_context() -> None:
    options = client_options(SASL)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-256"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("svc", "pw")
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


async def test_every_kind_of_client_is_made_with_the_options() -> None:
    producer, consumer = kafka.producer(SASL), kafka.consumer(SASL, group=None)
    for inner in (producer.client, consumer._client, kafka.admin(SASL)._client):
        assert inner._security_protocol == "SASL_SSL"
        assert inner._sasl_plain_username == "svc"
        assert inner._ssl_context is client_options(SASL)["ssl_context"]
    await consumer.stop()  # never started: only closes what its constructor opened


def test_no_client_is_made_outside_the_factory() -> None:
    made = re.compile(r"\b(AIOKafkaConsumer|AIOKafkaProducer|AIOKafkaAdminClient|faust\.App)\(")
    allowed = {
        Path("shared/hookline/core/kafka.py"),
        Path("services/router/hookline/router/app.py"),  # faust.App, with broker_credentials
        # A faust.App whose agent runs in Faust's test context, on an in-memory channel:
        # its broker (127.0.0.1:1) is never reached, so no setting has to reach it.
        Path("tests/router/test_consumer.py"),
    }
    found = [
        path.relative_to(ROOT)
        for top in ("shared", "services", "bench", "tests", "deploy")
        for path in (ROOT / top).rglob("*.py")
        if made.search(path.read_text()) and path.relative_to(ROOT) not in allowed
    ]
    assert found == []
    assert (
        "broker_credentials=broker_credentials(settings)"
        in (ROOT / "services/router/hookline/router/app.py").read_text()
    )


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            errors.SaslAuthenticationFailed("Authentication failed: invalid credentials"),
            "HOOKLINE_KAFKA_SASL_USERNAME / HOOKLINE_KAFKA_SASL_PASSWORD: the broker refused "
            "user 'svc' (SCRAM-SHA-256): [Error 58] SaslAuthenticationFailed: "
            "Authentication failed: invalid credentials",
        ),
        (
            errors.UnsupportedSaslMechanismError("enabled: ['PLAIN']"),
            "HOOKLINE_KAFKA_SASL_MECHANISM=SCRAM-SHA-256: ",
        ),
        (errors.TopicAuthorizationFailedError(), "a missing ACL for User:svc: "),
        (errors.ClusterAuthorizationFailedError(), "a missing ACL on the cluster for User:svc"),
    ],
)
def test_a_refusal_names_the_setting(exc: BaseException, expected: str) -> None:
    said = explain(exc, SASL)
    assert said is not None and said.startswith(expected)
    assert "\n" not in said


def test_an_untrusted_or_misnamed_certificate_names_the_setting() -> None:
    untrusted = ssl.SSLCertVerificationError(1, "certificate verify failed")
    untrusted.verify_message = "unable to get local issuer certificate"
    assert explain(untrusted, SASL) == (
        "HOOKLINE_KAFKA_SSL_CA_FILE: the broker's certificate is not trusted "
        "(unable to get local issuer certificate)"
    )
    misnamed = ssl.SSLCertVerificationError(1, "certificate verify failed")
    misnamed.verify_message = "IP address mismatch, certificate is not valid for '127.0.0.1'."
    said = explain(misnamed, SASL)
    assert said is not None and said.startswith("HOOKLINE_KAFKA_BOOTSTRAP: ")
    assert "HOOKLINE_KAFKA_SSL_CHECK_HOSTNAME=0" in said


def test_a_broker_that_is_only_unreachable_is_no_refusal() -> None:
    for exc in (ConnectionRefusedError(111, "refused"), errors.KafkaConnectionError("gone")):
        assert explain(exc, SASL) is None
