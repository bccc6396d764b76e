"""The attempt log's query (its projection is ``hookline.api.projection.attempts``).

``GET /v2/event/subscription/{id}/attempts``: newest first, ``from``/``count``,
filters ``status`` (``503`` or ``5xx``), ``outcome`` (SUCCESS, RETRY, GONE, REFUSED),
``since``/``until`` (ISO 8601), ``deliveryId``, ``eventId``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web

from hookline.api.http.errors import Unprocessable
from hookline.api.http.paging import page_request, page_response
from hookline.api.http.present import iso
from hookline.core.types import JSON

routes = web.RouteTableDef()
OUTCOMES = ("SUCCESS", "RETRY", "GONE", "REFUSED")


@dataclass
class Where:
    """SQL conditions with numbered bind parameters; the SQL is only ever constants."""

    clauses: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)

    def add(self, sql: str, value: Any) -> None:
        self.args.append(value)
        self.clauses.append(sql.replace("$?", f"${len(self.args)}"))

    @property
    def sql(self) -> str:
        return " AND ".join(self.clauses)


_STATUS_CLASS = re.compile(r"^[1-5]xx$", re.IGNORECASE)


def time_param(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise Unprocessable.fields(
            {name: f"{name} must be an ISO 8601 time such as 2025-01-31T12:00:00Z"}
        ) from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _status_filter(where: Where, raw: str) -> None:
    if _STATUS_CLASS.match(raw):
        low = int(raw[0]) * 100
        where.add("status >= $?", low)
        where.add("status < $?", low + 100)
        return
    if not raw.isdigit() or not 100 <= int(raw) <= 999:
        raise Unprocessable.fields({"status": "status must be an HTTP status such as 503, or 5xx"})
    where.add("status = $?", int(raw))


def filters(request: web.Request, subscription_id: int) -> Where:
    where = Where()
    where.add("subscription_id = $?", subscription_id)
    q = request.query
    if status := q.get("status"):
        _status_filter(where, status)
    if outcome := q.get("outcome"):
        if outcome.upper() not in OUTCOMES:
            raise Unprocessable.fields({"outcome": f"outcome must be one of {', '.join(OUTCOMES)}"})
        where.add("outcome = $?", outcome.upper())
    if (since := time_param(request, "since")) is not None:
        where.add("at >= $?", since)
    if (until := time_param(request, "until")) is not None:
        where.add("at < $?", until)
    for name, column in (("deliveryId", "delivery_id"), ("eventId", "event_id")):
        if value := q.get(name):
            if "\x00" in value:
                raise Unprocessable.fields({name: f"{name} cannot hold a NUL character"})
            where.add(f"{column} = $?", value)
    return where


def present_attempt(r: asyncpg.Record) -> dict[str, JSON]:
    return {
        "id": r["id"],
        "deliveryId": r["delivery_id"],
        "eventId": r["event_id"],
        "event": r["event"],
        "attempt": r["attempt"],
        "at": iso(r["at"].timestamp()),
        "outcome": r["outcome"],
        "reason": r["reason"],
        "status": r["status"],
        "latencyMs": r["latency_ms"],
        "responseBody": r["response_body"],
    }


@routes.get("/v2/event/subscription/{id}/attempts")
async def listing(request: web.Request) -> web.Response:
    page = await page_request(request)
    where = filters(request, page.subscription_id)
    return await page_response(
        page.c.pool,
        page,
        table="attempts",
        where=where.sql,
        args=where.args,
        order="at DESC, id DESC",
        present=present_attempt,
    )
