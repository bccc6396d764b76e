"""The dashboard: one static page (``/dashboard``) and the little JSON it needs beyond
the public API.

The page runs in the browser and signs in with a tenant's API key or the admin
token, which it keeps in the tab's ``sessionStorage`` and sends as a Bearer token.
A tenant's view calls the public endpoints (subscriptions, their attempts and dead
letters, redelivery); ``/dashboard/api/*`` adds who is signed in and, for the
admin, every tenant with its subscriptions. Nothing is loaded from another origin:
the Content-Security-Policy allows only this server.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

from aiohttp import web

from hookline.api.http import present
from hookline.api.http.auth import credential, require_admin, tenant_of
from hookline.api.http.body import int_param, path_id
from hookline.api.http.context import ctx
from hookline.api.http.errors import NotFound, Unauthorized

routes = web.RouteTableDef()
STATIC = Path(__file__).with_name("static")
FILES = {"app.js": "text/javascript", "style.css": "text/css", "index.html": "text/html"}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _file(name: str) -> web.Response:
    if name not in FILES:
        raise NotFound(f"the dashboard has no file {name!r}")
    body = (STATIC / name).read_bytes()
    return web.Response(body=body, content_type=FILES[name], charset="utf-8", headers=HEADERS)


@routes.get("/dashboard")
async def page(_: web.Request) -> web.Response:
    return _file("index.html")


@routes.get("/dashboard/static/{name}")
async def static(request: web.Request) -> web.Response:
    return _file(request.match_info["name"])


def _is_admin(request: web.Request) -> bool:
    token = ctx(request).settings.admin_token
    try:
        given = credential(request)
    except Unauthorized:  # no usable credential: tenant_of answers the 401
        return False
    return bool(token) and hmac.compare_digest(given.encode(), token.encode())


@routes.get("/dashboard/api/whoami")
async def whoami(request: web.Request) -> web.Response:
    """Who the credential belongs to: ``{"role": "admin"}`` or the tenant."""
    if _is_admin(request):
        return web.json_response({"value": {"role": "admin"}})
    tenant = await tenant_of(ctx(request).pool, request)
    return web.json_response(
        {"value": {"role": "tenant", "tenant": {"id": tenant.id, "name": tenant.name}}}
    )


TENANTS_SQL = """
SELECT t.id, t.name, t.created_at,
       count(s.id) AS subscriptions,
       count(s.id) FILTER (WHERE s.status = 'ACTIVE') AS active,
       (SELECT count(*) FROM api_keys k WHERE k.tenant_id = t.id AND k.revoked_at IS NULL)
           AS keys
  FROM tenants t
  LEFT JOIN subscriptions s ON s.tenant_id = t.id AND NOT s.deleted
 GROUP BY t.id
 ORDER BY t.id DESC
 LIMIT $1
"""


@routes.get("/dashboard/api/tenants")
async def tenants(request: web.Request) -> web.Response:
    """Admin: every tenant (newest first) with its subscription and key counts."""
    c = ctx(request)
    require_admin(c.settings.admin_token, request)
    rows = await c.pool.fetch(TENANTS_SQL, int_param(request, "count", 500, low=1, high=5000))
    values = [
        {
            "id": r["id"],
            "name": r["name"],
            "createdAt": present.iso(r["created_at"].timestamp()),
            "subscriptions": r["subscriptions"],
            "active": r["active"],
            "keys": r["keys"],
        }
        for r in rows
    ]
    return web.json_response({"count": len(values), "values": values})


@routes.get("/dashboard/api/tenants/{id}/subscriptions")
async def tenant_subscriptions(request: web.Request) -> web.Response:
    """Admin: one tenant's subscriptions, secrets and passwords left out."""
    c = ctx(request)
    require_admin(c.settings.admin_token, request)
    rows = await c.pool.fetch(
        "SELECT id, events, target_url, status, dialect, created_at, updated_at FROM subscriptions"
        " WHERE tenant_id = $1 AND NOT deleted ORDER BY id DESC LIMIT 1000",
        path_id(request),
    )
    values: list[dict[str, Any]] = [
        {
            "id": r["id"],
            "events": list(r["events"]),
            "targetUrl": present.mask_url(r["target_url"]),
            "status": r["status"],
            "dialect": r["dialect"],
            "updatedAt": present.iso(r["updated_at"].timestamp()),
        }
        for r in rows
    ]
    return web.json_response({"count": len(values), "values": values})
