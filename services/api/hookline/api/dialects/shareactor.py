"""ShareActor's webhook API (seeds/003) at ``/webhooks``.

``{"endpoint", "event_type"}`` in (one event type per webhook); out, the object with
MongoDB's extended JSON: ``{"_id": {"$oid"}, "company": {"$oid"}, "created":
{"$date"}, "updated": {"$date"}, "event_type", "deleted", "secret", "endpoint"}``
(milliseconds). A subscription of several event types, made in another dialect,
shows its first as ``event_type`` and all of them in ``event_types``.

- The key comes as ``X-Share-Api-Key`` (ShareActor's) or, without it, as
  ``Authorization: Bearer``. With both, ``X-Share-Api-Key`` is the key and the
  Bearer token (ShareActor's user JWT) is not looked at.
- ``PUT`` changes what the body gives. ``DELETE`` is a soft delete: it answers the
  object with ``"deleted": true`` and deliveries stop; from then on the webhook is
  gone everywhere: ``GET``, ``PUT`` and ``DELETE`` of its id answer 404 and lists
  leave it out, as in every other dialect.
- Lists are a bare array: ``page`` (from 0), ``size`` (default 10, at most
  ``MAX_SIZE``), ``sort`` (default ``-modified``, which is ``updated``; any attribute
  of the object, ``-`` for descending, several comma-separated).
- Errors are Eve's (the Python REST framework of MongoDB APIs):
  ``{"_status": "ERR", "_error": {"code", "message"}, "_issues": {field: message}}``;
  bad query parameters answer 400, bad bodies 422.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hookline.api.dialects import common
from hookline.api.dialects.errors import SHAREACTOR_PREFIX
from hookline.api.http.auth import Tenant, credential, plain_key, tenant_of_key
from hookline.api.http.body import json_body
from hookline.api.http.context import Context, ctx
from hookline.api.http.errors import BadRequest, Unauthorized, Unprocessable
from hookline.api.http.listing import MAX_FROM, ListQuery, UnknownSort, order_by, whole_number
from hookline.api.http.present import MASKED_URL_SQL, mask_url
from hookline.core.dialect_ids import decode_object_id, object_id, tenant_object_id
from hookline.core.dialects import SHAREACTOR
from hookline.core.messages import SubscriptionRecord
from hookline.core.types import JSON

routes = web.RouteTableDef()
BASE = SHAREACTOR_PREFIX
KEY_HEADER = "X-Share-Api-Key"
DEFAULT_SIZE = 10
MAX_SIZE = 1000
DEFAULT_SORT = "-modified"
SORTABLE = {
    "_id": "id",
    "company": "tenant_id",
    "created": "created_at",
    "updated": "updated_at",
    "modified": "updated_at",
    "event_type": "events[1]",
    "deleted": "deleted",
    "secret": "secret",
    "endpoint": MASKED_URL_SQL,
}
_NAMES = {common.TARGET: "endpoint", common.EVENTS: "event_type"}


def present(r: SubscriptionRecord) -> dict[str, JSON]:
    body: dict[str, JSON] = {
        "_id": {"$oid": object_id(r.id, r.created_at)},
        "company": {"$oid": tenant_object_id(r.tenant)},
        "created": {"$date": common.millis(r.created_at)},
        "updated": {"$date": common.millis(r.updated_at)},
        "event_type": r.events[0],
        "deleted": r.deleted,
        "secret": r.secret,
        "endpoint": mask_url(r.target_url),
    }
    if len(r.events) > 1:
        body["event_types"] = list(r.events)
    return body


def native_body(body: Any, *, create: bool) -> dict[str, Any]:
    given = common.body_object(body, '"endpoint" and "event_type"')
    native: dict[str, Any] = {}
    if "endpoint" in given or create:
        native["targetUrl"] = common.given(given.get("endpoint"), create=create)
    if "event_type" in given or create:
        native["event"] = common.given(given.get("event_type"), create=create)
    if create:
        native["dialect"] = SHAREACTOR
    return native


def check_event_type(body: dict[str, Any]) -> None:
    """One event type per webhook: a list is refused before the native checks."""
    value = body.get("event_type")
    if value is not None and not isinstance(value, str):
        raise Unprocessable(
            "event_type: must be one event type (a string): one event type per webhook",
            details=[{"field": "event_type", "message": "must be one event type (a string)"}],
        )


def issues(problems: list[common.Problem]) -> list[dict[str, str]]:
    found = []
    for p in problems:
        phrase = "required field" if p.phrase == "can't be blank" else p.phrase
        found.append({"field": _NAMES.get(p.about, p.field), "message": phrase})
    return found


def _unprocessable(exc: Unprocessable) -> Unprocessable:
    details = issues(common.describe(exc))
    message = "; ".join(f"{d['field']}: {d['message']}" for d in details)
    return Unprocessable(message, details=details)


def parse_sort(text: str) -> str:
    """``-modified,endpoint`` to an ORDER BY list (constants only); ``_id`` breaks ties."""
    try:
        return order_by(text, SORTABLE, tie="id DESC")
    except UnknownSort as exc:
        raise _bad_param(
            "sort", f"cannot sort by {exc.name[:100]!r}: use {', '.join(SORTABLE)}"
        ) from None


def parse_list(query: dict[str, str]) -> ListQuery:
    unknown = sorted(set(query) - {"page", "size", "sort"})
    if unknown:
        raise _bad_param(
            unknown[0], f"unknown parameter {unknown[0][:100]!r}: use page, size, sort"
        )
    page = _whole(query, "page", 0, MAX_FROM)
    size = _whole(query, "size", DEFAULT_SIZE, MAX_SIZE)
    if page * size > MAX_FROM:
        raise _bad_param("page", f"page * size must be at most {MAX_FROM}")
    order = parse_sort(query.get("sort") or DEFAULT_SORT)
    return ListQuery(offset=page * size, count=size, order=order)


def _whole(query: dict[str, str], name: str, default: int, high: int) -> int:
    try:
        return whole_number(query.get(name, ""), name, default, 0, high)
    except ValueError as exc:
        raise _bad_param(name, str(exc)) from None


def _bad_param(name: str, message: str) -> BadRequest:
    return BadRequest(message, details=[{"field": name, "message": message}])


async def caller(c: Context, request: web.Request) -> Tenant:
    key = (
        plain_key(request.headers.get(KEY_HEADER, "").strip())
        if KEY_HEADER in request.headers
        else ""
    )
    if not key:
        try:
            key = credential(request)
        except Unauthorized as exc:
            raise Unauthorized(
                f"send your API key as '{KEY_HEADER}: <key>' or 'Authorization: Bearer <key>'"
            ) from exc
    return await tenant_of_key(c.pool, key)


async def _record(c: Context, tenant: Tenant, request: web.Request) -> SubscriptionRecord:
    shown = request.match_info["id"]
    decoded = decode_object_id(shown)
    record = await common.fetch(c, tenant, decoded[0] if decoded else None, shown)
    if object_id(record.id, record.created_at) != shown:  # the creation second differs
        raise common.not_found(shown)
    return record


@routes.post(BASE)
async def create(request: web.Request) -> web.Response:
    c = ctx(request)
    tenant = await caller(c, request)
    body = common.body_object(await json_body(request), '"endpoint" and "event_type"')
    check_event_type(body)
    record = await common.create(c, tenant, native_body(body, create=True), _unprocessable)
    return web.json_response(present(record))


@routes.get(BASE)
async def listing(request: web.Request) -> web.Response:
    c = ctx(request)
    tenant = await caller(c, request)
    query = parse_list({k: request.query[k] for k in request.query})
    _, records = await c.store.list(tenant.id, query)
    return web.json_response([present(r) for r in records])


@routes.get(BASE + "/{id}")
async def read(request: web.Request) -> web.Response:
    c = ctx(request)
    tenant = await caller(c, request)
    return web.json_response(present(await _record(c, tenant, request)))


@routes.put(BASE + "/{id}")
async def update(request: web.Request) -> web.Response:
    c = ctx(request)
    tenant = await caller(c, request)
    record = await _record(c, tenant, request)
    body = common.body_object(await json_body(request), '"endpoint" and/or "event_type"')
    check_event_type(body)
    native = native_body(body, create=False)
    record = await common.update(c, tenant, record.id, native, _unprocessable)
    return web.json_response(present(record))


@routes.delete(BASE + "/{id}")
async def delete(request: web.Request) -> web.Response:
    c = ctx(request)
    tenant = await caller(c, request)
    record = await _record(c, tenant, request)
    return web.json_response(present(await common.delete(c, tenant, record)))
