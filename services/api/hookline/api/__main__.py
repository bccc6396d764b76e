"""``python -m hookline.api`` serves the API; ``python -m hookline.api rebuild`` drops the
subscriptions read model and projects it again from ``hookline.subscriptions``."""

from __future__ import annotations

import asyncio
import logging
import sys

from hookline.api.http.app import create_app
from hookline.api.projection.projector import rebuild
from hookline.core import db, kafka, service
from hookline.core.config import Settings

log = logging.getLogger("hookline.api")


async def serve(settings: Settings, stopping: asyncio.Event) -> None:
    runner = await service.serve(create_app(settings), settings)
    log.info("API listening on %s:%s", settings.http_host, settings.http_port)
    await stopping.wait()
    await runner.cleanup()


async def rebuild_read_model(settings: Settings, _: asyncio.Event) -> None:
    await kafka.ensure_topics(settings)
    pool = await db.connect(settings.database_url)
    try:
        await db.migrate(pool)
        count = await rebuild(settings, pool)
        print(f"rebuilt the subscriptions read model from {count} records")
    finally:
        await pool.close()


def main() -> None:
    commands = {"serve": serve, "rebuild": rebuild_read_model}
    name = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if name not in commands:
        print(__doc__, file=sys.stderr)
        raise SystemExit(2)
    service.run(commands[name])


if __name__ == "__main__":
    main()
