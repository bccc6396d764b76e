"""The attempt log: ``hookline.attempts`` projected into PostgreSQL, and its query.

Deliverers emit one ``Attempt`` per HTTP request; the API projects them in batches
(``TopicProjector``, a ``COPY`` per batch, never a row per request on the hot
path), folds them into each subscription's health for auto-disable, and deletes
rows older than ``HOOKLINE_ATTEMPT_RETENTION``.

``GET /v2/event/subscription/{id}/attempts``: newest first, ``from``/``count``,
filters ``status`` (``503`` or ``5xx``), ``outcome`` (SUCCESS, RETRY, GONE, REFUSED),
``since``/``until`` (ISO 8601), ``deliveryId``, ``eventId``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web

from hookline.api.http.errors import Unprocessable
from hookline.api.http.paging import page_request, page_response
from hookline.api.http.present import iso
from hookline.api.jobs.autodisable import Disabler, track
from hookline.api.projection.topic_projector import Record
from hookline.core.messages import Attempt
from hookline.core.types import JSON

log = logging.getLogger(__name__)

routes = web.RouteTableDef()
OUTCOMES = ("SUCCESS", "RETRY", "GONE", "REFUSED")
_COLUMNS = (
    "subscription_id",
    "tenant_id",
    "delivery_id",
    "event",
    "event_id",
    "attempt",
    "at",
    "outcome",
    "reason",
    "status",
    "latency_ms",
    "response_body",
)


def row_of(a: Attempt) -> tuple[Any, ...]:
    body = None if a.response_body is None else a.response_body.replace("\x00", "\ufffd")
    return (
        a.subscription_id,
        a.tenant,
        a.delivery_id,
        a.event,
        a.event_id,
        a.attempt,
        datetime.fromtimestamp(a.at, UTC),
        a.outcome,
        a.reason.replace("\x00", "\ufffd"),
        a.status,
        a.latency_ms,
        body,
    )


class AttemptsProjection:
    """Applies one batch of ``hookline.attempts`` (a ``TopicProjector``'s ``apply``)."""

    def __init__(self, disabler: Disabler, auto_disable_after_s: float) -> None:
        self._disabler = disabler
        self._after_s = auto_disable_after_s

    async def apply(self, conn: asyncpg.Connection, records: list[Record]) -> None:
        # A record that cannot be decoded or copied raises: the projector quarantines it
        # and applies the others of the batch.
        attempts = [Attempt.decode(rec.value) for rec in records]
        await conn.copy_records_to_table(
            "attempts", records=[row_of(a) for a in attempts], columns=_COLUMNS
        )
        # Disabling happens before the batch commits: a crash in between repeats the
        # decision (a no-op once the subscription is disabled), it never loses it.
        for candidate in await track(conn, attempts, self._after_s):
            await self._disabler.consider(candidate)


async def purge(pool: asyncpg.Pool, before: float, batch: int = 10_000) -> int:
    """Delete the attempts made before ``before`` (epoch seconds), a batch at a time so
    that no statement holds its locks for long; returns how many were deleted."""
    cutoff = datetime.fromtimestamp(before, UTC)
    deleted = 0
    while True:
        status = await pool.execute(
            "DELETE FROM attempts WHERE id IN"
            " (SELECT id FROM attempts WHERE at < $1 ORDER BY at LIMIT $2)",
            cutoff,
            batch,
        )
        n = int(status.split()[-1])
        deleted += n
        if n < batch:
            return deleted


def purge_interval(retention_s: float) -> float:
    """How often to look for expired attempts: a tenth of the retention, 1 s to 1 h."""
    return min(max(retention_s / 10, 1.0), 3600.0)


async def purge_forever(pool: asyncpg.Pool, retention_s: float) -> None:
    while True:
        try:
            deleted = await purge(pool, time.time() - retention_s)
            if deleted:
                log.info("deleted %d attempts older than the retention", deleted)
        except (OSError, asyncpg.PostgresError):
            log.exception("deleting old attempts failed; trying again later")
        await asyncio.sleep(purge_interval(retention_s))


# --- the query -------------------------------------------------------------------------


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
