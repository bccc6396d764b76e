"""The HTTP request for one delivery: pure, so the bytes and headers are tested directly.

Callback authentication as Tripletex documents it: ``authHeaderName`` /
``authHeaderValue`` are sent as they are; ``user:password@`` in the target URL is
sent as Basic ``Authorization`` and removed from the URL; a token in the query
string stays where it is.
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from hookline.core import envelopes
from hookline.core.dialects import TRIPLETEX
from hookline.core.messages import Delivery, SubscriptionRecord
from hookline.core.signing import webhook_headers


@dataclass(frozen=True)
class Request:
    url: str
    headers: dict[str, str]
    body: bytes


body_of = envelopes.tripletex_body  # the native body, batches in Orderspace's envelope
body_for = envelopes.body  # the body in the envelope of the subscription's dialect, as it is now


@functools.lru_cache(maxsize=4096)  # pure, and asked once per request
def split_credentials(url: str) -> tuple[str, str | None]:
    """The URL without ``user:password@``, and the Basic header value if it had them."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    return clean, "Basic " + base64.b64encode(pair.encode()).decode()


def signing_secrets(sub: SubscriptionRecord, now: float) -> list[str]:
    """The current secret, and the previous one while a rotation's overlap lasts."""
    secrets = [sub.secret]
    expires = sub.previous_secret_expires_at
    if sub.previous_secret and expires is not None and now < expires:
        secrets.append(sub.previous_secret)
    return secrets


def build(
    sub: SubscriptionRecord, delivery: Delivery, body: bytes, now: int, secrets: list[str]
) -> Request:
    url, basic = split_credentials(sub.target_url)
    headers = {
        "content-type": "application/json",
        "user-agent": "Hookline/0.1",
        **webhook_headers(secrets, delivery.delivery_id, now, body),
    }
    if sub.dialect != TRIPLETEX:
        headers.update(envelopes.dialect_headers(sub, body))
    if basic:
        headers["authorization"] = basic
    if sub.auth_header_name and sub.auth_header_value:
        headers[sub.auth_header_name] = sub.auth_header_value
    return Request(url=url, headers=headers, body=body)
