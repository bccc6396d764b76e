"""How every Kafka client authenticates: the ``HOOKLINE_KAFKA_SECURITY_*``, ``_SASL_*`` and
``_SSL_*`` settings turned into aiokafka's options and Faust's broker credentials, and a
broker's refusal turned into one line that names the setting to fix.

``client_options`` is the only place aiokafka's security options are spelled; every
producer, consumer and admin client (``hookline.core.kafka``) takes them from here, and
the router's Faust app its credentials from the same ``ssl_context``.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any

from aiokafka import errors

from hookline.core.config import SettingError, Settings

# What a broker answers a client that lacks an ACL, wherever the client meets it.
AUTHORIZATION_ERRORS = (
    errors.TopicAuthorizationFailedError,
    errors.GroupAuthorizationFailedError,
    errors.TransactionalIdAuthorizationFailed,
    errors.ClusterAuthorizationFailedError,
)


def client_options(settings: Settings) -> dict[str, Any]:
    """aiokafka's ``security_protocol``, ``ssl_context`` and ``sasl_*`` keyword arguments."""
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol.endswith("SSL"):
        options["ssl_context"] = ssl_context(settings)
    if protocol.startswith("SASL_"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password
    return options


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """The TLS context of every client; one per process, built at first use."""
    return _context(
        settings.kafka_ssl_ca_file,
        settings.kafka_ssl_cert_file,
        settings.kafka_ssl_key_file,
        settings.kafka_ssl_key_password,
        settings.kafka_ssl_check_hostname,
    )


@functools.cache
def _context(ca: str, cert: str, key: str, password: str, check_hostname: bool) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=ca or None)
    except ssl.SSLError as exc:
        raise SettingError(
            f"HOOKLINE_KAFKA_SSL_CA_FILE={ca!r}: not a PEM CA bundle: {exc}"
        ) from exc
    context.check_hostname = check_hostname
    if cert:
        try:
            context.load_cert_chain(cert, key or None, password=password or None)
        except ssl.SSLError as exc:
            raise SettingError(
                "HOOKLINE_KAFKA_SSL_CERT_FILE / HOOKLINE_KAFKA_SSL_KEY_FILE: the certificate "
                f"and key cannot be used ({exc.reason or exc}; a wrong key password says so too)"
            ) from exc
    return context


def explain(exc: BaseException, settings: Settings) -> str | None:
    """Pure: the one line that says which setting to fix when ``exc`` is the broker (or the
    TLS handshake) refusing this client; None when it is only unreachable for now."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _untrusted(exc)
    if isinstance(exc, ssl.SSLError):
        return _handshake(exc, settings)
    return _refused(exc, settings)


def _refused(exc: BaseException, settings: Settings) -> str | None:
    user = settings.kafka_sasl_username
    mechanism = settings.kafka_sasl_mechanism
    if isinstance(exc, errors.SaslAuthenticationFailed | errors.IllegalSaslStateError):
        return (
            f"HOOKLINE_KAFKA_SASL_USERNAME / HOOKLINE_KAFKA_SASL_PASSWORD: the broker refused "
            f"user {user!r} ({mechanism}): {_said(exc)}"
        )
    if isinstance(exc, errors.UnsupportedSaslMechanismError):
        return f"HOOKLINE_KAFKA_SASL_MECHANISM={mechanism}: {_said(exc)}"
    if isinstance(
        exc,
        errors.TopicAuthorizationFailedError
        | errors.GroupAuthorizationFailedError
        | errors.TransactionalIdAuthorizationFailed,
    ):
        return f"a missing ACL for {principal(settings)}: {_said(exc)}"
    if isinstance(exc, errors.ClusterAuthorizationFailedError):
        return f"a missing ACL on the cluster for {principal(settings)}: {_said(exc)}"
    return None


def _untrusted(exc: ssl.SSLCertVerificationError) -> str:
    reason = exc.verify_message or str(exc)
    if "mismatch" in reason.lower():
        return (
            f"HOOKLINE_KAFKA_BOOTSTRAP: the broker's certificate does not name the host "
            f"connected to ({reason}); HOOKLINE_KAFKA_SSL_CHECK_HOSTNAME=0 skips this check"
        )
    return f"HOOKLINE_KAFKA_SSL_CA_FILE: the broker's certificate is not trusted ({reason})"


def _handshake(exc: ssl.SSLError, settings: Settings) -> str:
    reason = str(exc.reason or exc)
    if "CERTIFICATE_REQUIRED" in reason.upper() or "BAD_CERTIFICATE" in reason.upper():
        return (
            "HOOKLINE_KAFKA_SSL_CERT_FILE: the broker refused the client certificate "
            f"(mutual TLS): {reason}"
        )
    return (
        f"HOOKLINE_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol}: the TLS "
        f"handshake failed ({reason}); is that listener TLS?"
    )


def principal(settings: Settings) -> str:
    """Who the broker sees, as ACLs name it (as far as the settings tell)."""
    if settings.kafka_security_protocol.startswith("SASL_"):
        return f"User:{settings.kafka_sasl_username}"
    return "this client"


def _said(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())
