"""The replay jobs this process runs, and the takeover of the others.

A job runs in the process that started it, heartbeating; ``adopt_forever`` takes
over a RUNNING job whose heartbeat stopped (its process died) and one that no
process has started yet: an HTTP-only API process (``python -m hookline.api
serve``) inserts a new replay with a heartbeat at the epoch, for a worker to take
at its next look (every ``ADOPT_EVERY_S``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg

from hookline.api.errors import SubscriptionNotFound
from hookline.api.jobs.replay_job import RUNNING, STALE_AFTER_S, ReplayJob
from hookline.api.resources import Resources
from hookline.core.errors import Unavailable
from hookline.core.failure import every

log = logging.getLogger(__name__)

COLUMNS = (
    "id, subscription_id, tenant_id, since, status, total, processed, replayed, error,"
    " created_at, finished_at, starts, ends, positions"
)
ADOPT_EVERY_S = 2.0


class Jobs:
    """The replay jobs this API process runs, and the takeover of orphaned ones."""

    def __init__(self, c: Resources) -> None:
        self._c = c
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, row: asyncpg.Record, sub: Any) -> None:
        c = self._c
        job = ReplayJob(c.settings, c.pool, c.producer, row, sub)
        task = asyncio.create_task(job.run(), name=f"replay-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job.id, None))

    async def adopt_forever(self, every_s: float = ADOPT_EVERY_S) -> None:
        async def adopt_all() -> None:
            while await self._adopt_one():
                pass

        await every(
            every_s,
            adopt_all,
            what="taking over replays",
            survive=(OSError, asyncpg.PostgresError, Unavailable),
        )

    async def _adopt_one(self) -> bool:
        """Take over one job; False when there was none to take."""
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
            return False
        try:
            sub = await self._c.store.get(row["tenant_id"], row["subscription_id"])
        except SubscriptionNotFound:
            await self._c.pool.execute(
                "UPDATE replays SET status = 'FAILED', error = 'the subscription was deleted',"
                " finished_at = now() WHERE id = $1",
                row["id"],
            )
            return True
        log.info("taking over replay %s", row["id"])
        self.start(row, sub)
        return True

    async def stop(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
