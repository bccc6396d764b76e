"""The API's errors, rendered in one place.

    ApiError                  any answer that is not a success
     ├── BadRequest      400  malformed JSON, a body too large
     ├── Unauthorized    401  no valid API key or admin token
     ├── NotFound        404  no such object for this tenant
     ├── Conflict        409  a stale ``version``
     ├── Unprocessable   422  well-formed input that breaks a rule; lists every bad field
     └── Unavailable     503  PostgreSQL or Kafka cannot be reached; ``Retry-After``

Every error answers ``{"status", "code", "message"}`` (plus ``validationMessages``
for 422). The store's errors (``hookline.api.errors``) become their answer here
(``api_error_of``: not found 404, a version conflict 409, an invalid change 422), and
so does an outage (``hookline.core.errors.Unavailable``, or a client's exception that
says PostgreSQL or Kafka is out of reach, for the views that query the pool
directly): 503 with ``Retry-After`` (``unavailable_of``). In one place rather than in
each view. Anything else raised by a view is logged and answered as an opaque 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from hookline.api.errors import (
    InvalidChange,
    SecretsUnopenable,
    StoreError,
    SubscriptionNotFound,
    VersionConflict,
)
from hookline.core.errors import DatabaseUnavailable, outage_of

log = logging.getLogger(__name__)


class ApiError(Exception):
    status = 500
    code = "error"
    headers: dict[str, str] | None = None

    def __init__(self, message: str, *, details: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {
            "status": self.status,
            "code": self.code,
            "message": self.message,
        }
        if self.details:
            body["validationMessages"] = self.details
        return body


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Unprocessable(ApiError):
    status = 422
    code = "validation_failed"

    @classmethod
    def fields(cls, problems: dict[str, str]) -> Unprocessable:
        message = "; ".join(f"{k}: {v}" if k else v for k, v in problems.items())
        return cls(message, details=[{"field": k, "message": v} for k, v in problems.items()])


class Unavailable(ApiError):
    status = 503
    code = "unavailable"
    RETRY_AFTER_S = 5

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(self.RETRY_AFTER_S)}


def unavailable_of(exc: BaseException) -> Unavailable | None:
    """Pure: the 503 for an error that says PostgreSQL or Kafka is out of reach, or None."""
    outage = outage_of(exc)
    if outage is None:
        return None
    if isinstance(outage, DatabaseUnavailable):
        return Unavailable("the database is not reachable just now: try again shortly")
    return Unavailable("the event log (Kafka) is not reachable just now: try again shortly")


def api_error_of(exc: StoreError) -> ApiError:
    """Pure: the answer to one of the store's refusals."""
    if isinstance(exc, SubscriptionNotFound):
        return NotFound(str(exc))
    if isinstance(exc, VersionConflict):
        return Conflict(str(exc))
    if isinstance(exc, InvalidChange):
        return Unprocessable.fields({exc.field: exc.problem})
    if isinstance(exc, SecretsUnopenable):
        return Unavailable(str(exc))
    return Unprocessable(str(exc))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except (ApiError, StoreError) as raised:
        exc = raised if isinstance(raised, ApiError) else api_error_of(raised)
        return web.json_response(exc.body(), status=exc.status, headers=exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        body = {"status": exc.status, "code": "http_error", "message": exc.reason}
        return web.json_response(body, status=exc.status, headers=_allow(exc))
    except Exception as exc:
        down = unavailable_of(exc)
        if down is not None:
            log.warning(
                "answered 503: %s: %s",
                type(exc).__name__,
                exc,
                extra={"ctx": {"path": request.path}},
            )
            return web.json_response(down.body(), status=down.status, headers=down.headers)
        log.exception("unexpected error", extra={"ctx": {"path": request.path}})
        body = {"status": 500, "code": "internal", "message": "internal error"}
        return web.json_response(body, status=500)


def _allow(exc: web.HTTPException) -> dict[str, str] | None:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else None
