"""The event catalog as the API serves it: PostgreSQL's ``event_types``, seeded with
the default catalog and cached in memory (read again on a miss, so that a type an
admin adds through another API instance is seen at once)."""

from __future__ import annotations

import asyncpg
from aiokafka import AIOKafkaProducer

from hookline.core.catalog import EventType, default_catalog, set_plural
from hookline.core.messages import CatalogEntry
from hookline.core.types import JSON


def catalog_entry_of(e: EventType) -> dict[str, JSON]:
    entry: dict[str, JSON] = {"description": e.description}
    if e.payload_model:
        entry["payloadModel"] = e.payload_model
    return entry


class Catalog:
    """``put`` writes an admin's change to PostgreSQL and to ``hookline.catalog`` in one
    transaction, so the router and deliverers (which have no database) see its plural."""

    def __init__(self, pool: asyncpg.Pool, producer: AIOKafkaProducer, topic: str) -> None:
        self._pool = pool
        self._producer = producer
        self._topic = topic
        self._types: dict[str, EventType] = {}

    async def seed(self) -> None:
        await self._pool.executemany(
            "INSERT INTO event_types (name, description, payload_model, plural)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
            [(e.name, e.description, e.payload_model, e.plural) for e in default_catalog()],
        )
        await self.reload()

    async def reload(self) -> None:
        rows = await self._pool.fetch(
            "SELECT name, description, payload_model, plural FROM event_types ORDER BY name"
        )
        self._types = {
            r["name"]: EventType(r["name"], r["description"], r["payload_model"], r["plural"])
            for r in rows
        }
        for event in self._types.values():
            set_plural(event.name, event.plural)

    def all(self) -> dict[str, EventType]:
        return self._types

    async def known(self, names: list[str]) -> set[str]:
        """The subset of ``names`` in the catalog (reloading once if any is missing)."""
        if any(n not in self._types for n in names):
            await self.reload()
        return {n for n in names if n in self._types}

    async def put(self, event: EventType) -> None:
        entry = CatalogEntry(event.name, event.description, event.plural, event.payload_model)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO event_types (name, description, payload_model, plural)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET"
                " description = EXCLUDED.description, payload_model = EXCLUDED.payload_model,"
                " plural = EXCLUDED.plural",
                event.name,
                event.description,
                event.payload_model,
                event.plural,
            )
            await self._producer.send_and_wait(self._topic, entry.encode(), key=entry.key())
        await self.reload()
