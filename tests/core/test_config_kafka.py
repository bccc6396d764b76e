"""Tests for the Kafka security settings and the secrets read from ``…_FILE`` variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from hookline.core.config import SETTINGS, SettingError, Settings, settings_table

SASL = {
    "HOOKLINE_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
    "HOOKLINE_KAFKA_SASL_MECHANISM": "scram-sha-512",
    "HOOKLINE_KAFKA_SASL_USERNAME": "hookline",
    "HOOKLINE_KAFKA_SASL_PASSWORD": "pw",
}


def test_the_default_is_plaintext_with_hostnames_checked() -> None:
    s = Settings.from_env({})
    assert s.kafka_security_protocol == "PLAINTEXT"
    assert s.kafka_sasl_mechanism == "PLAIN"
    assert s.kafka_ssl_check_hostname is True
    assert (s.kafka_sasl_username, s.kafka_sasl_password, s.kafka_ssl_ca_file) == ("", "", "")


def test_sasl_settings_are_read_and_upper_cased(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("pem")
    s = Settings.from_env({**SASL, "HOOKLINE_KAFKA_SSL_CA_FILE": str(ca)})
    assert s.kafka_security_protocol == "SASL_SSL"
    assert s.kafka_sasl_mechanism == "SCRAM-SHA-512"
    assert (s.kafka_sasl_username, s.kafka_sasl_password) == ("hookline", "pw")
    assert s.kafka_ssl_ca_file == str(ca)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HOOKLINE_KAFKA_SECURITY_PROTOCOL": "TLS"}, "HOOKLINE_KAFKA_SECURITY_PROTOCOL='TLS'"),
        ({**SASL, "HOOKLINE_KAFKA_SASL_MECHANISM": "GSSAPI"}, "HOOKLINE_KAFKA_SASL_MECHANISM"),
        ({**SASL, "HOOKLINE_KAFKA_SASL_PASSWORD": ""}, "HOOKLINE_KAFKA_SASL_PASSWORD is needed"),
        ({**SASL, "HOOKLINE_KAFKA_SASL_USERNAME": " "}, "HOOKLINE_KAFKA_SASL_USERNAME is needed"),
        (
            {"HOOKLINE_KAFKA_SASL_USERNAME": "u"},
            "HOOKLINE_KAFKA_SASL_USERNAME is only used by SASL_PLAINTEXT or SASL_SSL",
        ),
        (
            {"HOOKLINE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"},
            "HOOKLINE_KAFKA_SASL_USERNAME is needed",
        ),
        (
            {"HOOKLINE_KAFKA_SSL_CA_FILE": "/etc/hostname"},
            "HOOKLINE_KAFKA_SSL_CA_FILE is only used by SSL or SASL_SSL, not PLAINTEXT",
        ),
        (
            {"HOOKLINE_KAFKA_SECURITY_PROTOCOL": "SSL", "HOOKLINE_KAFKA_SSL_CA_FILE": "/nope"},
            "HOOKLINE_KAFKA_SSL_CA_FILE='/nope': no such file",
        ),
        (
            {"HOOKLINE_KAFKA_SECURITY_PROTOCOL": "SSL", "HOOKLINE_KAFKA_SSL_KEY_FILE": "/etc"},
            "HOOKLINE_KAFKA_SSL_KEY_FILE='/etc': no such file",
        ),
        (
            {"HOOKLINE_KAFKA_SECURITY_PROTOCOL": "SSL", "HOOKLINE_KAFKA_SSL_CHECK_HOSTNAME": "x"},
            "HOOKLINE_KAFKA_SSL_CHECK_HOSTNAME='x'",
        ),
    ],
)
def test_a_bad_combination_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingError) as info:
        Settings.from_env(env)
    assert message in str(info.value)


def test_a_key_needs_its_certificate(tmp_path: Path) -> None:
    key = tmp_path / "client.key"
    key.write_text("pem")
    env = {"HOOKLINE_KAFKA_SECURITY_PROTOCOL": "SSL", "HOOKLINE_KAFKA_SSL_KEY_FILE": str(key)}
    with pytest.raises(SettingError, match="HOOKLINE_KAFKA_SSL_KEY_FILE needs"):
        Settings.from_env(env)


def test_secrets_are_read_from_files_without_the_final_newline(tmp_path: Path) -> None:
    password = tmp_path / "password"
    password.write_text("s3cret with space\n")
    token = tmp_path / "token"
    token.write_text("tok\r\n")
    env = {
        **SASL,
        "HOOKLINE_KAFKA_SASL_PASSWORD": "",
        "HOOKLINE_KAFKA_SASL_PASSWORD_FILE": str(password),
        "HOOKLINE_ADMIN_TOKEN_FILE": str(token),
    }
    s = Settings.from_env(env)
    assert s.kafka_sasl_password == "s3cret with space"
    assert s.admin_token == "tok"


def test_a_secret_given_twice_or_unreadable_is_refused(tmp_path: Path) -> None:
    given = tmp_path / "url"
    given.write_text("postgresql://x")
    both = {"HOOKLINE_DATABASE_URL": "postgresql://y", "HOOKLINE_DATABASE_URL_FILE": str(given)}
    with pytest.raises(SettingError, match="HOOKLINE_DATABASE_URL and HOOKLINE_DATABASE_URL_FILE"):
        Settings.from_env(both)
    missing = {"HOOKLINE_ADMIN_TOKEN_FILE": str(tmp_path / "none")}
    with pytest.raises(SettingError, match=r"HOOKLINE_ADMIN_TOKEN_FILE=.*cannot read it"):
        Settings.from_env(missing)
    assert Settings.from_env({"HOOKLINE_DATABASE_URL_FILE": str(given)}).database_url == (
        "postgresql://x"
    )


def test_every_secret_setting_says_it_can_be_a_file() -> None:
    secrets = {s.name for s in SETTINGS if s.secret}
    assert {
        "HOOKLINE_KAFKA_SASL_PASSWORD",
        "HOOKLINE_KAFKA_SSL_KEY_PASSWORD",
        "HOOKLINE_DATABASE_URL",
        "HOOKLINE_ADMIN_TOKEN",
    } <= secrets
    table = settings_table()
    for name in secrets:
        assert f"`{name}_FILE`" in table
