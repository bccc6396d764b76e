"""The bench's webhook receiver: its own process on 127.0.0.1, answering 200 at once.

    python -m bench.receiver PORT [PORT ...]

It listens on every PORT, so that subscriptions can stand for customers with
endpoints of their own (the deliverer limits its concurrency per host:port).
``POST /s/<n>`` on any of them is subscription n's target. Per request it keeps the arrival time
(``time.time()``, comparable with the producer's clock on the same machine), the
``webhook-id`` and the object ids in the body: one for the default format
(``{"id": ...}``), every item's for the batch format (``{"data": {"<plural>":
[...]}}``). ``GET /stats`` counts, ``GET /dump`` hands every record over,
``POST /reset`` forgets them.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import orjson
import uvloop
from aiohttp import web

Record = tuple[float, str, int, list[Any], bool]  # at, webhook-id, subscription, ids, batch


def ids_in(body: Any) -> tuple[list[Any], bool]:
    """The object ids a delivery body carries, and whether it was in the batch format."""
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        found = [
            item.get("id")
            for items in body["data"].values()
            if isinstance(items, list)
            for item in items
            if isinstance(item, dict)
        ]
        return found, True
    if isinstance(body, dict):
        return [body.get("id")], False
    return [], False


class Recorder:
    def __init__(self) -> None:
        self.records: list[Record] = []
        self.seen: set[tuple[int, Any]] = set()
        self.items = 0

    async def hook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        at = time.time()
        sub = int(request.match_info["sub"])
        try:
            ids, batch = ids_in(orjson.loads(raw))
        except orjson.JSONDecodeError:
            ids, batch = [], False
        self.records.append((at, request.headers.get("webhook-id", ""), sub, ids, batch))
        self.items += len(ids)
        self.seen.update((sub, i) for i in ids)
        return web.Response()

    async def stats(self, _: web.Request) -> web.Response:
        body = {"requests": len(self.records), "items": self.items, "unique": len(self.seen)}
        return web.json_response(body, dumps=lambda o: orjson.dumps(o).decode())

    async def dump(self, _: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(self.records), content_type="application/json")

    async def reset(self, _: web.Request) -> web.Response:
        self.__init__()  # type: ignore[misc]
        return web.Response()


def app() -> web.Application:
    rec = Recorder()
    application = web.Application(client_max_size=64 * 1024 * 1024)
    application.router.add_post("/s/{sub:[0-9]+}", rec.hook)
    application.router.add_get("/stats", rec.stats)
    application.router.add_get("/dump", rec.dump)
    application.router.add_post("/reset", rec.reset)
    return application


async def serve(ports: list[int]) -> None:
    runner = web.AppRunner(app(), access_log=None)
    await runner.setup()
    for port in ports:
        await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    await asyncio.Event().wait()  # until the bench terminates this process


def main() -> None:
    uvloop.run(serve([int(p) for p in sys.argv[1:]]))


if __name__ == "__main__":
    main()
