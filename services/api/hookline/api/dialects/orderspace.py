"""Orderspace's webhook API (seeds/002) at ``/v1/webhooks``.

``{"webhook": {"endpoint", "events"}}`` in, ``{"webhook": {"id", "endpoint",
"signing_key", "events"}}`` out (the list: ``{"webhooks": [...]}``, newest first, at
most ``MAX_LIST``). Create answers 200, as the document shows; delete answers 204.
Ids are ``wh_`` + 8 characters (``hookline.core.dialect_ids``). Errors are
``{"message": ...}``; a 422 joins every failed rule in Orderspace's (Rails') words:
``Validation failed: Endpoint can't be blank, Endpoint must be a https url``.

Made here, a subscription is delivered in Orderspace's envelope (the batch format)
with ``X-Orderspace-Signature`` (``hookline.core.envelopes``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hookline.api.dialects import common
from hookline.api.dialects.errors import ORDERSPACE_PREFIX
from hookline.api.http.auth import tenant_of
from hookline.api.http.body import json_body
from hookline.api.http.context import ctx
from hookline.api.http.errors import BadRequest, Unprocessable
from hookline.api.http.listing import MAX_COUNT, ListQuery
from hookline.api.http.present import mask_url
from hookline.core.dialect_ids import decode_orderspace_id, orderspace_id
from hookline.core.dialects import ORDERSPACE
from hookline.core.messages import SubscriptionRecord
from hookline.core.types import JSON

routes = web.RouteTableDef()
BASE = ORDERSPACE_PREFIX
MAX_LIST = MAX_COUNT
_NAMES = {common.TARGET: "Endpoint", common.EVENTS: "Events"}


def present(r: SubscriptionRecord) -> dict[str, JSON]:
    return {
        "id": orderspace_id(r.id),
        "endpoint": mask_url(r.target_url),
        "signing_key": r.secret,
        "events": list(r.events),
    }


def native_body(body: Any, *, create: bool) -> dict[str, Any]:
    """Orderspace's body as the native one (a blank endpoint: ``common.given``)."""
    outer = common.body_object(body, '{"webhook": {"endpoint", "events"}}')
    webhook = outer.get("webhook")
    if not isinstance(webhook, dict):
        raise BadRequest("param is missing or the value is empty: webhook")
    native: dict[str, Any] = {}
    if "endpoint" in webhook or create:
        native["targetUrl"] = common.given(webhook.get("endpoint"), create=create)
    if "events" in webhook or create:
        events = webhook.get("events")
        native["events"] = None if events == [] and create else events
    if create:
        native["dialect"] = ORDERSPACE
    return native


def messages(problems: list[common.Problem]) -> list[dict[str, str]]:
    """Rails' full messages: the attribute's name, then what is wrong with it."""
    found: list[dict[str, str]] = []
    for p in problems:
        name = _NAMES.get(p.about, p.field)
        phrases = [p.phrase]
        if p.about == common.TARGET:
            if p.phrase == "can't be blank":  # a blank endpoint is not https either
                phrases.append("must be a https url")
            phrases = ["must be a https url" if x == "must be an https URL" else x for x in phrases]
        found += [{"field": name.lower(), "message": f"{name} {x}"} for x in phrases]
    return found


def _unprocessable(exc: Unprocessable) -> Unprocessable:
    details = messages(common.describe(exc))
    return Unprocessable("Validation failed", details=details)


def _path_id(request: web.Request) -> tuple[int | None, str]:
    shown = request.match_info["id"]
    return decode_orderspace_id(shown), shown


@routes.post(BASE)
async def create(request: web.Request) -> web.Response:
    c = ctx(request)
    tenant = await tenant_of(c.pool, request)
    native = native_body(await json_body(request), create=True)
    record = await common.create(c, tenant, native, _unprocessable)
    return web.json_response({"webhook": present(record)})


@routes.get(BASE)
async def listing(request: web.Request) -> web.Response:
    c = ctx(request)
    tenant = await tenant_of(c.pool, request)
    _, records = await c.store.list(tenant.id, ListQuery(count=MAX_LIST))
    return web.json_response({"webhooks": [present(r) for r in records]})


@routes.get(BASE + "/{id}")
async def read(request: web.Request) -> web.Response:
    c = ctx(request)
    tenant = await tenant_of(c.pool, request)
    record = await common.fetch(c, tenant, *_path_id(request))
    return web.json_response({"webhook": present(record)})


@routes.put(BASE + "/{id}")
async def update(request: web.Request) -> web.Response:
    c = ctx(request)
    tenant = await tenant_of(c.pool, request)
    record = await common.fetch(c, tenant, *_path_id(request))
    native = native_body(await json_body(request), create=False)
    record = await common.update(c, tenant, record.id, native, _unprocessable)
    return web.json_response({"webhook": present(record)})


@routes.delete(BASE + "/{id}")
async def delete(request: web.Request) -> web.Response:
    c = ctx(request)
    tenant = await tenant_of(c.pool, request)
    record = await common.fetch(c, tenant, *_path_id(request))
    await common.delete(c, tenant, record)
    return web.Response(status=204)
