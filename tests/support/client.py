"""A small client for the API under test."""

from __future__ import annotations

from typing import Any

import aiohttp

# The API closes a connection idle for HOOKLINE_HTTP_HEADER_TIMEOUT (10 s); aiohttp's
# client keeps one 15 s by default and would then write a request into a closed socket.
IDLE_S = 5.0


def session() -> aiohttp.ClientSession:
    """A client session whose idle connections are dropped before the API drops them."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(keepalive_timeout=IDLE_S))


class Api:
    def __init__(self, base: str, session: aiohttp.ClientSession, key: str | None = None) -> None:
        self.base = base
        self.session = session
        self.key = key

    def as_key(self, key: str) -> Api:
        return Api(self.base, self.session, key)

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        hdrs = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        hdrs.update(headers or {})
        kwargs: dict[str, Any] = {"headers": hdrs}
        if raw is not None:
            kwargs["data"] = raw
        elif body is not None:
            kwargs["json"] = body
        async with self.session.request(method, self.base + path, **kwargs) as rsp:
            text = await rsp.text()
            try:
                return rsp.status, await rsp.json(content_type=None) if text else None
            except ValueError:
                return rsp.status, text
