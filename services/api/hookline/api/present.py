"""How objects look in responses: Tripletex's shapes, secrets masked."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

from hookline.core.messages import SubscriptionRecord
from hookline.core.types import JSON

MASK = "****"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def mask_url(url: str) -> str:
    """The target URL with the password of any ``user:password@`` replaced by ``****``; a
    user name alone (``https://token@host``) is sent as a credential, so it is masked."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}:{MASK}" if parts.password is not None else MASK
    netloc = f"{user}@{host}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


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
        "status": r.status,
        "authHeaderName": r.auth_header_name,
        "authHeaderValue": MASK if r.auth_header_value else None,
        "secret": r.secret if reveal_secret else r.secret[:10] + MASK,
        "createdAt": iso(r.created_at),
        "updatedAt": iso(r.updated_at),
    }
    return body
