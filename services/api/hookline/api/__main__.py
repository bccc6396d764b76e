"""The API's two roles, together or apart:

    python -m hookline.api          # both roles in one process (what make up ran before)
    python -m hookline.api serve    # the HTTP server alone
    python -m hookline.api worker   # the background work alone (hookline.api.worker)
    python -m hookline.api rebuild  # drop the subscriptions read model, project it again

Run as many of each as you like: the HTTP role scales with requests, the worker
role with the attempts and dead letters to project.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from hookline.api import worker
from hookline.api.http.app import create_app
from hookline.api.projection.projector import rebuild
from hookline.core import db, kafka, service
from hookline.core.config import Settings

log = logging.getLogger("hookline.api")


async def serve(settings: Settings, stopping: asyncio.Event) -> None:
    await _http(settings, stopping, worker=False)


async def serve_and_work(settings: Settings, stopping: asyncio.Event) -> None:
    await _http(settings, stopping, worker=True)


async def _http(settings: Settings, stopping: asyncio.Event, *, worker: bool) -> None:
    runner = await service.serve(create_app(settings, worker=worker), settings)
    roles = "HTTP and worker" if worker else "HTTP"
    log.info("API (%s) listening on %s:%s", roles, settings.http_host, settings.http_port)
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


COMMANDS = {
    "all": serve_and_work,
    "serve": serve,
    "worker": worker.main,
    "rebuild": rebuild_read_model,
}


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "all"
    if name not in COMMANDS or len(sys.argv) > 2:
        print(__doc__, file=sys.stderr)
        raise SystemExit(2)
    service.run(COMMANDS[name])


if __name__ == "__main__":
    main()
