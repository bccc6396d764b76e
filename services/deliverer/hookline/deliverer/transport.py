"""One HTTP request to a target, and what came back.

aiohttp's errors are translated here into an ``Answer`` with ``error`` set: a
failed request is a result to classify, not an exception. Redirects are not
followed. Only the first ``BODY_KEPT`` bytes of a response body are read, for the
attempt log.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiohttp

from hookline.core.ssrf import TargetNotAllowed
from hookline.deliverer.request import Request

BODY_KEPT = 4096


@dataclass(frozen=True)
class Answer:
    status: int | None
    latency_ms: float
    body: str | None = None
    retry_after: str | None = None
    error: str | None = None
    sent: bool = True  # False when the request was never made (the target is not allowed)


async def send(http: aiohttp.ClientSession, req: Request, timeout_s: float) -> Answer:
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    started = time.monotonic()

    def elapsed() -> float:
        return round((time.monotonic() - started) * 1000, 2)

    try:
        async with http.post(
            req.url, data=req.body, headers=req.headers, allow_redirects=False, timeout=timeout
        ) as rsp:
            head = await _read_head(rsp, BODY_KEPT)
            return Answer(
                status=rsp.status,
                latency_ms=elapsed(),
                body=printable(head),
                retry_after=rsp.headers.get("Retry-After"),
            )
    except TimeoutError:
        return Answer(None, elapsed(), error=f"timeout after {timeout_s:g}s")
    except TargetNotAllowed as exc:
        return Answer(None, elapsed(), error=f"target not allowed: {exc}", sent=False)
    except (aiohttp.ClientError, OSError) as exc:
        return Answer(None, elapsed(), error=f"{type(exc).__name__}: {exc}")


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
