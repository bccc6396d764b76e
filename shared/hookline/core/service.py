"""What every service's ``__main__`` shares: logging, uvloop, a health server, signals."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable

import orjson
import uvloop
from aiohttp import web

from hookline.core.config import SettingError, Settings


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``extra={"ctx": {...}}`` adds ids such as the delivery's."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "at": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ctx = getattr(record, "ctx", None)
        if isinstance(ctx, dict):
            entry.update(ctx)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingError as exc:
        print(f"hookline: bad setting: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def health_app(ready: Callable[[], bool]) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        ok = ready()
        return web.json_response({"ready": ok}, status=200 if ok else 503)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def serve(app: web.Application, settings: Settings) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.http_host, settings.http_port).start()
    return runner


def run(main: Callable[[Settings, asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(settings, stopping)`` on uvloop until SIGTERM or SIGINT sets ``stopping``."""
    settings = load_settings()
    setup_logging(settings.log_level)

    async def runner() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await main(settings, stopping)

    uvloop.run(runner())
