"""PostgreSQL access: one pool per process, and the schema migrations.

Migrations are the numbered ``migrations/*.sql`` files beside this module, applied
in order at start under an advisory lock, so that two services starting together
apply each one once.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import TypeAlias

import asyncpg
import asyncpg.pool

from hookline.core.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

_MIGRATION_LOCK = 0x486F6F6B  # "Hook"

# What queries run on: a connection of its own or one lent by the pool (``pool.acquire()``).
Connection: TypeAlias = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


CONNECT_TIMEOUT_S = 5.0  # a database that is down is noticed in this, not in asyncpg's 60 s


async def connect(url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    try:
        pool = await asyncpg.create_pool(
            url, min_size=min_size, max_size=max_size, timeout=CONNECT_TIMEOUT_S
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise DatabaseUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
    assert pool is not None
    return pool


def migrations() -> list[tuple[str, str]]:
    folder = resources.files("hookline.core") / "migrations"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name, f.read_text()) for f in files]


async def migrate(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for name, sql in migrations():
            if name in done:
                continue
            log.info("applying migration %s", name)
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
