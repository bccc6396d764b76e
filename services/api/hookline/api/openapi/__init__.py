"""The OpenAPI 3 document of the API, written by hand, served at ``/v2/openapi.json``,
and rendered as HTML at ``/v2/docs`` (``hookline.api.http.docspage``).

A test checks that every route the app registers is documented here and that every
documented route exists, and a schemathesis run checks the answers against it. A
route added to the app must be added here too.
"""

from __future__ import annotations

from aiohttp import web

from hookline.api.http import docspage
from hookline.api.openapi.delivery import delivery_paths
from hookline.api.openapi.dialects import DIALECT_SCHEMAS, dialect_paths
from hookline.api.openapi.kit import Doc
from hookline.api.openapi.paths import admin_paths, event_paths, subscription_paths
from hookline.api.openapi.quarantine import quarantine_paths
from hookline.api.openapi.replay import replay_paths
from hookline.api.openapi.schemas import SCHEMAS
from hookline.api.openapi.sealing import sealing_paths
from hookline.api.openapi.sources import sources_paths

routes = web.RouteTableDef()
UNDOCUMENTED = ("/healthz", "/readyz", "/metrics", "/v2/openapi.json", "/v2/docs")
UNDOCUMENTED_PREFIXES = ("/dashboard",)
"""Routes that are not the API: operations, these docs, and the dashboard's own pages."""


def is_documented_path(path: str) -> bool:
    """Whether a route of the app belongs in this document."""
    return path not in UNDOCUMENTED and not path.startswith(UNDOCUMENTED_PREFIXES)


def document() -> Doc:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Hookline",
            "version": "2",
            "description": (
                "Webhook subscriptions and event publishing. Send your API key as"
                " `Authorization: Bearer <key>` or as the password of Basic auth."
            ),
        },
        "security": [{"bearer": []}, {"basic": []}],
        "paths": {
            **subscription_paths(),
            **delivery_paths(),
            **replay_paths(),
            **event_paths(),
            **admin_paths(),
            **quarantine_paths(),
            **sealing_paths(),
            **sources_paths(),
            **dialect_paths(),
        },
        "components": {
            "schemas": {**SCHEMAS, **DIALECT_SCHEMAS},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
                "adminToken": {"type": "http", "scheme": "bearer"},
                "shareActorKey": {"type": "apiKey", "in": "header", "name": "X-Share-Api-Key"},
            },
        },
    }


@routes.get("/v2/openapi.json")
async def openapi_json(_: web.Request) -> web.Response:
    return web.json_response(document())


@routes.get("/v2/docs")
async def docs(_: web.Request) -> web.Response:
    return web.Response(text=docspage.render(document()), content_type="text/html")
