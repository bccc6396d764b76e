"""Booqable's webhook endpoints (seeds/004) at ``/api/boomerang/webhook_endpoints``.

JSON:API: ``{"data": {"type": "webhook_endpoints", "attributes": {"url", "events"}}}``
in; out ``{"data": {"id": <uuid>, "type", "attributes": {"created_at",
"updated_at", "url", "events"}}, "meta": {}}`` (times with microseconds and
``+00:00``, as the document shows). Create answers 201. ``PUT`` takes ``data.id``,
which must be the path's id, and ``data.type`` (both: 409, as JSON:API says).
``DELETE`` answers the endpoint with ``"events": []``; the id then answers 404.
Lists answer resource objects like the others (the document's list example shows
the attributes flat; JSON:API and its other answers have them in ``attributes``).
The secret is not shown: the document shows none (the native
``GET /v2/event/subscription/{id}/secret`` gives it). Errors are JSON:API's
``errors`` array; a bad query parameter is a 400 (``booqable_query``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hookline.api.dialects import booqable_query as q
from hookline.api.dialects import common
from hookline.api.dialects.errors import BOOQABLE_PREFIX
from hookline.api.http.auth import Tenant, tenant_of
from hookline.api.http.body import json_body
from hookline.api.http.context import ctx
from hookline.api.http.errors import BadRequest, Conflict, Unprocessable
from hookline.api.http.present import mask_url
from hookline.core.dialect_ids import booqable_id, decode_booqable_id
from hookline.core.dialects import BOOQABLE
from hookline.core.messages import SubscriptionRecord
from hookline.core.types import JSON

routes = web.RouteTableDef()
BASE = BOOQABLE_PREFIX
_POINTERS = {common.TARGET: "/data/attributes/url", common.EVENTS: "/data/attributes/events"}
_NAMES = {common.TARGET: "Url", common.EVENTS: "Events"}


def resource(
    r: SubscriptionRecord, fields: frozenset[str] | None = None, *, deleted: bool = False
) -> dict[str, JSON]:
    attributes: dict[str, JSON] = {
        "created_at": common.iso_micro(r.created_at),
        "updated_at": common.iso_micro(r.updated_at),
        "url": mask_url(r.target_url),
        "events": [] if deleted else list(r.events),
    }
    if fields is not None:
        attributes = {k: v for k, v in attributes.items() if k in fields}
    return {"id": booqable_id(r.id), "type": q.TYPE, "attributes": attributes}


def native_body(body: Any, *, create: bool, path_id: str | None = None) -> dict[str, Any]:
    data = _data(body)
    if data.get("type") != q.TYPE:
        raise Conflict(f"data.type must be {q.TYPE!r}, not {str(data.get('type'))[:100]!r}")
    if path_id is not None:
        _check_id(data, path_id)
    attributes = data.get("attributes", {})
    if not isinstance(attributes, dict):
        raise BadRequest("data.attributes must be an object")
    native: dict[str, Any] = {}
    if "url" in attributes or create:
        native["targetUrl"] = common.given(attributes.get("url"), create=create)
    if "events" in attributes or create:
        native["events"] = attributes.get("events")
    if create:
        native["dialect"] = BOOQABLE
    return native


def _data(body: Any) -> dict[str, Any]:
    outer = common.body_object(body, '{"data": {"type", "attributes"}}')
    data = outer.get("data")
    if not isinstance(data, dict):
        raise BadRequest("the body needs data: a resource object with type and attributes")
    return data


def _check_id(data: dict[str, Any], path_id: str) -> None:
    given = data.get("id")
    if given is None:
        raise BadRequest("data.id is required: the id of the webhook endpoint in the path")
    if given != path_id:
        raise Conflict(f"data.id {str(given)[:100]!r} is not the id in the path, {path_id!r}")


def errors(problems: list[common.Problem]) -> list[dict[str, str]]:
    found = []
    for p in problems:
        pointer = _POINTERS.get(p.about, f"/data/attributes/{p.field}")
        name = _NAMES.get(p.about, p.field)
        found.append({"field": pointer, "message": f"{name} {p.phrase}", "rule": p.phrase})
    return found


def _unprocessable(exc: Unprocessable) -> Unprocessable:
    details = errors(common.describe(exc))
    return Unprocessable("; ".join(d["message"] for d in details), details=details)


def _document(value: JSON, meta: dict[str, JSON] | None = None) -> dict[str, JSON]:
    return {"data": value, "meta": meta or {}}


def _fields(request: web.Request) -> frozenset[str] | None:
    return q.parse_fields(list(request.query.items()))


@routes.post(BASE)
async def create(request: web.Request) -> web.Response:
    c = ctx(request)
    tenant = await tenant_of(c.pool, request)
    fields = _fields(request)
    native = native_body(await json_body(request), create=True)
    record = await common.create(c, tenant, native, _unprocessable)
    return web.json_response(_document(resource(record, fields)), status=201)


@routes.get(BASE)
async def listing(request: web.Request) -> web.Response:
    c = ctx(request)
    tenant = await tenant_of(c.pool, request)
    query = q.parse(list(request.query.items()))
    total, records = await c.store.list(tenant.id, query.list)
    meta: dict[str, JSON] = {"total": {"count": total}} if query.total else {}
    return web.json_response(_document([resource(r, query.fields) for r in records], meta))


async def _record(request: web.Request) -> tuple[Tenant, SubscriptionRecord]:
    c = ctx(request)
    tenant = await tenant_of(c.pool, request)
    shown = request.match_info["id"]
    return tenant, await common.fetch(c, tenant, decode_booqable_id(shown), shown)


@routes.get(BASE + "/{id}")
async def read(request: web.Request) -> web.Response:
    fields = _fields(request)
    _, record = await _record(request)
    return web.json_response(_document(resource(record, fields)))


@routes.put(BASE + "/{id}")
async def update(request: web.Request) -> web.Response:
    fields = _fields(request)
    tenant, record = await _record(request)
    body = await json_body(request)
    native = native_body(body, create=False, path_id=request.match_info["id"])
    record = await common.update(ctx(request), tenant, record.id, native, _unprocessable)
    return web.json_response(_document(resource(record, fields)))


@routes.delete(BASE + "/{id}")
async def delete(request: web.Request) -> web.Response:
    fields = _fields(request)
    tenant, record = await _record(request)
    gone = await common.delete(ctx(request), tenant, record)
    return web.json_response(_document(resource(gone, fields, deleted=True)))
