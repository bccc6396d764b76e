"""The OpenAPI document against the app's routes, both ways, and the docs page.

Generic over ``app.router``: a route someone adds to the app without documenting it
fails ``test_every_route_is_documented`` with its method and path.
"""

from __future__ import annotations

import re

from aiohttp import web

from hookline.api import openapi
from hookline.api.http import docspage
from hookline.api.http.app import create_app
from hookline.core.config import Settings

METHODS = {"get", "put", "post", "delete", "patch"}


def _app_routes() -> set[tuple[str, str]]:
    app: web.Application = create_app(Settings.from_env({}))
    found: set[tuple[str, str]] = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        path = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)  # {name:regex} -> {name}
        if route.method.lower() in METHODS and openapi.is_documented_path(path):
            found.add((route.method.lower(), path))
    return found


def _documented() -> set[tuple[str, str]]:
    paths = openapi.document()["paths"]
    return {(m, p) for p, ops in paths.items() for m in ops if m in METHODS}


def test_every_route_is_documented() -> None:
    missing = sorted(_app_routes() - _documented())
    assert not missing, f"add these routes to hookline/api/openapi.py: {missing}"


def test_every_documented_route_exists() -> None:
    extra = sorted(_documented() - _app_routes())
    assert not extra, f"documented but not served: {extra}"


def test_the_main_routes_are_there() -> None:
    # Guards the two tests above against an empty route table.
    assert {
        ("get", "/v2/event"),
        ("post", "/v2/event/subscription"),
        ("get", "/v2/event/subscription/{id}"),
        ("get", "/v2/event/subscription/{id}/secret"),
        ("post", "/v2/event/publish"),
    } <= _app_routes()


def test_every_operation_documents_its_errors_and_refs_resolve() -> None:
    doc = openapi.document()
    schemas = doc["components"]["schemas"]
    text = repr(doc)
    for name in re.findall(r"#/components/schemas/(\w+)", text):
        assert name in schemas
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert "401" in op["responses"], (method, path)
            assert op["summary"], (method, path)
            for param in op.get("parameters", []):
                if param["in"] == "path":
                    assert "{" + param["name"] + "}" in path


def test_docs_page_lists_every_operation_escaped() -> None:
    doc = openapi.document()
    doc["info"]["description"] = "<script>alert(1)</script>"
    page = docspage.render(doc)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    for path, ops in doc["paths"].items():
        for method in ops:
            assert f"<span class='m'>{method.upper()}</span><code>{path}</code>" in page
