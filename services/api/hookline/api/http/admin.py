"""``/v2/admin``: tenants, their API keys, and the event catalog. Admin token only."""

from __future__ import annotations

import re

from aiohttp import web

from hookline.api.catalog import catalog_entry_of
from hookline.api.http.auth import forget_keys, key_hash, new_key, require_admin
from hookline.api.http.body import json_body, path_id
from hookline.api.http.context import Context, ctx
from hookline.api.http.errors import NotFound, Unprocessable
from hookline.core.catalog import EVENT_NAME, EventType, plural_of

routes = web.RouteTableDef()
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _admin(request: web.Request) -> Context:
    c = ctx(request)
    require_admin(c.settings.admin_token, request)
    return c


@routes.post("/v2/admin/tenants")
async def create_tenant(request: web.Request) -> web.Response:
    c = _admin(request)
    body = await json_body(request)
    name = body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str) or not 0 < len(name.strip()) <= 200 or _CONTROL.search(name):
        raise Unprocessable.fields(
            {"name": "name must be a string of 1 to 200 characters, without control characters"}
        )
    key = new_key()
    async with c.pool.acquire() as conn, conn.transaction():
        tenant_id = await conn.fetchval(
            "INSERT INTO tenants (name) VALUES ($1) RETURNING id", name.strip()
        )
        key_id = await _insert_key(conn, tenant_id, key)
    value = {"id": tenant_id, "name": name.strip(), "apiKey": key, "apiKeyId": key_id}
    return web.json_response({"value": value}, status=201)


@routes.post("/v2/admin/tenants/{id}/keys")
async def issue_key(request: web.Request) -> web.Response:
    c = _admin(request)
    tenant_id = path_id(request)
    if not await c.pool.fetchval("SELECT 1 FROM tenants WHERE id = $1", tenant_id):
        raise NotFound(f"tenant {tenant_id} does not exist")
    key = new_key()
    async with c.pool.acquire() as conn:
        key_id = await _insert_key(conn, tenant_id, key)
    return web.json_response({"value": {"id": key_id, "apiKey": key}}, status=201)


@routes.delete("/v2/admin/tenants/{id}/keys/{keyId}")
async def revoke_key(request: web.Request) -> web.Response:
    c = _admin(request)
    done = await c.pool.fetchval(
        "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND tenant_id = $2"
        " AND revoked_at IS NULL RETURNING id",
        path_id(request, "keyId"),
        path_id(request),
    )
    if done is None:
        raise NotFound("no such active key for this tenant")
    forget_keys()  # refused from the next request on (other API processes: KEY_TTL_S)
    return web.Response(status=204)


@routes.put("/v2/admin/event/{eventType}")
async def put_event_type(request: web.Request) -> web.Response:
    c = _admin(request)
    name = request.match_info["eventType"]
    body = await json_body(request)
    if not isinstance(body, dict):
        raise Unprocessable.fields({"": "the body must be a JSON object"})
    problems = _event_type_problems(name, body)
    if problems:
        raise Unprocessable.fields(problems)
    event = EventType(
        name=name,
        description=body.get("description") or "",
        payload_model=body.get("payloadModel"),
        plural=body.get("plural") or plural_of(name.split(".")[0]),
    )
    await c.catalog.put(event)
    return web.json_response({"value": {name: catalog_entry_of(event)}})


_LIMITS = {"description": 1000, "payloadModel": 200, "plural": 100}


def _event_type_problems(name: str, body: dict[str, object]) -> dict[str, str]:
    problems: dict[str, str] = {}
    if len(name) > 100 or not EVENT_NAME.fullmatch(name):
        problems["eventType"] = "event type names are 'object.verb', lower case"
    for key, limit in _LIMITS.items():
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > limit or _CONTROL.search(value):
            problems[key] = f"{key} must be a string of at most {limit} characters, on one line"
    return problems


async def _insert_key(conn: object, tenant_id: int, key: str) -> int:
    return int(
        await conn.fetchval(  # type: ignore[attr-defined]
            "INSERT INTO api_keys (tenant_id, key_hash, prefix) VALUES ($1, $2, $3) RETURNING id",
            tenant_id,
            key_hash(key),
            key[:7],
        )
    )
