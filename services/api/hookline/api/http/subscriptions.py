"""``/v2/event/subscription``: create, read, list, update and delete subscriptions, and
read one's whole signing secret."""

from __future__ import annotations

import asyncio
import socket
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from hookline.api.http import present
from hookline.api.http.auth import tenant_of
from hookline.api.http.body import json_body, path_id
from hookline.api.http.context import Context, ctx
from hookline.api.http.errors import Unprocessable
from hookline.api.http.listing import parse_list_query, parse_response_fields
from hookline.api.http.validation import SubscriptionInput, parse_create, parse_update
from hookline.core.ssrf import is_public_address

routes = web.RouteTableDef()
BASE = "/v2/event/subscription"


@routes.post(BASE)
async def create(request: web.Request) -> web.Response:
    c = ctx(request)
    tenant = await tenant_of(c.pool, request)
    selection = parse_response_fields(request.query.get("fields"))
    body = await json_body(request)
    await _refresh_catalog(c, body)
    data = parse_create(body, c.catalog.all(), c.policy)
    await _check_resolves_public(c, data)
    record = await c.store.create(tenant.id, data)
    value = present.subscription(record, c.base_url(request), reveal_secret=True)
    return web.json_response(present.one(value, selection), status=201)


@routes.get(BASE + "/{id}")
async def read(request: web.Request) -> web.Response:
    c = ctx(request)
    tenant = await tenant_of(c.pool, request)
    selection = parse_response_fields(request.query.get("fields"))
    record = await c.store.get(tenant.id, path_id(request))
    value = present.subscription(record, c.base_url(request))
    return web.json_response(present.one(value, selection))


@routes.get(BASE + "/{id}/secret")
async def read_secret(request: web.Request) -> web.Response:
    """The whole signing secret; answers other than the create's and a rotation's show a prefix."""
    c = ctx(request)
    tenant = await tenant_of(c.pool, request)
    record = await c.store.get(tenant.id, path_id(request))
    return web.json_response({"value": {"id": record.id, "secret": record.secret}})


@routes.put(BASE + "/{id}")
async def update(request: web.Request) -> web.Response:
    c = ctx(request)
    tenant = await tenant_of(c.pool, request)
    subscription_id = path_id(request)
    selection = parse_response_fields(request.query.get("fields"))
    body = await json_body(request)
    await _refresh_catalog(c, body)
    data = parse_update(body, c.catalog.all(), c.policy)
    await _check_resolves_public(c, data)
    record = await c.store.update(tenant.id, subscription_id, data)
    value = present.subscription(record, c.base_url(request))
    return web.json_response(present.one(value, selection))


@routes.delete(BASE + "/{id}")
async def delete(request: web.Request) -> web.Response:
    c = ctx(request)
    tenant = await tenant_of(c.pool, request)
    await c.store.delete(tenant.id, path_id(request))
    return web.Response(status=204)


@routes.get(BASE)
async def listing(request: web.Request) -> web.Response:
    c = ctx(request)
    tenant = await tenant_of(c.pool, request)
    query = parse_list_query(list(request.query.items()))
    total, records = await c.store.list(tenant.id, query)
    base = c.base_url(request)
    values = [present.subscription(r, base) for r in records]
    return web.json_response(present.page(values, total, query.offset, query.fields))


async def _refresh_catalog(c: Context, body: Any) -> None:
    if isinstance(body, dict):
        raw = body.get("events", body.get("event"))
        names = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
        await c.catalog.known([n for n in names if isinstance(n, str)])


async def _check_resolves_public(c: Context, data: SubscriptionInput) -> None:
    """Refuse a target whose host resolves to a private address (checked again at connect)."""
    if c.policy.allow_private or data.target_url is None:
        return
    parts = urlsplit(data.target_url)
    host, port = parts.hostname or "", parts.port or 443
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout=5
        )
    except (OSError, TimeoutError, UnicodeError) as exc:
        raise Unprocessable.fields({"targetUrl": f"the host {host} cannot be resolved"}) from exc
    bad = sorted({str(i[4][0]) for i in infos if not is_public_address(str(i[4][0]))})
    if bad:
        raise Unprocessable.fields(
            {"targetUrl": f"targetUrl is not allowed: {host} resolves to {', '.join(bad)}"}
        )
