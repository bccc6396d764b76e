"""One HTTP request to a target, and what came back.

aiohttp's errors are translated here into an ``Answer`` with ``error`` set: a
failed request is a result to classify, not an exception. Redirects are not
followed. Only the first ``BODY_KEPT`` bytes of a response body are read, for the
attempt log.

``session`` is the deliverer's one client: kept-alive connections per endpoint,
every connection made through the resolver given (the SSRF guard, ``resolver.py``),
no cookie jar (a cookie one target sets is never sent to it or to another tenant's
target on the same host), and no ``Accept-Encoding``: the body is kept as it came
(``auto_decompress`` off), so it must come uncompressed to be readable in the log.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from hookline.core.ssrf import TargetNotAllowed
from hookline.deliverer.request import Request

BODY_KEPT = 4096
KEEPALIVE_S = 30
# Headers aiohttp would add by itself; Content-Type and User-Agent come with each request.
SKIP_AUTO_HEADERS = ("Accept-Encoding",)


def session(resolver: Any, max_in_flight: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=max_in_flight,
        limit_per_host=0,  # the EndpointGate limits each endpoint, outside the timeout
        resolver=resolver,
        keepalive_timeout=KEEPALIVE_S,
    )
    return aiohttp.ClientSession(
        connector=connector,
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=SKIP_AUTO_HEADERS,
    )


@functools.lru_cache(maxsize=8)  # one setting: one object, not one per request
def _timeout(timeout_s: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=timeout_s)


@dataclass(frozen=True)
class Answer:
    status: int | None
    latency_ms: float
    body: str | None = None
    retry_after: str | None = None
    error: str | None = None
    sent: bool = True  # False when the request was never made (the target is not allowed)


async def send(http: aiohttp.ClientSession, req: Request, timeout_s: float) -> Answer:
    started = time.monotonic()
    try:
        async with http.post(
            req.url,
            data=req.body,
            headers=req.headers,
            allow_redirects=False,
            timeout=_timeout(timeout_s),
        ) as rsp:
            head = await _read_head(rsp, BODY_KEPT)
            return Answer(
                status=rsp.status,
                latency_ms=_since(started),
                body=printable(head),
                retry_after=rsp.headers.get("Retry-After"),
            )
    except TimeoutError:
        return Answer(None, _since(started), error=f"timeout after {timeout_s:g}s")
    except TargetNotAllowed as exc:
        return Answer(None, _since(started), error=f"target not allowed: {exc}", sent=False)
    except (aiohttp.ClientError, OSError) as exc:
        return Answer(None, _since(started), error=f"{type(exc).__name__}: {exc}")


def _since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 2)


async def _read_head(rsp: aiohttp.ClientResponse, limit: int) -> bytes:
    head = bytearray()
    while len(head) < limit:
        chunk = await rsp.content.read(limit - len(head))
        if not chunk:
            break
        head += chunk
    return bytes(head)


def printable(raw: bytes) -> str:
    """The body as text for the attempt log; PostgreSQL's text cannot hold NUL."""
    return raw.decode("utf-8", "replace").replace("\x00", "\ufffd")
