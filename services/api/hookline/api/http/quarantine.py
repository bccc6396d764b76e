"""The quarantine, seen and re-driven (projected by ``hookline.api.projection.quarantine``).

Every consumer sends what it cannot process to the quarantine topic
(``hookline.core.quarantine``); the API projects it into the ``quarantine`` table
(one row per service and source record) and serves, admin token only:

- ``GET /v2/admin/quarantine``: newest first, ``from``/``count``, filters ``tenant``,
  ``service``, ``topic`` and ``redriven`` (true/false). A value is shown as JSON
  when it is JSON, else as text, with every secret Hookline knows the shape of
  masked; never as its raw bytes.
- ``POST /v2/admin/quarantine/{id}/redrive``: produce the original key, value and
  headers to the source topic again (or ``{"value": ...}`` instead, a fixed value),
  and mark the row re-driven. Only to this installation's topics; a value that was
  cut when quarantined cannot be re-driven.

The quarantine's own projector does not quarantine (that would feed itself): a
record of the quarantine topic it cannot read is logged and skipped, and stays on
the topic.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from hookline.api.http.auth import require_admin
from hookline.api.http.body import int_param, json_body, path_id
from hookline.api.http.context import Context, ctx
from hookline.api.http.errors import Conflict, NotFound, Unprocessable
from hookline.api.http.present import iso
from hookline.core.service import redact, redact_value
from hookline.core.types import JSON

log = logging.getLogger(__name__)

routes = web.RouteTableDef()
BASE = "/v2/admin/quarantine"
MAX_COUNT = 1000
MAX_SHOWN_TEXT = 4000  # characters of a value that is not JSON
_FILTERS = {"tenant": "tenant", "service": "service", "topic": "topic"}


def shown(value: bytes | None) -> dict[str, JSON]:
    """Pure: a value as a person may see it: JSON when it is, else text; secrets masked."""
    if value is None:
        return {"value": None, "valueText": None, "valueBytes": 0}
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        text = redact(value.decode("utf-8", "replace"))
        if len(text) > MAX_SHOWN_TEXT:
            text = text[:MAX_SHOWN_TEXT] + "…"
        return {"value": None, "valueText": text, "valueBytes": len(value)}
    masked: JSON = redact_value(parsed)
    return {"value": masked, "valueText": None, "valueBytes": len(value)}


def present(r: asyncpg.Record) -> dict[str, JSON]:
    value = None if r["value"] is None else bytes(r["value"])
    redriven = r["redriven_at"]
    return {
        "id": r["id"],
        "service": r["service"],
        "reason": r["reason"],
        "tenant": r["tenant"],
        "topic": r["topic"],
        "partition": r["partition"],
        "offset": r["offset"],
        "quarantinedAt": iso(r["quarantined_at"].timestamp()),
        "redrivenAt": None if redriven is None else iso(redriven.timestamp()),
        "truncated": r["truncated"],
        **shown(value),
    }


def _admin(request: web.Request) -> Context:
    c = ctx(request)
    require_admin(c.settings.admin_token, request)
    return c


def _where(request: web.Request) -> tuple[str, list[Any]]:
    clauses, args = ["true"], []
    for name, column in _FILTERS.items():
        wanted = request.query.get(name)
        if wanted:
            if len(wanted) > 1000 or "\x00" in wanted:
                problem = f"{name} must be at most 1000 characters, without NUL"
                raise Unprocessable.fields({name: problem})
            args.append(wanted)
            clauses.append(f"{column} = ${len(args)}")
    redriven = request.query.get("redriven", "").lower()
    if redriven not in ("", "any", "true", "false"):
        raise Unprocessable.fields({"redriven": "redriven must be true or false"})
    if redriven in ("true", "false"):
        clauses.append(f"redriven_at IS {'NOT ' if redriven == 'true' else ''}NULL")
    return " AND ".join(clauses), args


@routes.get(BASE)
async def listing(request: web.Request) -> web.Response:
    c = _admin(request)
    offset = int_param(request, "from", 0)
    count = int_param(request, "count", 100, high=MAX_COUNT)
    where, args = _where(request)
    n = len(args)
    rows = await c.pool.fetch(
        f"SELECT * FROM quarantine WHERE {where} ORDER BY id DESC OFFSET ${n + 1} LIMIT ${n + 2}",
        *args,
        offset,
        count,
    )
    total = await c.pool.fetchval(f"SELECT count(*) FROM quarantine WHERE {where}", *args)
    values: list[JSON] = [present(r) for r in rows]
    body = {"fullResultSize": total, "from": offset, "count": len(values), "values": values}
    return web.json_response(body)


def _replacement(body: Any) -> bytes | None:
    """The value to re-drive instead of the original, if the body gives one."""
    if body is None or body == {}:
        return None
    if not isinstance(body, dict) or set(body) - {"value"}:
        raise Unprocessable.fields({"body": 'send nothing, {} or {"value": <the fixed value>}'})
    try:
        return orjson.dumps(body["value"])
    except TypeError as exc:  # nested deeper than orjson writes
        raise Unprocessable.fields({"value": f"value cannot be encoded: {exc}"}) from exc


def redrivable(settings_prefix: str, topic: str) -> bool:
    """Pure: only this installation's topics, and never the quarantine itself."""
    return topic.startswith(settings_prefix + ".") and topic != settings_prefix + ".quarantine"


@routes.post(BASE + "/{id}/redrive")
async def redrive(request: web.Request) -> web.Response:
    c = _admin(request)
    quarantine_id = path_id(request)
    replacement = _replacement(await json_body(request) if request.can_read_body else None)
    async with c.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT * FROM quarantine WHERE id = $1 FOR UPDATE", quarantine_id
        )
        if row is None:
            raise NotFound(f"nothing in the quarantine has id {quarantine_id}")
        _check_redrivable(c, row, replacement)
        headers = _decoded_headers(row["headers"])
        value = replacement if replacement is not None else row["value"]
        key = None if row["key"] is None else bytes(row["key"])
        await c.producer.send_and_wait(
            row["topic"],
            None if value is None else bytes(value),
            key=key,
            headers=headers or None,
        )
        done = await conn.fetchrow(
            "UPDATE quarantine SET redriven_at = now() WHERE id = $1 RETURNING *", quarantine_id
        )
        assert done is not None  # the row is locked FOR UPDATE above
    log.info(
        "re-drove a quarantined record",
        extra={"ctx": {"quarantine_id": quarantine_id, "topic": row["topic"]}},
    )
    return web.json_response({"value": present(done)}, status=202)


def _check_redrivable(c: Context, row: asyncpg.Record, replacement: bytes | None) -> None:
    if row["redriven_at"] is not None:
        raise Conflict(f"quarantined record {row['id']} was re-driven already")
    if row["truncated"] and replacement is None:
        raise Conflict(
            f"quarantined record {row['id']} was too large to keep whole: send"
            ' {"value": ...} to re-drive a fixed value instead'
        )
    if not redrivable(c.settings.topic_prefix, row["topic"]):
        raise Conflict(f"{row['topic']} is not a topic of this installation")


def _decoded_headers(raw: str) -> list[tuple[str, bytes]]:
    try:
        return [(name, base64.b64decode(value)) for name, value in orjson.loads(raw)]
    except (binascii.Error, ValueError):
        return []
