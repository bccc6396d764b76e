"""Targets for the delivery tests: a receiver whose answers are scripted per request, an
endpoint that accepts connections and never answers, and small helpers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from aiohttp import web

from support.client import Api
from support.receiver import Received, Receiver

Script = Callable[[int, web.Request], Awaitable[web.StreamResponse]]
T = TypeVar("T")


@dataclass
class ScriptedReceiver(Receiver):
    """A ``Receiver`` whose ``script(n, request)`` makes the answer (headers, body, delays);
    without a script it answers ``responder(n)`` as the plain one does."""

    script: Script | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        n = len(self.received)
        self.received.append(
            Received(request.path, dict(request.headers), body, asyncio.get_running_loop().time())
        )
        async with self._arrived:
            self._arrived.notify_all()
        if self.script is None:
            return web.Response(status=self.responder(n))
        return await self.script(n, request)

    def ids(self) -> list[Any]:
        """The object ``id`` of every delivery received, in order of arrival."""
        return [orjson.loads(r.body)["id"] for r in self.received]


class HangingEndpoint:
    """Accepts TCP connections, reads what is sent, never answers: a dead target whose
    requests end only at the deliverer's timeout."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for w in list(self._writers):
            w.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while await reader.read(65536):
                pass
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


async def eventually(
    probe: Callable[[], Awaitable[T]], timeout_s: float, what: str, interval_s: float = 0.1
) -> T:
    """``probe()`` again until it returns something truthy; fails naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s}s: {what} (last: {value!r})")
        await asyncio.sleep(interval_s)


async def subscribe(api: Api, target: str, event: str = "product.create", **extra: Any) -> Any:
    status, body = await api.call(
        "POST", "/v2/event/subscription", {"event": event, "targetUrl": target, **extra}
    )
    assert status == 201, body
    return body["value"]


async def publish(api: Api, ids: list[int], event: str = "product.create") -> None:
    events = [{"event": event, "id": i, "value": {"id": i, "name": f"n{i}"}} for i in ids]
    for start in range(0, len(events), 1000):
        status, body = await api.call("POST", "/v2/event/publish", events[start : start + 1000])
        assert status == 202, body


async def attempts(api: Api, sub_id: int, query: str = "") -> Any:
    status, body = await api.call("GET", f"/v2/event/subscription/{sub_id}/attempts?{query}")
    assert status == 200, body
    return body


def header(received: Received, name: str) -> str:
    return {k.lower(): v for k, v in received.headers.items()}[name.lower()]
