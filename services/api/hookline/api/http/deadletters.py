"""Dead letters listed and redelivered (projected by ``hookline.api.projection.deadletters``).

A delivery lands there after its last retry, or at once when the target answered
410. The row keeps the delivery as it was on the topic, so a redelivery puts that
very delivery back on ``hookline.deliveries`` (same ``webhook-id``, same payload)
with its attempts counted from zero again: it gets the whole retry schedule anew.

``GET /v2/event/subscription/{id}/deadletters``: newest first, ``from``/``count``,
``redelivered=true|false``.
``POST /v2/event/subscription/{id}/deadletters/redeliver`` with ``{"id": 7}`` for one
or ``{"all": true}`` for every one not redelivered yet.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

import asyncpg
from aiohttp import web

from hookline.api.http.auth import tenant_of
from hookline.api.http.body import json_body, path_id
from hookline.api.http.context import Context, ctx
from hookline.api.http.errors import Conflict, NotFound, Unprocessable
from hookline.api.http.paging import page_request, page_response
from hookline.api.http.present import iso
from hookline.core import topics
from hookline.core.messages import Delivery
from hookline.core.subscriptions import ACTIVE
from hookline.core.types import JSON

log = logging.getLogger(__name__)

routes = web.RouteTableDef()
BASE = "/v2/event/subscription/{id}/deadletters"
MAX_REDELIVER = 10_000


def present_dead_letter(r: asyncpg.Record) -> dict[str, JSON]:
    delivery = Delivery.decode(bytes(r["message"]))
    redelivered = r["redelivered_at"]
    return {
        "id": r["id"],
        "deliveryId": r["delivery_id"],
        "eventId": r["event_id"],
        "event": r["event"],
        "objectId": delivery.object_id,
        "attempts": r["attempts"],
        "lastError": r["last_error"],
        "deadAt": iso(r["dead_at"].timestamp()),
        "redeliveredAt": None if redelivered is None else iso(redelivered.timestamp()),
        "value": delivery.payload,
    }


def _redelivered_filter(request: web.Request) -> str:
    raw = request.query.get("redelivered", "").lower()
    if raw in ("", "any"):
        return ""
    if raw in ("true", "false"):
        return " AND redelivered_at IS NOT NULL" if raw == "true" else " AND redelivered_at IS NULL"
    raise Unprocessable.fields({"redelivered": "redelivered must be true or false"})


@routes.get(BASE)
async def listing(request: web.Request) -> web.Response:
    page = await page_request(request)
    where = "subscription_id = $1 AND tenant_id = $2" + _redelivered_filter(request)
    return await page_response(
        page.c.pool,
        page,
        table="dead_letters",
        where=where,
        args=(page.subscription_id, page.tenant),
        order="id DESC",
        present=present_dead_letter,
    )


def which(body: Any) -> int | None:
    """The dead letter id the body names, or None for all of them."""
    if not isinstance(body, dict):
        raise Unprocessable.fields({"body": 'send {"id": <dead letter id>} or {"all": true}'})
    one, every = body.get("id"), body.get("all")
    if every is True and one is None:
        return None
    if (
        isinstance(one, int)
        and not isinstance(one, bool)
        and 0 < one < 2**63
        and every in (None, False)
    ):
        return one
    raise Unprocessable.fields(
        {"id": 'send {"id": <dead letter id>} for one, or {"all": true} for all'}
    )


@routes.post(BASE + "/redeliver")
async def redeliver(request: web.Request) -> web.Response:
    c = ctx(request)
    tenant = await tenant_of(c.pool, request)
    subscription_id = path_id(request)
    one = which(await json_body(request))
    sub = await c.store.get(tenant.id, subscription_id)
    if sub.status != ACTIVE:
        raise Conflict(
            f"subscription {subscription_id} is {sub.status}: re-enable it"
            " (PUT with status ACTIVE) before redelivering"
        )
    ids, remaining = await _redeliver(c, tenant.id, subscription_id, one)
    if one is not None and not ids:
        raise NotFound(f"subscription {subscription_id} has no dead letter {one}")
    return web.json_response(
        {"value": {"redelivered": len(ids), "ids": ids, "remaining": remaining}}, status=202
    )


async def _redeliver(
    c: Context, tenant: int, subscription_id: int, one: int | None
) -> tuple[list[int], int]:
    """Put the dead letters back on ``hookline.deliveries``, attempt reset; the rows stay
    locked until the broker has them, so two calls never redeliver one twice."""
    only = "id = $3" if one is not None else "redelivered_at IS NULL"
    arg = one if one is not None else MAX_REDELIVER
    limit = "" if one is not None else " LIMIT $3"
    async with c.pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT id, message FROM dead_letters WHERE subscription_id = $1 AND tenant_id = $2"
            f" AND {only} ORDER BY id{limit} FOR UPDATE",
            subscription_id,
            tenant,
            arg,
        )
        # One dead letter takes the main lane; "all" (up to 10,000) the bulk lane, so a
        # tenant's redelivery does not hold other tenants' deliveries (core/lanes.py).
        lane = topics.deliveries if one is not None else topics.deliveries_bulk
        topic = lane(c.settings)
        sent = []
        for r in rows:
            again = replace(
                Delivery.decode(bytes(r["message"])), attempt=0, due_at=0.0, last_error=None
            )
            sent.append(await c.producer.send(topic, again.encode(), key=again.key()))
        await asyncio.gather(*sent)
        ids = [r["id"] for r in rows]
        await conn.execute(
            "UPDATE dead_letters SET redelivered_at = now() WHERE id = ANY($1::bigint[])", ids
        )
        remaining = 0
        if one is None:
            remaining = await conn.fetchval(
                "SELECT count(*) FROM dead_letters WHERE subscription_id = $1 AND tenant_id = $2"
                " AND redelivered_at IS NULL",
                subscription_id,
                tenant,
            )
    return ids, int(remaining)
