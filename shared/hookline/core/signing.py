"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

The signed content is ``f"{msg_id}.{timestamp}.".encode() + body`` and a signature is
``"v1," + base64(HMAC-SHA256(key, content))``. Secrets look like ``whsec_<base64 key>``.
Everything here is pure: callers pass the current time in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _secrets
from collections.abc import Sequence

__all__ = [
    "SECRET_PREFIX",
    "SIGNATURE_VERSION",
    "InvalidSecret",
    "generate_secret",
    "secret_key",
    "sign",
    "signature_header",
    "verify",
    "webhook_headers",
]

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
_KEY_BYTES = 32


class InvalidSecret(ValueError):
    """A signing secret is not of the form ``whsec_<base64>``."""


def generate_secret() -> str:
    """Return a new random secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(_KEY_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """Decode the HMAC key from a ``whsec_<base64>`` secret.

    Raises :class:`InvalidSecret` if the prefix is missing, the base64 is malformed
    or the key is empty. The message never contains the secret itself.
    """
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidSecret(f"signing secret must start with {SECRET_PREFIX!r}")
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSecret(f"signing secret after {SECRET_PREFIX!r} is not valid base64") from exc
    if not key:
        raise InvalidSecret("signing secret has an empty key")
    return key


def _signed_content(msg_id: str, timestamp: int, body: bytes) -> bytes:
    return f"{msg_id}.{timestamp}.".encode() + body


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``v1,<base64>`` signature of one message with one secret."""
    digest = hmac.new(
        secret_key(secret), _signed_content(msg_id, timestamp, body), hashlib.sha256
    ).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``webhook-signature`` value: one signature per secret, space-separated.

    During secret rotation pass the new and the old secret so receivers that still
    hold either one can verify. Raises ``ValueError`` if ``secrets`` is empty.
    """
    if isinstance(secrets, str):
        raise TypeError("secrets must be a sequence of secrets, not a single string")
    if not secrets:
        raise ValueError("at least one signing secret is required")
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets)


def verify(
    secret: str,
    msg_id: str,
    timestamp: int,
    body: bytes,
    header: str,
    *,
    now: int,
    tolerance_s: int = 300,
) -> bool:
    """Check a ``webhook-signature`` header against one secret.

    True if any space-separated ``v1,<base64>`` entry matches (compared in constant
    time) and ``timestamp`` is within ``tolerance_s`` seconds of ``now`` in either
    direction. Entries of other versions are ignored. Raises :class:`InvalidSecret`
    if ``secret`` itself is malformed (a configuration error, not a bad request).
    """
    expected = sign(secret, msg_id, timestamp, body).encode("ascii")
    if abs(now - timestamp) > tolerance_s:
        return False
    matched = False
    for entry in header.split():
        version, sep, _ = entry.partition(",")
        if sep and version == SIGNATURE_VERSION:
            # Bytes, not str: compare_digest rejects non-ASCII str with TypeError.
            matched |= hmac.compare_digest(entry.encode("utf-8", "replace"), expected)
    return matched


def webhook_headers(
    secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """Return the ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets, msg_id, timestamp, body),
    }
