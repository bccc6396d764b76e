"""``/v2/admin/sources``: existing topics read as events (admin token only).

A source is written to the compacted ``hookline.sources`` topic, the log of record,
which the routers follow (``hookline.router.sources``); this process follows it too
(``SourceFeed``), so that a read after a write sees it. Writers of one name are
serialized by a PostgreSQL advisory lock, so that two API processes never hand out
the same ``version``; writers of one topic by a second one, taken after it (so two
writers never wait for each other crosswise), so that two sources of different names
never both claim a topic (each of its records would be two events): the second is a 409
that names the first. What a definition must be is ``hookline.core.sources.problems``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from hookline.api.http.auth import require_admin
from hookline.api.http.body import int_param, json_body
from hookline.api.http.context import CONTEXT, Context, ctx
from hookline.api.http.errors import Conflict, NotFound, Unprocessable
from hookline.api.http.present import iso
from hookline.core import topics
from hookline.core.feed import SourceFeed
from hookline.core.messages import SourceRecord
from hookline.core.sources import SOURCE_NAME, problems
from hookline.core.types import JSON

routes = web.RouteTableDef()
BASE = "/v2/admin/sources"
FEED: web.AppKey[SourceFeed] = web.AppKey("source_feed", SourceFeed)
TOPIC_LOCKS = 0x50_01  # the first key of the advisory locks on a source's topic
_REQUIRED: Any = object()
_STRING = (str,), "a string"
# Body field: (SourceRecord field, default, (JSON types, what they are)).
_FIELDS: dict[str, tuple[str, Any, tuple[tuple[type, ...], str]]] = {
    "topic": ("topic", _REQUIRED, _STRING),
    "format": ("format", _REQUIRED, _STRING),
    "tenantAttribute": ("tenant_attribute", "hooklinetenant", _STRING),
    "versionAttribute": ("version_attribute", "hooklineversion", _STRING),
    "typePrefix": ("type_prefix", "", _STRING),
    "paths": ("paths", {}, ((dict,), "an object of paths")),
    "tenant": ("tenant", None, ((int, type(None)), "a tenant id or null")),
    "tenants": ("tenants", [], ((list,), "a list of tenant ids")),
}


async def resources(app: web.Application) -> AsyncIterator[None]:
    """The feed of sources (an ``app.cleanup_ctx`` after the one that makes the
    ``Context``)."""
    feed = SourceFeed(app[CONTEXT].settings, service="api")
    await feed.start()
    app[FEED] = feed
    yield
    await feed.stop()


def _admin(request: web.Request) -> tuple[Context, SourceFeed]:
    c = ctx(request)
    require_admin(c.settings.admin_token, request)
    return c, request.app[FEED]


def _name(request: web.Request) -> str:
    name = request.match_info["name"]
    if not SOURCE_NAME.fullmatch(name):
        raise NotFound(f"there is no source {name[:64]!r}: names are a-z, 0-9, '_' and '-'")
    return name


def present(record: SourceRecord) -> dict[str, JSON]:
    return {
        "name": record.name,
        "topic": record.topic,
        "format": record.format,
        "tenantAttribute": record.tenant_attribute,
        "versionAttribute": record.version_attribute,
        "typePrefix": record.type_prefix,
        "paths": dict(record.paths),
        "tenant": record.tenant,
        "tenants": list(record.tenants),
        "version": record.version,
        "createdAt": iso(record.created_at),
        "updatedAt": iso(record.updated_at),
    }


@routes.get(BASE)
async def listing(request: web.Request) -> web.Response:
    _, feed = _admin(request)
    offset = int_param(request, "from", 0)
    count = int_param(request, "count", 1000, high=1000)
    await feed.fence()
    found = feed.live()
    values = [present(s) for s in found[offset : offset + count]]
    body = {"fullResultSize": len(found), "from": offset, "count": len(values), "values": values}
    return web.json_response(body)


@routes.get(BASE + "/{name}")
async def read(request: web.Request) -> web.Response:
    _, feed = _admin(request)
    name = _name(request)
    await feed.fence()
    return web.json_response({"value": present(_live(feed, name))})


@routes.put(BASE + "/{name}")
async def put(request: web.Request) -> web.Response:
    c, feed = _admin(request)
    name = _name(request)
    fields = _fields(await json_body(request))
    async with c.pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"source:{name}")
        # Two int keys: a space of their own, apart from the names' bigint keys.
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))", TOPIC_LOCKS, fields["topic"]
        )
        await feed.fence()
        held = feed.latest.get(name)
        now = time.time()
        created = held is None or held.deleted
        record = SourceRecord(
            name=name,
            version=0 if held is None else held.version + 1,
            created_at=now if held is None or held.deleted else held.created_at,
            updated_at=now,
            **fields,
        )
        found = problems(record, prefix=c.settings.topic_prefix)
        if not found:
            found = await _unknown_tenants(conn, record)
        if found:
            raise Unprocessable.fields(found)
        _refuse_taken(feed, record)
        await _write(c, feed, record)
    return web.json_response({"value": present(record)}, status=201 if created else 200)


@routes.delete(BASE + "/{name}")
async def delete(request: web.Request) -> web.Response:
    c, feed = _admin(request)
    name = _name(request)
    async with c.pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"source:{name}")
        await feed.fence()
        held = _live(feed, name)
        gone = {"version": held.version + 1, "updated_at": time.time(), "deleted": True}
        await _write(c, feed, SourceRecord(**{**vars(held), **gone}))
    return web.Response(status=204)


def _live(feed: SourceFeed, name: str) -> SourceRecord:
    held = feed.latest.get(name)
    if held is None or held.deleted:
        raise NotFound(f"there is no source {name!r} (see GET {BASE})")
    return held


async def _write(c: Context, feed: SourceFeed, record: SourceRecord) -> None:
    topic = topics.sources(c.settings)
    await c.producer.send_and_wait(topic, record.encode(), key=record.key())
    await feed.fence()  # applied here before the answer: a GET after it sees it


def _fields(body: Any) -> dict[str, Any]:
    """The body's fields as ``SourceRecord`` arguments, each of the right JSON type."""
    if not isinstance(body, dict):
        raise Unprocessable.fields({"": "the body must be a JSON object"})
    found: dict[str, str] = {}
    for name in sorted(set(body) - set(_FIELDS))[:3]:
        found[name[:40]] = f"unknown field; a source has {', '.join(_FIELDS)}"
    fields: dict[str, Any] = {}
    for name, (field, default, (kinds, what)) in _FIELDS.items():
        value = body.get(name, default)
        if type(value) not in kinds:
            required = default is _REQUIRED
            found[name] = f"{name} is required, {what}" if required else f"{name}: {what}"
        fields[field] = value
    if body.get("tenants") == []:
        found["tenants"] = "tenants names at least one tenant (leave it out for any tenant)"
    if found:
        raise Unprocessable.fields(found)
    return fields


async def _unknown_tenants(conn: Any, record: SourceRecord) -> dict[str, str]:
    """The tenants a source is limited to must exist (a typo would refuse every record)."""
    ids = [record.tenant] if record.tenant is not None else list(record.tenants)
    if not ids:
        return {}
    rows = await conn.fetch("SELECT id FROM tenants WHERE id = ANY($1::bigint[])", ids)
    missing = sorted(set(ids) - {int(r["id"]) for r in rows})
    if not missing:
        return {}
    field = "tenant" if record.tenant is not None else "tenants"
    listed = ", ".join(map(str, missing[:5])) + (" …" if len(missing) > 5 else "")
    return {field: f"no tenant has the id {listed}"}


def _refuse_taken(feed: SourceFeed, record: SourceRecord) -> None:
    """One source a topic: two would put each of its events on hookline.events twice."""
    for other in feed.live():
        if other.topic == record.topic and other.name != record.name:
            raise Conflict(
                f"topic {record.topic!r} is read by source {other.name!r} already: delete"
                f" that source or point it at another topic first (DELETE {BASE}/{other.name})"
            )
