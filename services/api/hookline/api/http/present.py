"""How objects look in responses: Tripletex's shapes, secrets masked.

The target URL's password is masked by a textual rule (``MASKED_URL_SQL`` is the
same rule in PostgreSQL), so that list filters and sorting on ``targetUrl`` work on
exactly the text a client sees and can never be used to guess a password.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hookline.core.fields import FieldSelection, project
from hookline.core.messages import SubscriptionRecord
from hookline.core.types import JSON

MASK = "****"

# A URL's userinfo is what precedes the last '@' before the path; the user name runs to
# its first ':', the password after it (as urllib.parse splits them). With a password,
# the password is masked; a user name alone is a credential too, so it is masked.
_SCHEME = "[A-Za-z][A-Za-z0-9+.-]*://"
_WITH_PASSWORD = f"^({_SCHEME}[^:/?#]*):[^/?#]*@"
_USER_ONLY = f"^({_SCHEME})[^:/?#]*@"
_WITH_PASSWORD_RE = re.compile(_WITH_PASSWORD)
_USER_ONLY_RE = re.compile(_USER_ONLY)
MASKED_URL_SQL = (
    f"(CASE WHEN target_url ~ '{_WITH_PASSWORD}'"
    f" THEN regexp_replace(target_url, '{_WITH_PASSWORD}', '\\1:{MASK}@')"
    f" ELSE regexp_replace(target_url, '{_USER_ONLY}', '\\1{MASK}@') END)"
)
"""``mask_url`` in PostgreSQL, over the ``target_url`` column."""


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def mask_url(url: str) -> str:
    """The target URL with the password of any ``user:password@`` replaced by ``****``; a
    user name alone (``https://token@host``) is sent as a credential, so it is masked."""
    if _WITH_PASSWORD_RE.match(url):
        return _WITH_PASSWORD_RE.sub(rf"\1:{MASK}@", url, count=1)
    return _USER_ONLY_RE.sub(rf"\1{MASK}@", url, count=1)


def subscription(
    r: SubscriptionRecord, base_url: str, *, reveal_secret: bool = False
) -> dict[str, JSON]:
    body: dict[str, JSON] = {
        "id": r.id,
        "version": r.version,
        "url": f"{base_url}/v2/event/subscription/{r.id}",
        "event": r.events[0] if len(r.events) == 1 else None,
        "events": list(r.events),
        "targetUrl": mask_url(r.target_url),
        "fields": r.fields,
        "format": r.format,
        "dialect": r.dialect,
        "status": r.status,
        "authHeaderName": r.auth_header_name,
        "authHeaderValue": MASK if r.auth_header_value else None,
        "secret": r.secret if reveal_secret else r.secret[:10] + MASK,
        "createdAt": iso(r.created_at),
        "updatedAt": iso(r.updated_at),
    }
    return body


def one(value: dict[str, JSON], selection: FieldSelection | None) -> dict[str, JSON]:
    """Tripletex's single-object envelope, with the ``fields`` the client asked for."""
    return {"value": project(value, selection)}


def page(
    values: list[dict[str, JSON]], total: int, offset: int, selection: FieldSelection | None
) -> dict[str, JSON]:
    """Tripletex's list envelope; ``fields`` applies to each value."""
    return {
        "fullResultSize": total,
        "from": offset,
        "count": len(values),
        "values": [project(v, selection) for v in values],
    }
