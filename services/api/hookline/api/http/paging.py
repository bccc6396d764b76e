"""One page of a subscription's rows (attempts, dead letters), in the list shape:
``{"fullResultSize", "from", "count", "values"}``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web

from hookline.api.http.auth import tenant_of
from hookline.api.http.body import int_param, path_id
from hookline.api.http.context import Context, ctx
from hookline.core.types import JSON

MAX_COUNT = 1000


@dataclass(frozen=True)
class PageRequest:
    c: Context
    tenant: int
    subscription_id: int
    offset: int
    count: int


async def page_request(request: web.Request) -> PageRequest:
    """The caller's tenant, the subscription (404 unless it is the tenant's), from/count."""
    c = ctx(request)
    tenant = await tenant_of(c.pool, request)
    subscription_id = path_id(request)
    await c.store.get(tenant.id, subscription_id)
    offset = int_param(request, "from", 0)
    count = int_param(request, "count", 100, high=MAX_COUNT)
    return PageRequest(c, tenant.id, subscription_id, offset, count)


async def page_response(
    pool: asyncpg.Pool,
    page: PageRequest,
    *,
    table: str,
    where: str,
    args: Sequence[Any],
    order: str,
    present: Callable[[asyncpg.Record], dict[str, JSON]],
) -> web.Response:
    """``where`` and ``order`` are the caller's SQL with ``$1``… bound to ``args``; the
    page's offset and limit come after them."""
    n = len(args)
    rows = await pool.fetch(
        f"SELECT *, count(*) OVER () AS total FROM {table} WHERE {where}"
        f" ORDER BY {order} OFFSET ${n + 1} LIMIT ${n + 2}",
        *args,
        page.offset,
        page.count,
    )
    if rows:
        total = int(rows[0]["total"])
    else:
        total = int(await pool.fetchval(f"SELECT count(*) FROM {table} WHERE {where}", *args))
    values: list[JSON] = [present(r) for r in rows]
    body = {"fullResultSize": total, "from": page.offset, "count": len(values), "values": values}
    return web.json_response(body)
