"""``/v2/event``: the catalog, and ``/v2/event/publish`` for producers."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any

import orjson
from aiohttp import web

from hookline.api.catalog import catalog_entry_of
from hookline.api.http.auth import tenant_of
from hookline.api.http.body import json_body
from hookline.api.http.context import ctx
from hookline.api.http.errors import NotFound, Unprocessable
from hookline.core import metrics, topics
from hookline.core.limits import MAX_EVENT_BYTES, find_problem
from hookline.core.messages import Event
from hookline.core.types import JSON

routes = web.RouteTableDef()
MAX_BATCH = 1000
MAX_ID = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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
    body = await json_body(request, limits=False)  # each event's fields, below
    items = body if isinstance(body, list) else [body]
    if not items or len(items) > MAX_BATCH:
        raise Unprocessable.fields({"": f"publish between 1 and {MAX_BATCH} events at once"})
    names = [
        str(i["event"]) for i in items if isinstance(i, dict) and isinstance(i.get("event"), str)
    ]
    known = await c.catalog.known(names)
    events = _parse_events(items, tenant.id, known)
    topic = topics.events(c.settings)
    sent = [await c.producer.send(topic, e.encode(), key=e.key()) for e in unique(events)]
    if len(sent) == 1:  # one event a request, as most producers send: no gathering
        await sent[0]
    else:
        await asyncio.gather(*sent)
    metrics.EVENTS_PUBLISHED.inc(len(sent))
    ids = [e.event_id for e in events]
    value: dict[str, JSON] = (
        {"eventIds": list(ids)} if isinstance(body, list) else {"eventId": ids[0]}
    )
    # orjson, not the json module: the answer is on every producer's request.
    body = orjson.dumps({"value": value})
    return web.Response(body=body, status=202, content_type="application/json")


def unique(events: list[Event]) -> list[Event]:
    """The first event of each ``eventId``, in the order given: a list that repeats one
    publishes it once, and the others keep their places.

    Across calls, the repeated ``eventId`` is what the router recognizes: the message
    carries it, and the same object's events share a key and so a partition.
    """
    first: dict[str, Event] = {}
    for e in events:
        first.setdefault(e.event_id, e)
    return list(first.values())


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
        problems[where.rstrip(".") or "body"] = "an event must be a JSON object"
        return None
    found = {f"{where}{k}": v for k, v in _event_problems(item, tenant, known).items()}
    if not found:  # then value is an object or None, and the only field holding others
        found = _value_problems(item.get("value"), where)
    if found:
        problems.update(found)
        return None
    name = item["event"]
    event = Event(
        event_id=item.get("eventId") or str(uuid.uuid4()),
        tenant=tenant,
        event=name,
        id=item["id"],
        occurred_at=now,
        value=None if name.endswith((".delete", ".deleted")) else item.get("value"),
        version=item.get("version"),
    )
    size = len(event.encode())
    if size > MAX_EVENT_BYTES:
        problems[f"{where}value"] = f"the event is {size} bytes encoded; at most {MAX_EVENT_BYTES}"
        return None
    return event


def _value_problems(value: Any, where: str) -> dict[str, str]:
    """What of ``value`` no format could encode or PostgreSQL store (docs/api.md,
    "Limits on every value"): one pass, before the event is encoded."""
    found = find_problem(value, f"{where}value")
    return {} if found is None else {found[0]: f"{found[0]} {found[1]}"}


def _event_problems(item: dict[str, Any], tenant: int, known: set[str]) -> dict[str, str]:
    name, object_id, value = item.get("event"), item.get("id"), item.get("value")
    event_id, version = item.get("eventId"), item.get("version")
    problems: dict[str, str] = {}
    if not isinstance(name, str) or name not in known:
        # Not repr() of what is not a string: of a list nested 1,000 deep it raises.
        shown = repr(name[:100]) if isinstance(name, str) else f"of JSON type {_kind(name)}"
        problems["event"] = f"unknown event type {shown} (see GET /v2/event)"
    if isinstance(object_id, bool) or not isinstance(object_id, int | str):
        problems["id"] = "id (the object's id) must be a number or a string"
    elif isinstance(object_id, str) and not _is_id(object_id):
        problems["id"] = f"id must be 1 to {MAX_ID} characters, without control characters"
    if value is not None and not isinstance(value, dict):
        problems["value"] = "value must be a JSON object, or null for a delete"
    if event_id is not None and (not isinstance(event_id, str) or not _is_id(event_id)):
        problems["eventId"] = (
            f"eventId must be a string of 1 to {MAX_ID} characters, without control characters"
        )
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        problems["version"] = "version must be a whole number"
    if item.get("tenant", tenant) != tenant:
        problems["tenant"] = f"your API key publishes as tenant {tenant}: leave tenant out"
    return problems


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", bool: "boolean"}.get(type(value), type(value).__name__)


def _is_id(text: str) -> bool:
    """Ids end up in keys, logs and PostgreSQL's text columns: printable, and bounded."""
    return 0 < len(text) <= MAX_ID and not _CONTROL.search(text)
