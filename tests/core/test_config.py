"""Tests for hookline.core.config: settings from HOOKLINE_* variables."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hookline.core.config import SETTINGS, SettingError, Settings
from hookline.core.keyring import new_key_entry
from hookline.core.retry import DEFAULT_DELAYS, parse_delays

FAST = settings(max_examples=100, deadline=None, database=None)


def test_defaults_parse() -> None:
    s = Settings.from_env({})
    assert s.kafka_bootstrap == "127.0.0.1:19092"
    assert s.database_url == "postgresql://hookline@127.0.0.1:15432/hookline"
    assert s.admin_token == ""
    assert s.http_host == "127.0.0.1"
    assert s.http_port == 8080
    assert s.public_url == ""
    assert s.topic_prefix == "hookline"
    assert s.partitions == 4
    assert s.replication_factor == 1
    assert s.retry_delays == parse_delays(DEFAULT_DELAYS)
    assert s.retry_delays[0] == 5.0
    assert s.delivery_timeout_s == 10.0
    assert s.max_retry_after_s == 3600.0
    assert s.max_in_flight == 256
    assert (s.http_header_timeout_s, s.http_body_timeout_s) == (10.0, 30.0)
    assert (s.api_rate, s.api_burst, s.api_auth_failure_rate) == (200.0, 400, 10.0)
    assert s.allow_private_targets is False
    assert s.allow_http_targets is False
    assert s.log_level == "INFO"


def test_every_setting_is_documented_once_and_its_default_parses() -> None:
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    assert all(n.startswith("HOOKLINE_") and s.help for n, s in zip(names, SETTINGS, strict=True))
    assert len(SETTINGS) == len(dataclasses.fields(Settings))
    defaults = {s.name: s.default for s in SETTINGS}
    assert Settings.from_env(defaults) == Settings.from_env({})


def test_from_env_reads_os_environ_when_no_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKLINE_PARTITIONS", "7")
    assert Settings.from_env().partitions == 7
    assert Settings.from_env({}).partitions == 4


def test_values_are_read_and_stripped() -> None:
    s = Settings.from_env(
        {
            "HOOKLINE_KAFKA_BOOTSTRAP": " k1:9092,k2:9092 ",
            "HOOKLINE_HTTP_PORT": " 0 ",
            "HOOKLINE_PUBLIC_URL": "https://hooks.example.com/",
            "HOOKLINE_PARTITIONS": "12",
            "HOOKLINE_RETRY_DELAYS": "500ms, 1s,2m",
            "HOOKLINE_DELIVERY_TIMEOUT": "2.5",
            "HOOKLINE_MAX_IN_FLIGHT": "1",
            "HOOKLINE_ALLOW_PRIVATE_TARGETS": "1",
            "HOOKLINE_ALLOW_HTTP_TARGETS": "TRUE",
            "HOOKLINE_LOG_LEVEL": "debug",
        }
    )
    assert s.kafka_bootstrap == "k1:9092,k2:9092"
    assert s.http_port == 0
    assert s.public_url == "https://hooks.example.com"
    assert s.partitions == 12
    assert s.retry_delays == (0.5, 1.0, 120.0)
    assert s.delivery_timeout_s == 2.5
    assert s.max_in_flight == 1
    assert s.allow_private_targets is True
    assert s.allow_http_targets is True
    assert s.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("Yes", True),
        ("ON", True),
        ("0", False),
        ("", False),
        ("false", False),
        ("no", False),
        ("Off", False),
    ],
)
def test_flags(raw: str, expected: bool) -> None:
    assert Settings.from_env({"HOOKLINE_ALLOW_HTTP_TARGETS": raw}).allow_http_targets is expected


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("HOOKLINE_PARTITIONS", "0"),
        ("HOOKLINE_PARTITIONS", "-1"),
        ("HOOKLINE_PARTITIONS", "four"),
        ("HOOKLINE_PARTITIONS", "2.5"),
        ("HOOKLINE_PARTITIONS", ""),
        ("HOOKLINE_REPLICATION_FACTOR", "0"),
        ("HOOKLINE_MAX_IN_FLIGHT", "0"),
        ("HOOKLINE_HTTP_PORT", "65536"),
        ("HOOKLINE_HTTP_PORT", "-1"),
        ("HOOKLINE_HTTP_PORT", "http"),
        ("HOOKLINE_RETRY_DELAYS", "5x"),
        ("HOOKLINE_RETRY_DELAYS", ""),
        ("HOOKLINE_RETRY_DELAYS", "5s,,1m"),
        ("HOOKLINE_RETRY_DELAYS", "1m,5s"),
        ("HOOKLINE_RETRY_DELAYS", "0s"),
        ("HOOKLINE_RETRY_DELAYS", "0.0001s"),
        ("HOOKLINE_DELIVERY_TIMEOUT", "0"),
        ("HOOKLINE_DELIVERY_TIMEOUT", "-3"),
        ("HOOKLINE_DELIVERY_TIMEOUT", "10s"),
        ("HOOKLINE_MAX_RETRY_AFTER", "0"),
        ("HOOKLINE_HTTP_HEADER_TIMEOUT", "0s"),
        ("HOOKLINE_HTTP_BODY_TIMEOUT", "forever"),
        ("HOOKLINE_API_RATE", "0"),
        ("HOOKLINE_API_RATE", "nan"),
        ("HOOKLINE_API_BURST", "0"),
        ("HOOKLINE_API_BURST", "1.5"),
        ("HOOKLINE_API_AUTH_FAILURE_RATE", "-1"),
        ("HOOKLINE_ALLOW_PRIVATE_TARGETS", "maybe"),
        ("HOOKLINE_ALLOW_PRIVATE_TARGETS", "2"),
        ("HOOKLINE_ALLOW_HTTP_TARGETS", "y"),
        ("HOOKLINE_LOG_LEVEL", "TRACE"),
        ("HOOKLINE_LOG_LEVEL", "CRITICAL"),
    ],
)
def test_bad_value_names_the_variable(name: str, raw: str) -> None:
    with pytest.raises(SettingError) as info:
        Settings.from_env({name: raw})
    message = str(info.value)
    assert message.startswith(f"{name}=")
    assert repr(raw.strip()) in message
    assert isinstance(info.value, ValueError)
    assert info.value.__cause__ is not None


def test_retry_delay_error_names_the_bad_item() -> None:
    with pytest.raises(SettingError, match=r"HOOKLINE_RETRY_DELAYS=.*'5x'"):
        Settings.from_env({"HOOKLINE_RETRY_DELAYS": "1s,5x,1h"})


def test_first_bad_variable_is_reported_and_others_are_not_needed() -> None:
    with pytest.raises(SettingError, match="HOOKLINE_PARTITIONS"):
        Settings.from_env({"HOOKLINE_PARTITIONS": "0", "HOOKLINE_ALLOW_HTTP_TARGETS": "maybe"})


def test_text_settings_are_not_validated() -> None:
    s = Settings.from_env({"HOOKLINE_ADMIN_TOKEN": " tok en ", "HOOKLINE_TOPIC_PREFIX": "t-1"})
    assert s.admin_token == "tok en"
    assert s.topic_prefix == "t-1"


@pytest.mark.parametrize("raw", ["nan", "NaN"])
def test_delivery_timeout_must_be_a_number(raw: str) -> None:
    with pytest.raises(SettingError, match="HOOKLINE_DELIVERY_TIMEOUT"):
        Settings.from_env({"HOOKLINE_DELIVERY_TIMEOUT": raw})


@FAST
@given(n=st.integers(1, 10**6))
def test_positive_ints_round_trip(n: int) -> None:
    s = Settings.from_env({"HOOKLINE_PARTITIONS": str(n), "HOOKLINE_MAX_IN_FLIGHT": f" {n}\n"})
    assert s.partitions == n
    assert s.max_in_flight == n


@FAST
@given(n=st.integers(-(10**6), 0))
def test_non_positive_ints_are_refused(n: int) -> None:
    with pytest.raises(SettingError, match="HOOKLINE_REPLICATION_FACTOR"):
        Settings.from_env({"HOOKLINE_REPLICATION_FACTOR": str(n)})


def test_secrets_keys_from_the_setting_or_a_file(tmp_path: Path) -> None:
    entries = [new_key_entry("k2"), new_key_entry("k1")]
    assert Settings.from_env({"HOOKLINE_SECRETS_KEYS": ",".join(entries)}).secrets_keys.ids == (
        "k2",
        "k1",
    )
    path = tmp_path / "keys"
    path.write_text("\n".join(entries) + "\n")
    from_file = Settings.from_env({"HOOKLINE_SECRETS_KEYS_FILE": str(path)})
    assert from_file.secrets_keys.ids == ("k2", "k1")
    assert Settings.from_env({}).secrets_keys.ids == ()


def test_a_bad_secrets_key_names_the_setting_never_the_key() -> None:
    short = "k1:" + "QUJDREVGR0hJSktMTU5PUA=="  # 16 bytes
    with pytest.raises(SettingError, match="HOOKLINE_SECRETS_KEYS: key 'k1' is 16 bytes") as caught:
        Settings.from_env({"HOOKLINE_SECRETS_KEYS": short})
    assert "QUJDREVGR0hJSktMTU5PUA" not in str(caught.value)
