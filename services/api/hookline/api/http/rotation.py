"""``POST /v2/event/subscription/{id}/secret/rotate``: a new signing secret.

The answer carries the new secret. The old one keeps signing beside it (the
``webhook-signature`` header then holds two signatures) for
``HOOKLINE_SECRET_OVERLAP``, so a receiver can switch to the new secret at its own
pace within that time. Rotating again within the overlap retires the older one at
once: at most two secrets sign.
"""

from __future__ import annotations

import time

from aiohttp import web

from hookline.api.errors import VersionConflict
from hookline.api.http.auth import tenant_of
from hookline.api.http.body import path_id
from hookline.api.http.context import Context, ctx
from hookline.api.http.present import iso
from hookline.core.failure import Backoff, retry
from hookline.core.messages import SubscriptionRecord
from hookline.core.signing import generate_secret

routes = web.RouteTableDef()
_TRIES = 3
_AT_ONCE = Backoff(first_s=0.0, max_s=0.0)


@routes.post("/v2/event/subscription/{id}/secret/rotate")
async def rotate(request: web.Request) -> web.Response:
    c = ctx(request)
    tenant = await tenant_of(c.pool, request)
    record = await rotated(c, tenant.id, path_id(request))
    expires = record.previous_secret_expires_at
    value = {
        "id": record.id,
        "version": record.version,
        "secret": record.secret,
        "previousSecretExpiresAt": None if expires is None else iso(expires),
    }
    return web.json_response({"value": value})


async def rotated(c: Context, tenant: int, subscription_id: int) -> SubscriptionRecord:
    async def rotate() -> SubscriptionRecord:
        sub = await c.store.get(tenant, subscription_id)
        return await c.store.change(
            tenant,
            subscription_id,
            if_version=sub.version,
            secret=generate_secret(),
            previous_secret=sub.secret,
            previous_secret_expires_at=time.time() + c.settings.secret_overlap_s,
        )

    # Another change came between the read and the write: read again, at once.
    return await retry(
        rotate,
        what=f"rotating the secret of subscription {subscription_id}",
        when=lambda exc: isinstance(exc, VersionConflict),
        tries=_TRIES,
        backoff=_AT_ONCE,
    )
