"""Errors in each dialect's own shape, rendered in one place.

The views of a dialect raise the API's usual errors (``hookline.api.http.errors``), with
``details`` already in the dialect's words; ``dialect_errors`` renders every error
of a dialect's paths (also 401, 404 of an unknown path, 405, 413) the way its source
document does:

- Orderspace: ``{"message": "Validation failed: Endpoint can't be blank, …"}``.
- ShareActor (Eve's): ``{"_status": "ERR", "_error": {"code", "message"},
  "_issues": {field: message}}``.
- Booqable (JSON:API's): ``{"errors": [{"code", "status", "title", "detail",
  "source", "meta"}]}``.

A detail's ``field`` is a JSON pointer (``/data/attributes/url``) or a query
parameter's name; ShareActor and Orderspace show the field's name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from hookline.api.errors import StoreError
from hookline.api.http.errors import ApiError, Handler, api_error_of

Details = list[dict[str, str]]
Renderer = Callable[[int, str, str, Details], dict[str, Any]]

ORDERSPACE_PREFIX = "/v1/webhooks"
SHAREACTOR_PREFIX = "/webhooks"
BOOQABLE_PREFIX = "/api/boomerang/webhook_endpoints"

_TITLES = {
    400: "Request Error",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    408: "Request Timeout",
    413: "Payload Too Large",
    422: "Validation Error",
    429: "Too Many Requests",
}


def orderspace(status: int, _code: str, message: str, details: Details) -> dict[str, Any]:
    if status == 422 and details:
        return {"message": "Validation failed: " + ", ".join(d["message"] for d in details)}
    return {"message": message}


def shareactor(status: int, _code: str, message: str, details: Details) -> dict[str, Any]:
    body: dict[str, Any] = {"_status": "ERR", "_error": {"code": status, "message": message}}
    if details:
        body["_issues"] = {d["field"]: d["message"] for d in details}
    return body


def booqable(status: int, code: str, message: str, details: Details) -> dict[str, Any]:
    title = _TITLES.get(status, "Error")
    if not details:
        return {
            "errors": [{"code": code, "status": str(status), "title": title, "detail": message}]
        }
    return {"errors": [_booqable_item(status, code, title, d) for d in details]}


def _booqable_item(status: int, code: str, title: str, detail: dict[str, str]) -> dict[str, Any]:
    field = detail["field"]
    source = {"pointer": field} if field.startswith("/") else {"parameter": field}
    attribute = field.rsplit("/", 1)[-1]
    return {
        "code": code,
        "status": str(status),
        "title": title,
        "detail": detail["message"],
        "source": source,
        "meta": {"attribute": attribute, "message": detail.get("rule", detail["message"])},
    }


def _is_under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def renderer_for(path: str) -> Renderer | None:
    if _is_under(path, ORDERSPACE_PREFIX):
        return orderspace
    if _is_under(path, SHAREACTOR_PREFIX):
        return shareactor
    if _is_under(path, BOOQABLE_PREFIX):
        return booqable
    return None


@web.middleware
async def dialect_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    render = renderer_for(request.path)
    if render is None:
        return await handler(request)
    try:
        return await handler(request)
    except (ApiError, StoreError) as raised:
        exc = raised if isinstance(raised, ApiError) else api_error_of(raised)
        return web.json_response(
            render(exc.status, exc.code, exc.message, exc.details),
            status=exc.status,
            headers=exc.headers,  # Retry-After of a 429 or a 503
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        allow = exc.headers.get("Allow")
        return web.json_response(
            render(exc.status, "http_error", exc.reason, []),
            status=exc.status,
            headers={"Allow": allow} if allow else None,
        )
