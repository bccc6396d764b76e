"""``/v2/event/subscription/{id}/replay``: route a tenant's events since a time again, to
one subscription, and follow the job's progress (docs/replay.md).

``POST`` with ``{"since": "2026-11-25T10:00:00Z"}`` answers 202 with the replay; the
job (``replay_job``) runs in this API process when it runs the worker role too, else in
the first worker process to look (``jobs/replays.py``). ``GET .../replay/{replayId}`` shows
how far it is: ``progress`` (the share of the range read, 0 to 1), ``processed``
(the tenant's events read so far), ``replayed`` (those of the subscription),
``total`` (the tenant's events in the range, once DONE), ``status`` RUNNING, DONE
or FAILED. Nothing in the answer counts another tenant's events.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web

from hookline.api.http.auth import tenant_of
from hookline.api.http.body import json_body, path_id
from hookline.api.http.context import ctx
from hookline.api.http.errors import Conflict, NotFound, Unprocessable
from hookline.api.http.present import iso
from hookline.api.jobs.replay_job import RUNNING, offsets
from hookline.api.jobs.replays import COLUMNS as _COLUMNS
from hookline.core.subscriptions import ACTIVE
from hookline.core.types import JSON

log = logging.getLogger(__name__)

routes = web.RouteTableDef()
BASE = "/v2/event/subscription/{id}/replay"

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # no event is older: Kafka's timestamps start here
_REPLAY_ID = re.compile(r"rpl_[0-9A-Za-z_-]{1,64}")  # _insert makes rpl_ + 16 hex; fullmatch


def parse_since(body: Any, now: float) -> datetime:
    """Pure: the ``since`` of a replay request, in UTC; 422 with what to send otherwise."""
    example = "send {'since': '<ISO 8601 time>'}, for example 2026-11-25T10:00:00Z"
    if not isinstance(body, dict) or not isinstance(body.get("since"), str):
        raise Unprocessable.fields({"since": f"since is required: {example}"})
    try:
        since = datetime.fromisoformat(body["since"].strip())
    except ValueError as exc:
        raise Unprocessable.fields({"since": f"since is not an ISO 8601 time: {example}"}) from exc
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    if since.timestamp() > now:
        raise Unprocessable.fields({"since": "since is in the future: nothing to replay yet"})
    if since.timestamp() < 0:  # compared first: astimezone can overflow below year 1
        return EPOCH
    return since.astimezone(UTC)


def present(row: asyncpg.Record, base_url: str) -> dict[str, JSON]:
    finished = row["finished_at"]
    return {
        "id": row["id"],
        "url": f"{base_url}/v2/event/subscription/{row['subscription_id']}/replay/{row['id']}",
        "subscriptionId": row["subscription_id"],
        "since": iso(row["since"].timestamp()),
        "status": row["status"],
        "progress": progress_of(row),
        "total": row["total"],
        "processed": row["processed"],
        "replayed": row["replayed"],
        "error": row["error"],
        "createdAt": iso(row["created_at"].timestamp()),
        "finishedAt": iso(finished.timestamp()) if finished is not None else None,
    }


def progress_of(row: asyncpg.Record) -> float:
    """Pure: the share of the range read, 0 to 1, rounded to a hundredth (a share, not a
    count: the range holds every tenant's events)."""
    if row["status"] != RUNNING:
        return 1.0
    starts, ends = offsets(row["starts"]), offsets(row["ends"])
    positions = offsets(row["positions"]) or starts
    size = sum(max(0, ends[p] - starts.get(p, ends[p])) for p in ends)
    read = sum(max(0, min(positions.get(p, 0), ends[p]) - starts.get(p, ends[p])) for p in ends)
    return round(read / size, 2) if size else 0.0


@routes.post(BASE)
async def start(request: web.Request) -> web.Response:
    c = ctx(request)
    tenant = await tenant_of(c.pool, request)
    sub = await c.store.get(tenant.id, path_id(request))
    since = parse_since(await json_body(request), time.time())
    if sub.status != ACTIVE:
        raise Unprocessable.fields(
            {"id": f"subscription {sub.id} is {sub.status}: set status ACTIVE, then replay"}
        )
    # Without the worker role in this process, the row waits for a worker to take it.
    row = await _insert(c.pool, sub.id, tenant.id, since, started=c.jobs is not None)
    if c.jobs is not None:
        c.jobs.start(row, sub)
    return web.json_response({"value": present(row, c.base_url(request))}, status=202)


@routes.get(BASE + "/{replayId}")
async def progress(request: web.Request) -> web.Response:
    c = ctx(request)
    tenant = await tenant_of(c.pool, request)
    sub_id = path_id(request)
    replay_id = request.match_info["replayId"]
    row = None
    if _REPLAY_ID.fullmatch(replay_id):  # anything else names none (and may not reach SQL)
        row = await c.pool.fetchrow(
            f"SELECT {_COLUMNS} FROM replays"
            " WHERE id = $1 AND subscription_id = $2 AND tenant_id = $3",
            replay_id,
            sub_id,
            tenant.id,
        )
    if row is None:
        raise NotFound(f"subscription {sub_id} has no replay {replay_id[:40]!r}")
    return web.json_response({"value": present(row, c.base_url(request))})


async def _insert(
    pool: asyncpg.Pool, sub_id: int, tenant: int, since: datetime, *, started: bool
) -> asyncpg.Record:
    """The new replay's row; unless ``started`` here, its heartbeat is at the epoch, so that
    a worker takes it over at once (``jobs/replays.py``)."""
    async with pool.acquire() as conn, conn.transaction():
        # One replay of a subscription at a time: serialized on the subscription's id.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", sub_id)
        running = await conn.fetchval(
            "SELECT id FROM replays WHERE subscription_id = $1 AND status = $2",
            sub_id,
            RUNNING,
        )
        if running is not None:
            raise Conflict(
                f"replay {running} of subscription {sub_id} is still running:"
                f" follow it at {BASE.replace('{id}', str(sub_id))}/{running}"
            )
        row = await conn.fetchrow(
            "INSERT INTO replays (id, subscription_id, tenant_id, since, status, heartbeat_at)"
            f" VALUES ($1, $2, $3, $4, $5, COALESCE($6, now())) RETURNING {_COLUMNS}",
            "rpl_" + secrets.token_hex(8),
            sub_id,
            tenant,
            since,
            RUNNING,
            None if started else EPOCH,
        )
        assert row is not None  # INSERT … RETURNING answers the row it wrote
        return row
