"""Hookline's settings: one typed object read from ``HOOKLINE_*`` environment variables.

Every setting is defined here once, with its default and its meaning; the README's
settings table is generated from ``SETTINGS`` (and a test checks that it matches).
A bad value fails at start-up with the variable's name.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hookline.core.keyring import KeyringError, SecretKeys, parse_keys
from hookline.core.retry import DEFAULT_DELAYS, parse_delays, parse_duration


class SettingError(ValueError):
    """A ``HOOKLINE_*`` variable has a value that cannot be used."""


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str
    # A secret can be given as ``<name>_FILE``, the path of a file that holds it (the way
    # Kubernetes mounts a Secret); the file's content without its final newline is used.
    secret: bool = False

    @property
    def file_variable(self) -> str:
        return f"{self.name}_FILE"


SETTINGS: tuple[Setting, ...] = (
    Setting("HOOKLINE_KAFKA_BOOTSTRAP", "127.0.0.1:19092", "Kafka bootstrap servers."),
    Setting(
        "HOOKLINE_KAFKA_SECURITY_PROTOCOL",
        "PLAINTEXT",
        "How every Kafka client connects: `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.",
    ),
    Setting(
        "HOOKLINE_KAFKA_SASL_MECHANISM",
        "PLAIN",
        "SASL mechanism (SASL protocols): `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.",
    ),
    Setting("HOOKLINE_KAFKA_SASL_USERNAME", "", "SASL user name (needed by the SASL protocols)."),
    Setting(
        "HOOKLINE_KAFKA_SASL_PASSWORD", "", "SASL password (needed by the SASL protocols).", True
    ),
    Setting(
        "HOOKLINE_KAFKA_SSL_CA_FILE",
        "",
        "PEM file of the CAs that sign the brokers' certificates; default: the system's CAs.",
    ),
    Setting(
        "HOOKLINE_KAFKA_SSL_CERT_FILE",
        "",
        "PEM file of the client certificate (chain) for mutual TLS; may hold the key too.",
    ),
    Setting("HOOKLINE_KAFKA_SSL_KEY_FILE", "", "PEM file of the client certificate's private key."),
    Setting("HOOKLINE_KAFKA_SSL_KEY_PASSWORD", "", "Password of an encrypted client key.", True),
    Setting(
        "HOOKLINE_KAFKA_SSL_CHECK_HOSTNAME",
        "1",
        "0 accepts a broker certificate that does not name the host connected to (never do).",
    ),
    Setting(
        "HOOKLINE_DATABASE_URL",
        "postgresql://hookline@127.0.0.1:15432/hookline",
        "PostgreSQL URL for the read model and the attempt log.",
        True,
    ),
    Setting(
        "HOOKLINE_SECRETS_KEYS",
        "",
        "Keys that seal subscription secrets at rest: `id:base64-of-32-bytes` entries, comma"
        " or line separated; the first seals, all open (docs/operations.md). Needed by the api"
        " and the deliverer; `hookline secrets new-key ID` makes one.",
        True,
    ),
    Setting(
        "HOOKLINE_ADMIN_TOKEN",
        "",
        "Bearer token for `/v2/admin/*`; admin calls fail without it.",
        True,
    ),
    Setting("HOOKLINE_HTTP_HOST", "127.0.0.1", "Address each service's HTTP server binds."),
    Setting(
        "HOOKLINE_HTTP_PORT",
        "8080",
        "Port of the service's HTTP server (the API; `/healthz` on the others).",
    ),
    Setting(
        "HOOKLINE_HTTP_HEADER_TIMEOUT",
        "10s",
        "How long a connection may take to send a request's line and headers, from its start"
        " or the previous answer (idle keep-alive connections close then too).",
    ),
    Setting(
        "HOOKLINE_HTTP_BODY_TIMEOUT",
        "30s",
        "How long the API waits for a request's whole body before it answers 408.",
    ),
    Setting(
        "HOOKLINE_API_RATE",
        "200",
        "Requests a second one tenant (all its API keys) may make to one API process; past"
        " the burst, 429 with `Retry-After`.",
    ),
    Setting(
        "HOOKLINE_API_BURST",
        "400",
        "Requests one tenant may make at once before `HOOKLINE_API_RATE` paces it.",
    ),
    Setting(
        "HOOKLINE_API_AUTH_FAILURE_RATE",
        "10",
        "Requests a second with a key that is not valid, from one address (IPv6: one /64),"
        " before 429; twice as many at once.",
    ),
    Setting(
        "HOOKLINE_PUBLIC_URL",
        "",
        "Base URL the API is reached at, for `url` fields; default: from the request.",
    ),
    Setting("HOOKLINE_TOPIC_PREFIX", "hookline", "Prefix of every topic name."),
    Setting(
        "HOOKLINE_CREATE_TOPICS",
        "1",
        "0: the platform provisions the topics (`hookline topics plan`); services only check "
        "at start that each exists and will do, and stop with the list of what is not.",
    ),
    Setting("HOOKLINE_PARTITIONS", "4", "Partitions of each topic created at start."),
    Setting(
        "HOOKLINE_REPLICATION_FACTOR", "1", "Replication factor of the topics created at start."
    ),
    Setting(
        "HOOKLINE_RETRY_DELAYS", DEFAULT_DELAYS, "Delays between attempts, one delay topic each."
    ),
    Setting("HOOKLINE_DELIVERY_TIMEOUT", "10", "Seconds a target has to answer a delivery."),
    Setting(
        "HOOKLINE_MAX_RETRY_AFTER", "3600", "Upper bound in seconds on a target's `Retry-After`."
    ),
    Setting(
        "HOOKLINE_MAX_IN_FLIGHT",
        "256",
        "Requests one deliverer has open at once; four times as many deliveries may wait a turn.",
    ),
    Setting(
        "HOOKLINE_ENDPOINT_CONCURRENCY",
        "64",
        "Requests one deliverer sends to one endpoint (host:port) at once; more wait within"
        " the deliverer's read-ahead (4 times `HOOKLINE_MAX_IN_FLIGHT`).",
    ),
    Setting(
        "HOOKLINE_TENANT_BURST",
        "200",
        "Deliveries one tenant may put on the main lane at once; an event whose fan-out does"
        " not fit goes to the bulk lane (docs/delivery.md, fairness).",
    ),
    Setting(
        "HOOKLINE_TENANT_RATE",
        "100",
        "Deliveries a second by which a tenant's share of the main lane refills (per router).",
    ),
    Setting(
        "HOOKLINE_SOURCE_RATE",
        "500",
        "Records a second one router reads from one source's topic (500 at once), so that"
        " a flood on one source leaves the router to the others.",
    ),
    Setting(
        "HOOKLINE_TENANT_IN_FLIGHT",
        "128",
        "Requests one deliverer has open at once for one tenant; as many more may wait, then"
        " they are put off without using a retry.",
    ),
    Setting(
        "HOOKLINE_BULK_READ_AHEAD",
        "256",
        "Deliveries of the bulk lane one deliverer reads ahead, less by each main-lane delivery"
        " under way (at least an eighth); then it pauses the bulk lane.",
    ),
    Setting(
        "HOOKLINE_BREAKER_FAILURES",
        "5",
        "Failures in a row (no answer, 502, 503, 504) that open an endpoint's circuit.",
    ),
    Setting(
        "HOOKLINE_BREAKER_COOLDOWN",
        "30s",
        "How long an open circuit defers deliveries before one probe request is let through.",
    ),
    Setting(
        "HOOKLINE_SECRET_OVERLAP",
        "24h",
        "How long the previous secret keeps signing beside a rotated one.",
    ),
    Setting(
        "HOOKLINE_AUTO_DISABLE_AFTER",
        "7d",
        "A subscription failing this long without a success becomes `DISABLED_TOO_MANY_ERRORS`.",
    ),
    Setting("HOOKLINE_ATTEMPT_RETENTION", "30d", "How long the attempt log keeps an attempt."),
    Setting(
        "HOOKLINE_DEDUP_WINDOW",
        "24h",
        "The router routes an `eventId` once within this time (per tenant), restarts included.",
    ),
    Setting(
        "HOOKLINE_BATCH_WAIT",
        "1s",
        "How long a partial batch (`format: batch`, up to 50 objects) waits before it goes out.",
    ),
    Setting(
        "HOOKLINE_ALLOW_PRIVATE_TARGETS", "0", "1 allows targets on loopback and private addresses."
    ),
    Setting("HOOKLINE_ALLOW_HTTP_TARGETS", "0", "1 allows `http://` target URLs."),
    Setting("HOOKLINE_LOG_LEVEL", "INFO", "Log level of every service."),
)

_KNOWN = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap: str
    kafka_security_protocol: str
    kafka_sasl_mechanism: str
    kafka_sasl_username: str
    kafka_sasl_password: str
    kafka_ssl_ca_file: str
    kafka_ssl_cert_file: str
    kafka_ssl_key_file: str
    kafka_ssl_key_password: str
    kafka_ssl_check_hostname: bool
    database_url: str
    secrets_keys: SecretKeys
    admin_token: str
    http_host: str
    http_port: int
    http_header_timeout_s: float
    http_body_timeout_s: float
    api_rate: float
    api_burst: int
    api_auth_failure_rate: float
    public_url: str
    topic_prefix: str
    create_topics: bool
    partitions: int
    replication_factor: int
    retry_delays: tuple[float, ...]
    delivery_timeout_s: float
    max_retry_after_s: float
    max_in_flight: int
    endpoint_concurrency: int
    tenant_burst: int
    tenant_rate: float
    source_rate: float
    tenant_in_flight: int
    bulk_read_ahead: int
    breaker_failures: int
    breaker_cooldown_s: float
    secret_overlap_s: float
    auto_disable_after_s: float
    attempt_retention_s: float
    dedup_window_s: float
    batch_wait_s: float
    allow_private_targets: bool
    allow_http_targets: bool
    log_level: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        source = os.environ if env is None else env
        read = _Reader(source)
        return cls(
            kafka_bootstrap=read.text("HOOKLINE_KAFKA_BOOTSTRAP"),
            **kafka_security(read),
            database_url=read.text("HOOKLINE_DATABASE_URL"),
            secrets_keys=read.parsed("HOOKLINE_SECRETS_KEYS", _keys),
            admin_token=read.text("HOOKLINE_ADMIN_TOKEN"),
            http_host=read.text("HOOKLINE_HTTP_HOST"),
            http_port=read.parsed("HOOKLINE_HTTP_PORT", _port),
            http_header_timeout_s=read.parsed("HOOKLINE_HTTP_HEADER_TIMEOUT", parse_duration),
            http_body_timeout_s=read.parsed("HOOKLINE_HTTP_BODY_TIMEOUT", parse_duration),
            api_rate=read.parsed("HOOKLINE_API_RATE", _positive_float),
            api_burst=read.parsed("HOOKLINE_API_BURST", _positive_int),
            api_auth_failure_rate=read.parsed("HOOKLINE_API_AUTH_FAILURE_RATE", _positive_float),
            public_url=read.text("HOOKLINE_PUBLIC_URL").rstrip("/"),
            topic_prefix=read.text("HOOKLINE_TOPIC_PREFIX"),
            create_topics=read.parsed("HOOKLINE_CREATE_TOPICS", _flag),
            partitions=read.parsed("HOOKLINE_PARTITIONS", _positive_int),
            replication_factor=read.parsed("HOOKLINE_REPLICATION_FACTOR", _positive_int),
            retry_delays=read.parsed("HOOKLINE_RETRY_DELAYS", parse_delays),
            delivery_timeout_s=read.parsed("HOOKLINE_DELIVERY_TIMEOUT", _positive_float),
            max_retry_after_s=read.parsed("HOOKLINE_MAX_RETRY_AFTER", _positive_float),
            max_in_flight=read.parsed("HOOKLINE_MAX_IN_FLIGHT", _positive_int),
            endpoint_concurrency=read.parsed("HOOKLINE_ENDPOINT_CONCURRENCY", _positive_int),
            tenant_burst=read.parsed("HOOKLINE_TENANT_BURST", _positive_int),
            tenant_rate=read.parsed("HOOKLINE_TENANT_RATE", _positive_float),
            source_rate=read.parsed("HOOKLINE_SOURCE_RATE", _positive_float),
            tenant_in_flight=read.parsed("HOOKLINE_TENANT_IN_FLIGHT", _positive_int),
            bulk_read_ahead=read.parsed("HOOKLINE_BULK_READ_AHEAD", _positive_int),
            breaker_failures=read.parsed("HOOKLINE_BREAKER_FAILURES", _positive_int),
            breaker_cooldown_s=read.parsed("HOOKLINE_BREAKER_COOLDOWN", parse_duration),
            secret_overlap_s=read.parsed("HOOKLINE_SECRET_OVERLAP", parse_duration),
            auto_disable_after_s=read.parsed("HOOKLINE_AUTO_DISABLE_AFTER", parse_duration),
            attempt_retention_s=read.parsed("HOOKLINE_ATTEMPT_RETENTION", parse_duration),
            dedup_window_s=read.parsed("HOOKLINE_DEDUP_WINDOW", parse_duration),
            batch_wait_s=read.parsed("HOOKLINE_BATCH_WAIT", parse_duration),
            allow_private_targets=read.parsed("HOOKLINE_ALLOW_PRIVATE_TARGETS", _flag),
            allow_http_targets=read.parsed("HOOKLINE_ALLOW_HTTP_TARGETS", _flag),
            log_level=read.parsed("HOOKLINE_LOG_LEVEL", _log_level),
        )


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def text(self, name: str) -> str:
        setting = _KNOWN[name]
        if setting.secret and self._env.get(setting.file_variable, "").strip():
            if self._env.get(name, "").strip():
                raise SettingError(f"{name} and {setting.file_variable}: set one of them, not both")
            return _secret_file(setting.file_variable, self._env[setting.file_variable].strip())
        return self._env.get(name, setting.default).strip()

    def parsed(self, name: str, parse: Callable[[str], Any]) -> Any:
        raw = self.text(name)
        try:
            return parse(raw)
        except ValueError as exc:
            shown = name if _KNOWN[name].secret else f"{name}={raw!r}"  # never a secret's value
            raise SettingError(f"{shown}: {exc}") from exc


PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_SASL_NAMES = ("HOOKLINE_KAFKA_SASL_USERNAME", "HOOKLINE_KAFKA_SASL_PASSWORD")
_SSL_FILES = (
    "HOOKLINE_KAFKA_SSL_CA_FILE",
    "HOOKLINE_KAFKA_SSL_CERT_FILE",
    "HOOKLINE_KAFKA_SSL_KEY_FILE",
)


def kafka_security(read: _Reader) -> dict[str, Any]:
    """The Kafka security settings, checked together: what a protocol needs is given,
    and nothing is given that the protocol would silently ignore."""
    protocol = read.parsed("HOOKLINE_KAFKA_SECURITY_PROTOCOL", _choice(PROTOCOLS))
    sasl = protocol.startswith("SASL_")
    tls = protocol.endswith("SSL")
    for name in _SASL_NAMES:
        if sasl and not read.text(name):
            raise SettingError(f"{name} is needed by HOOKLINE_KAFKA_SECURITY_PROTOCOL={protocol}")
        if not sasl and read.text(name):
            raise SettingError(f"{name} is only used by SASL_PLAINTEXT or SASL_SSL, not {protocol}")
    for name in (*_SSL_FILES, "HOOKLINE_KAFKA_SSL_KEY_PASSWORD"):
        if not tls and read.text(name):
            raise SettingError(f"{name} is only used by SSL or SASL_SSL, not {protocol}")
    for name in _SSL_FILES:
        read.parsed(name, _readable_file)
    if read.text("HOOKLINE_KAFKA_SSL_KEY_FILE") and not read.text("HOOKLINE_KAFKA_SSL_CERT_FILE"):
        raise SettingError("HOOKLINE_KAFKA_SSL_KEY_FILE needs HOOKLINE_KAFKA_SSL_CERT_FILE too")
    return {
        "kafka_security_protocol": protocol,
        "kafka_sasl_mechanism": read.parsed("HOOKLINE_KAFKA_SASL_MECHANISM", _choice(MECHANISMS)),
        "kafka_sasl_username": read.text("HOOKLINE_KAFKA_SASL_USERNAME"),
        "kafka_sasl_password": read.text("HOOKLINE_KAFKA_SASL_PASSWORD"),
        "kafka_ssl_ca_file": read.text("HOOKLINE_KAFKA_SSL_CA_FILE"),
        "kafka_ssl_cert_file": read.text("HOOKLINE_KAFKA_SSL_CERT_FILE"),
        "kafka_ssl_key_file": read.text("HOOKLINE_KAFKA_SSL_KEY_FILE"),
        "kafka_ssl_key_password": read.text("HOOKLINE_KAFKA_SSL_KEY_PASSWORD"),
        "kafka_ssl_check_hostname": read.parsed("HOOKLINE_KAFKA_SSL_CHECK_HOSTNAME", _flag),
    }


def _choice(allowed: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.upper()
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    return parse


def _readable_file(raw: str) -> str:
    if raw and not Path(raw).is_file():
        raise ValueError("no such file")
    if raw and not os.access(raw, os.R_OK):
        raise ValueError("the file is not readable by this process")
    return raw


def _secret_file(variable: str, path: str) -> str:
    try:
        content = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingError(f"{variable}={path!r}: cannot read it: {exc}") from exc
    return content.removesuffix("\n").removesuffix("\r")


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be a whole number of at least 1")
    return value


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ValueError("must be a port number between 0 and 65535")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not 0 < value < math.inf:  # also refuses nan
        raise ValueError("must be a number above 0")
    return value


def _flag(raw: str) -> bool:
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"", "0", "false", "no", "off"}:
        return False
    raise ValueError("must be 1 or 0")


def _keys(raw: str) -> SecretKeys:
    try:
        return parse_keys(raw)
    except KeyringError as exc:  # the message names an entry or an id, never a key
        raise ValueError(str(exc)) from exc


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
    return level


def settings_table() -> str:
    """The README's settings table, generated so that it cannot drift from the code."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    rows += [f"| `{s.name}` | {_shown(s.default)} | {_meaning(s)} |" for s in SETTINGS]
    return "\n".join(rows)


def _meaning(setting: Setting) -> str:
    if setting.secret:
        return f"{setting.help} Or `{setting.file_variable}`: a file that holds it."
    return setting.help


def _shown(default: str) -> str:
    return f"`{default}`" if default else "(none)"


if __name__ == "__main__":
    print(settings_table())
