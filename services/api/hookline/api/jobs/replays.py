"""The replay jobs this process runs, and the takeover of orphaned ones."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

from hookline.api.http.context import Context
from hookline.api.http.errors import NotFound
from hookline.api.jobs.replay_job import RUNNING, STALE_AFTER_S, ReplayJob

log = logging.getLogger(__name__)

COLUMNS = (
    "id, subscription_id, tenant_id, since, status, total, processed, replayed, error,"
    " created_at, finished_at, starts, ends, positions"
)


class Jobs:
    """The replay jobs this API process runs, and the takeover of orphaned ones."""

    def __init__(self, c: Context) -> None:
        self._c = c
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, row: asyncpg.Record, sub: Any) -> None:
        c = self._c
        job = ReplayJob(c.settings, c.pool, c.producer, row, sub)
        task = asyncio.create_task(job.run(), name=f"replay-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job.id, None))

    async def adopt_forever(self, every_s: float = 5.0) -> None:
        while True:
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                await self._adopt_one()
            await asyncio.sleep(every_s)

    async def _adopt_one(self) -> None:
        row = await self._c.pool.fetchrow(
            "UPDATE replays SET heartbeat_at = now() WHERE id = ("
            " SELECT id FROM replays WHERE status = $1"
            " AND heartbeat_at < now() - make_interval(secs => $2)"
            " ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)"
            f" RETURNING {COLUMNS}",
            RUNNING,
            STALE_AFTER_S,
        )
        if row is None or row["id"] in self._tasks:
            return
        try:
            sub = await self._c.store.get(row["tenant_id"], row["subscription_id"])
        except NotFound:
            await self._c.pool.execute(
                "UPDATE replays SET status = 'FAILED', error = 'the subscription was deleted',"
                " finished_at = now() WHERE id = $1",
                row["id"],
            )
            return
        log.info("resuming replay %s", row["id"])
        self.start(row, sub)

    async def stop(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
