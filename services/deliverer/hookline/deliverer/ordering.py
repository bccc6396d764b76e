"""Version order at the receiver: never an older version of an object after a newer one.

The router stamps each delivery with the object it is about (``ordering_key``) and
its position (``order``: the event's offset in ``hookline.events``, where one
object's events are in publication order). Two things could still reorder them:

- two deliveries of one object to one subscription in flight at once: ``turn``
  holds a lock per (subscription, object) from the decision to the answer, so the
  receiver has answered the first before the second is sent;
- a retry (or a re-read after a crash) of an older delivery once a newer one was
  tried: ``turn`` records the highest position tried per (subscription, object) in
  PostgreSQL (``delivery_order``, shared by every deliverer and kept across
  restarts) and drops a delivery below it. The newer one carries the object's
  latest state, so dropping the older one is the coalescing Tripletex allows.
  The positions of all deliveries waiting at one moment are written by one
  statement (``GroupWriter``), each still before its own request is sent.

A batch delivery is checked object by object: the objects superseded since the
batch was made are left out of the request, and a batch with none left is dropped.

    OrderStoreUnavailable (ConnectionError)   PostgreSQL could not record a position

A position PostgreSQL refuses (a NUL in an object id, a key too long for the
index) is not that: it is the delivery's own fault, raised as PostgreSQL's error,
and the deliverer quarantines the delivery. One such position makes the
statement of its whole group fail, so the group is then written delivery by
delivery, and only that one fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Hashable, Iterable, Mapping
from dataclasses import replace
from typing import Any

import asyncpg

from hookline.core import db
from hookline.core.batches import objects_of, plural
from hookline.core.config import Settings
from hookline.core.failure import every, is_infra, is_poison
from hookline.core.messages import Delivery

log = logging.getLogger(__name__)

# Longer than any retry schedule and the events' retention: a position older than
# this cannot come back except by a manual redelivery.
KEEP_S = 8 * 24 * 3600
CLEAN_EVERY_S = 3600.0
CLOSE_TIMEOUT_S = 5.0


class OrderStoreUnavailable(ConnectionError):
    """PostgreSQL could not record a delivery's position; the delivery is tried again."""


def positions_of(delivery: Delivery) -> dict[str, int]:
    """Pure: the ordered objects of a delivery and their positions (highest per object)."""
    pairs: list[tuple[Any, Any]]
    if delivery.items is not None:
        pairs = [(i.get("key"), i.get("order")) for i in delivery.items]
    else:
        pairs = [(delivery.ordering_key, delivery.order)]
    found: dict[str, int] = {}
    for key, order in pairs:
        if isinstance(key, str) and isinstance(order, int):
            found[key] = max(order, found.get(key, order))
    return found


def admitted(delivery: Delivery, newest: Mapping[str, int]) -> Delivery | None:
    """Pure: the delivery as it may still be sent, given the newest position tried per
    object; None when everything in it is older than something already tried."""
    if delivery.items is None:
        key, order = delivery.ordering_key, delivery.order
        if key is None or order is None or newest.get(key, order) <= order:
            return delivery
        return None
    objects = objects_of(delivery)
    keep = [
        n
        for n, item in enumerate(delivery.items)
        if not _superseded(item.get("key"), item.get("order"), newest)
    ]
    if not keep:
        return None
    if len(keep) == len(delivery.items) or len(objects) != len(delivery.items):
        return delivery
    return replace(
        delivery,
        payload={plural(delivery.event): [objects[n] for n in keep]},
        items=[delivery.items[n] for n in keep],
    )


def _superseded(key: Any, order: Any, newest: Mapping[str, int]) -> bool:
    if not isinstance(key, str) or not isinstance(order, int):
        return False
    return newest.get(key, order) > order


class KeyedLocks:
    """One asyncio lock per key, made on demand and dropped when nobody holds or waits."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, keys: Iterable[Hashable]) -> AsyncIterator[None]:
        """Every lock of ``keys``, taken in sorted order so that two holders of
        overlapping sets cannot deadlock."""
        ordered = list(keys)
        if len(ordered) > 1:
            ordered = sorted(set(ordered), key=repr)
        counted: list[Hashable] = []
        acquired: list[asyncio.Lock] = []
        try:
            for key in ordered:
                lock, users = self._locks.get(key, (asyncio.Lock(), 0))
                self._locks[key] = (lock, users + 1)
                counted.append(key)
                await lock.acquire()
                acquired.append(lock)
            yield
        finally:
            for lock in reversed(acquired):
                lock.release()
            for key in counted:
                lock, users = self._locks[key]
                if users <= 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


# Rows in key order, so that two deliverers' statements lock shared rows in the same
# order (no deadlock); one row per pair, as ON CONFLICT may touch a row only once.
_RECORD = """
INSERT INTO delivery_order AS d (subscription_id, ordering_key, position)
SELECT s, k, max(p) FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS t(s, k, p)
GROUP BY s, k ORDER BY s, k
ON CONFLICT (subscription_id, ordering_key) DO UPDATE
    SET position = GREATEST(d.position, EXCLUDED.position), updated_at = now()
RETURNING subscription_id, ordering_key, position
"""

Wanted = tuple[int, Mapping[str, int], asyncio.Future[dict[str, int]]]


class GroupWriter:
    """Positions asked for while a statement runs go together into the next one: one
    round trip to PostgreSQL for every delivery waiting at that moment, not one per
    delivery. Each caller still gets its answer only once its rows are written."""

    def __init__(self, fetch: Any) -> None:
        self._fetch = fetch  # (sql, *args) -> rows
        self._waiting: list[Wanted] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, subscription_id: int, positions: Mapping[str, int]) -> dict[str, int]:
        future: asyncio.Future[dict[str, int]] = asyncio.get_running_loop().create_future()
        self._waiting.append((subscription_id, positions, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        # The future is this caller's alone: cancelling the caller cancels it, and the
        # writer skips it (``_resolve``); the others' rows are written all the same.
        return await future

    async def _write_all(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                rows = await self._fetch(_RECORD, *_columns(group))
            except Exception as exc:
                if len(group) > 1 and is_poison(exc):  # one position refused: find whose
                    await self._write_each(group)
                else:
                    _fail(group, exc)
                continue
            except BaseException:
                for _, _, future in group:
                    future.cancel()
                raise
            _resolve(group, rows)

    async def _write_each(self, group: list[Wanted]) -> None:
        for wanted in group:
            try:
                _resolve([wanted], await self._fetch(_RECORD, *_columns([wanted])))
            except Exception as exc:
                _fail([wanted], exc)


def _resolve(group: list[Wanted], rows: list[Any]) -> None:
    found = {(r["subscription_id"], r["ordering_key"]): r["position"] for r in rows}
    for sub, positions, future in group:
        if not future.done():
            future.set_result({k: found[(sub, k)] for k in positions})


def _fail(group: list[Wanted], exc: Exception) -> None:
    for _, _, future in group:
        if not future.done():
            future.set_exception(exc)


def _columns(group: list[Wanted]) -> tuple[list[int], list[str], list[int]]:
    subs, keys, orders = [], [], []
    for sub, positions, _ in group:
        for key, order in positions.items():
            subs.append(sub)
            keys.append(key)
            orders.append(order)
    return subs, keys, orders


class OrderGate:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool: asyncpg.Pool | None = None
        self._locks = KeyedLocks()
        self._cleaner: asyncio.Task[None] | None = None
        self._writer: GroupWriter | None = None

    async def start(self) -> None:
        self._pool = await db.connect(self._settings.database_url, max_size=10)
        self._writer = GroupWriter(self._pool.fetch)
        await db.migrate(self._pool)  # the deliverer may start before the API
        self._cleaner = asyncio.create_task(self._clean_every(CLEAN_EVERY_S))

    async def stop(self) -> None:
        if self._cleaner is not None:
            self._cleaner.cancel()
            await asyncio.gather(self._cleaner, return_exceptions=True)
        if self._pool is not None:
            try:  # a server that is gone would keep a graceful close waiting
                await asyncio.wait_for(self._pool.close(), CLOSE_TIMEOUT_S)
            except TimeoutError:
                self._pool.terminate()

    @contextlib.asynccontextmanager
    async def turn(self, delivery: Delivery) -> AsyncIterator[Delivery | None]:
        """Hold the delivery's objects for the body of the ``async with`` and give the
        delivery as it may be sent, or None if a newer version was tried already."""
        positions = positions_of(delivery)
        if not positions:
            yield delivery
            return
        sub = delivery.subscription_id
        async with self._locks.hold((sub, key) for key in positions):
            newest = await self.record(sub, positions)
            result = admitted(delivery, newest)
            if result is None:
                log.info(
                    "dropping a delivery: a newer version of its object was tried already",
                    extra={"ctx": {"delivery_id": delivery.delivery_id, "subscription_id": sub}},
                )
            yield result

    async def record(self, subscription_id: int, positions: Mapping[str, int]) -> dict[str, int]:
        """Raise each object's stored position to at least ``positions``; the result."""
        assert self._writer is not None, "start() the gate first"
        try:
            return await self._writer.record(subscription_id, positions)
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            if not is_infra(exc):
                raise  # this delivery's positions were refused: it is poison
            raise OrderStoreUnavailable(f"cannot record delivery positions: {exc}") from exc

    async def _clean_every(self, seconds: float) -> None:
        pool = self._pool
        assert pool is not None

        async def clean() -> None:
            await pool.execute(
                "DELETE FROM delivery_order WHERE updated_at < now() - make_interval(secs => $1)",
                float(KEEP_S),
            )

        await every(
            seconds, clean, what="cleaning delivery_order", survive=(OSError, asyncpg.PostgresError)
        )
