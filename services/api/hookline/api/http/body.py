"""Reading request bodies and query and path parameters, with errors a client can act on."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from hookline.api.http.context import ctx
from hookline.api.http.errors import ApiError, BadRequest, Unprocessable
from hookline.core.limits import find_problem


class TooLarge(ApiError):
    """413: the body is over the API's limit (``client_max_size`` of the app)."""

    status = 413
    code = "payload_too_large"


class BodyTimeout(ApiError):
    """408: the body did not arrive within ``HOOKLINE_HTTP_BODY_TIMEOUT``."""

    status = 408
    code = "request_timeout"


async def json_body(request: web.Request, *, limits: bool = True) -> Any:
    """The decoded body; with ``limits``, 422 unless every value in it could be encoded
    again and stored (``hookline.core.limits``: nesting, NUL, key length)."""
    wait_s = ctx(request).settings.http_body_timeout_s
    try:
        raw = await _read(request, wait_s)
    except TimeoutError as exc:  # not the 503 of a TimeoutError elsewhere: the client is slow
        raise BodyTimeout(
            f"the body did not arrive within {wait_s:g} s: send all of it (Content-Length"
            " bytes) without pausing"
        ) from exc
    except web.HTTPRequestEntityTooLarge as exc:
        raise TooLarge(
            f"the body is larger than {request.client_max_size} bytes: send less"
            " (publish at most 1,000 events per call)"
        ) from exc
    if not raw.strip():
        raise BadRequest("the body is empty: send a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc
    found = find_problem(body, "") if limits else None
    if found is not None:
        where, message = found
        raise Unprocessable.fields({where: f"{where or 'the body'} {message}"})
    return body


async def _read(request: web.Request, wait_s: float) -> bytes:
    if request.content.is_eof():
        # All of it is in already, as a small body comes with the head: no timer to
        # arm and cancel (4 % of the API's CPU for single-event publishes).
        return await request.read()
    async with asyncio.timeout(wait_s):
        return await request.read()


def int_param(
    request: web.Request, name: str, default: int, *, low: int = 0, high: int = 10**9
) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise Unprocessable.fields({name: f"{name} must be a whole number"}) from exc
    if not low <= value <= high:
        raise Unprocessable.fields({name: f"{name} must be between {low} and {high}"})
    return value


def path_id(request: web.Request, name: str = "id") -> int:
    raw = request.match_info[name]
    try:
        value = int(raw)
    except ValueError as exc:
        raise Unprocessable.fields({name: f"{name} must be a whole number, not {raw!r}"}) from exc
    if not 0 < value < 2**63:
        raise Unprocessable.fields({name: f"{name} is out of range"})
    return value
