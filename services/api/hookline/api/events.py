"""``/v2/event``: the catalog, and ``/v2/event/publish`` for producers."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from aiohttp import web

from hookline.api.auth import tenant_of
from hookline.api.body import json_body
from hookline.api.catalog import catalog_entry_of
from hookline.api.context import ctx
from hookline.api.errors import NotFound, Unprocessable
from hookline.core import topics
from hookline.core.messages import Event
from hookline.core.types import JSON

routes = web.RouteTableDef()
MAX_BATCH = 1000


@routes.get("/v2/event")
async def catalog(request: web.Request) -> web.Response:
    c = ctx(request)
    await tenant_of(c.pool, request)
    await c.catalog.reload()
    return web.json_response(
        {"value": {n: catalog_entry_of(e) for n, e in c.catalog.all().items()}}
    )


@routes.get("/v2/event/{eventType}")
async def catalog_one(request: web.Request) -> web.Response:
    c = ctx(request)
    await tenant_of(c.pool, request)
    name = request.match_info["eventType"]
    if not await c.catalog.known([name]):
        raise NotFound(f"there is no event type {name!r} (see GET /v2/event)")
    return web.json_response({"value": {name: catalog_entry_of(c.catalog.all()[name])}})


@routes.post("/v2/event/publish")
async def publish(request: web.Request) -> web.Response:
    c = ctx(request)
    tenant = await tenant_of(c.pool, request)
    body = await json_body(request)
    items = body if isinstance(body, list) else [body]
    if not items or len(items) > MAX_BATCH:
        raise Unprocessable.fields({"": f"publish between 1 and {MAX_BATCH} events at once"})
    names = [
        str(i["event"]) for i in items if isinstance(i, dict) and isinstance(i.get("event"), str)
    ]
    known = await c.catalog.known(names)
    events = _parse_events(items, tenant.id, known)
    topic = topics.events(c.settings)
    sent = [await c.producer.send(topic, e.encode(), key=e.key()) for e in events]
    await asyncio.gather(*sent)
    ids = [e.event_id for e in events]
    value: dict[str, JSON] = (
        {"eventIds": list(ids)} if isinstance(body, list) else {"eventId": ids[0]}
    )
    return web.json_response({"value": value}, status=202)


def _parse_events(items: list[Any], tenant: int, known: set[str]) -> list[Event]:
    problems: dict[str, str] = {}
    events: list[Event] = []
    now = time.time()
    for n, item in enumerate(items):
        where = f"[{n}]." if len(items) > 1 else ""
        event = _parse_event(item, tenant, known, now, where=where, problems=problems)
        if event is not None:
            events.append(event)
    if problems:
        raise Unprocessable.fields(problems)
    return events


def _parse_event(
    item: Any, tenant: int, known: set[str], now: float, *, where: str, problems: dict[str, str]
) -> Event | None:
    if not isinstance(item, dict):
        problems[where or "body"] = "an event must be a JSON object"
        return None
    name, object_id, value = item.get("event"), item.get("id"), item.get("value")
    event_id, version = item.get("eventId"), item.get("version")
    before = len(problems)
    if not isinstance(name, str) or name not in known:
        problems[f"{where}event"] = f"unknown event type {name!r} (see GET /v2/event)"
        name = ""
    if isinstance(object_id, bool) or not isinstance(object_id, int | str):
        problems[f"{where}id"] = "id (the object's id) must be a number or a string"
    if value is not None and not isinstance(value, dict):
        problems[f"{where}value"] = "value must be a JSON object, or null for a delete"
    if event_id is not None and (not isinstance(event_id, str) or not 0 < len(event_id) <= 200):
        problems[f"{where}eventId"] = "eventId must be a string of 1 to 200 characters"
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        problems[f"{where}version"] = "version must be a whole number"
    if len(problems) > before:
        return None
    return Event(
        event_id=event_id or str(uuid.uuid4()),
        tenant=tenant,
        event=name,
        id=object_id,
        occurred_at=now,
        value=None if name.endswith(".delete") or name.endswith(".deleted") else value,
        version=version,
    )
