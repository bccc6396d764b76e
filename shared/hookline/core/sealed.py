"""Which parts of a subscription are sealed at rest, and how (``hookline.core.keyring``).

Sealed: the signing secret and the previous one kept during a rotation (context
``secret/<id>``), ``authHeaderValue`` (``auth/<id>``), and a target URL's credentials
(``url/<id>``): the password of ``user:password@``, or a user name alone (it is sent
as a credential too). The user name beside a password, the host, the path and the
query stay as they are, so a sealed URL masks (``hookline.api.http.present``) to the
same text as the clear one, and filters and sorting on it do not change.

The API seals a record just before it goes to ``hookline.subscriptions`` and the read
model, and opens the rows it reads; the deliverer opens the record of a delivery when
it makes the request. Nothing else needs the clear values.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from hookline.core.keyring import Keyring, key_id_of
from hookline.core.messages import SubscriptionRecord

CLEAR = "clear"  # how ``key_ids`` counts a value that is not sealed

_SCHEME = "[A-Za-z][A-Za-z0-9+.-]*://"
# As urllib.parse splits a URL's userinfo (to the last '@' before the path; the user
# name to its first ':'), and as present.mask_url masks it.
_WITH_PASSWORD = re.compile(f"^({_SCHEME}[^:/?#]*:)([^/?#]*)@")
_USER_ONLY = re.compile(f"^({_SCHEME})([^:/?#]*)@")

Transform = Callable[[str], str]


def _context(kind: str, subscription_id: int) -> str:
    return f"{kind}/{subscription_id}"


def map_url_credential(url: str, change: Transform) -> str:
    """Pure: ``url`` with ``change`` applied to its credential (the password of
    ``user:password@``, else a user name alone); a URL without one is unchanged."""
    for pattern in (_WITH_PASSWORD, _USER_ONLY):
        match = pattern.match(url)
        if match is not None:
            start, end = match.span(2)
            return url[:start] + change(match.group(2)) + url[end:]
    return url


def url_credential(url: str) -> str | None:
    """Pure: the credential ``map_url_credential`` would change, or None."""
    for pattern in (_WITH_PASSWORD, _USER_ONLY):
        match = pattern.match(url)
        if match is not None:
            return match.group(2)
    return None


def _map(record: SubscriptionRecord, change: Callable[[str, str], str]) -> SubscriptionRecord:
    """``record`` with ``change(value, context)`` applied to each sealed field's value."""
    sid = record.id
    secret = _context("secret", sid)
    return replace(
        record,
        secret=change(record.secret, secret),
        previous_secret=None
        if record.previous_secret is None
        else change(record.previous_secret, secret),
        auth_header_value=None
        if record.auth_header_value is None
        else change(record.auth_header_value, _context("auth", sid)),
        target_url=map_url_credential(record.target_url, lambda c: change(c, _context("url", sid))),
    )


def seal_record(record: SubscriptionRecord, keyring: Keyring) -> SubscriptionRecord:
    """The record as it is stored: every sealed field's value sealed under the current
    key. ``record`` is in clear: a value that looks sealed is sealed as the text it is
    (a tenant's ``enc.v1.…`` header value is theirs, never opened as one of ours)."""
    return _map(record, keyring.seal)


def open_record(record: SubscriptionRecord, keyring: Keyring) -> SubscriptionRecord:
    """The record with every sealed field in clear (values in clear stay as they are)."""
    return _map(record, keyring.open)


def sealed_values(record: SubscriptionRecord) -> list[str]:
    """Pure: the stored values of the sealed fields that are set."""
    values = [record.secret, record.previous_secret, record.auth_header_value]
    values.append(url_credential(record.target_url))
    return [v for v in values if v]


def key_ids(record: SubscriptionRecord) -> Counter[str]:
    """Pure: how many of the record's secrets are under each key id (``CLEAR``: none)."""
    return Counter(key_id_of(v) or CLEAR for v in sealed_values(record))


def needs_resealing(record: SubscriptionRecord, keyring: Keyring) -> bool:
    """Pure: whether a value of the record is in clear or under a key that is not the
    current one (what ``hookline secrets rotate-key`` re-seals)."""
    return any(not keyring.is_current(v) for v in sealed_values(record))
