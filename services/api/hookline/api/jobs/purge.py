"""The deletion of attempts past their retention (``HOOKLINE_ATTEMPT_RETENTION``)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import asyncpg

from hookline.core.errors import Unavailable
from hookline.core.failure import every

log = logging.getLogger(__name__)


async def purge(pool: asyncpg.Pool, before: float, batch: int = 10_000) -> int:
    """Delete the attempts made before ``before`` (epoch seconds), a batch at a time so
    that no statement holds its locks for long; returns how many were deleted."""
    cutoff = datetime.fromtimestamp(before, UTC)
    deleted = 0
    while True:
        status = await pool.execute(
            "DELETE FROM attempts WHERE id IN"
            " (SELECT id FROM attempts WHERE at < $1 ORDER BY at LIMIT $2)",
            cutoff,
            batch,
        )
        n = int(status.split()[-1])
        deleted += n
        if n < batch:
            return deleted


def purge_interval(retention_s: float) -> float:
    """How often to look for expired attempts: a tenth of the retention, 1 s to 1 h."""
    return min(max(retention_s / 10, 1.0), 3600.0)


async def purge_forever(pool: asyncpg.Pool, retention_s: float) -> None:
    async def once() -> None:
        deleted = await purge(pool, time.time() - retention_s)
        if deleted:
            log.info("deleted %d attempts older than the retention", deleted)

    await every(
        purge_interval(retention_s),
        once,
        what="deleting old attempts",
        survive=(OSError, asyncpg.PostgresError, Unavailable),
    )
