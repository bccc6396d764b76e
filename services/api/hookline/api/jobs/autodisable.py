"""Hookline disabling a subscription by itself, decided where attempts are projected.

Two reasons, each with its own status:

- ``DISABLED_GONE``: the target answered 410 Gone.
- ``DISABLED_TOO_MANY_ERRORS``: the subscription has failed for
  ``HOOKLINE_AUTO_DISABLE_AFTER`` without one success. A success starts the clock
  again, and so does any change to the subscription (a ``PUT``, re-enabling it
  included): failures from before a change say nothing about what it is now.

The clock is ``subscription_health``, folded from the attempts (``fold`` is pure
and does not depend on the order attempts arrive in). The change goes through
``SubscriptionStore.change`` with the version that was read, so it never
overwrites a change made in the meantime, and is announced as a
``subscription.disabled`` event in the tenant's own ``hookline.events``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from hookline.api.errors import SubscriptionNotFound, VersionConflict
from hookline.api.http import present
from hookline.api.store import SubscriptionStore
from hookline.core import db
from hookline.core.messages import Attempt, Event, SubscriptionRecord
from hookline.core.subscriptions import ACTIVE, DISABLED_GONE, DISABLED_TOO_MANY_ERRORS

log = logging.getLogger(__name__)

DISABLED_EVENT = "subscription.disabled"


@dataclass(frozen=True)
class Health:
    """``failing_since``: the first failure after the last success, None when the last
    thing that happened was a success (or nothing)."""

    failing_since: float | None = None
    last_failure_at: float | None = None
    last_success_at: float | None = None


def fold(h: Health, at: float, success: bool) -> Health:
    """One attempt into a subscription's health, wherever it falls in time."""
    if success:
        last_success = at if h.last_success_at is None else max(h.last_success_at, at)
        failing = h.failing_since
        if failing is not None and failing <= last_success:
            # Only the latest failure is kept; if it came after this success, the clock
            # restarts from it (a little later than the truth, never earlier).
            later = h.last_failure_at is not None and h.last_failure_at > last_success
            failing = h.last_failure_at if later else None
        return Health(failing, h.last_failure_at, last_success)
    last_failure = at if h.last_failure_at is None else max(h.last_failure_at, at)
    failing = h.failing_since
    if h.last_success_at is None or at > h.last_success_at:
        failing = at if failing is None else min(failing, at)
    return Health(failing, last_failure, h.last_success_at)


def failing_for(h: Health, changed_at: float) -> float:
    """Seconds the subscription has failed without a success since it last changed."""
    if h.failing_since is None or h.last_failure_at is None:
        return 0.0
    return max(h.last_failure_at - max(h.failing_since, changed_at), 0.0)


@dataclass(frozen=True)
class Candidate:
    subscription_id: int
    tenant: int
    health: Health
    gone_at: float | None = None


def decide(c: Candidate, sub: SubscriptionRecord, after_s: float) -> str | None:
    """The status to give ``sub``, or None to leave it as it is."""
    if sub.status != ACTIVE:
        return None
    if c.gone_at is not None and c.gone_at >= sub.updated_at:
        return DISABLED_GONE
    if failing_for(c.health, sub.updated_at) >= after_s:
        return DISABLED_TOO_MANY_ERRORS
    return None


def _ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


_HEALTH_COLUMNS = "subscription_id, tenant_id, failing_since, last_failure_at, last_success_at"
_SAVE_HEALTH = f"""
INSERT INTO subscription_health ({_HEALTH_COLUMNS}) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (subscription_id) DO UPDATE SET failing_since = EXCLUDED.failing_since,
    last_failure_at = EXCLUDED.last_failure_at, last_success_at = EXCLUDED.last_success_at
"""


async def track(
    conn: db.Connection, attempts: Sequence[Attempt], after_s: float
) -> list[Candidate]:
    """Fold a batch of attempts into ``subscription_health``; returns the subscriptions
    that may have to be disabled (``decide`` has the last word)."""
    ids = sorted({a.subscription_id for a in attempts})
    rows = await conn.fetch(
        f"SELECT {_HEALTH_COLUMNS} FROM subscription_health"
        " WHERE subscription_id = ANY($1::bigint[]) ORDER BY subscription_id FOR UPDATE",
        ids,
    )
    health = {
        r["subscription_id"]: Health(
            _epoch(r["failing_since"]), _epoch(r["last_failure_at"]), _epoch(r["last_success_at"])
        )
        for r in rows
    }
    tenants: dict[int, int] = {}
    gone: dict[int, float] = {}
    for a in attempts:
        tenants[a.subscription_id] = a.tenant
        h = health.get(a.subscription_id, Health())
        health[a.subscription_id] = fold(h, a.at, a.outcome == "SUCCESS")
        if a.outcome == "GONE":
            gone[a.subscription_id] = max(gone.get(a.subscription_id, a.at), a.at)
    await conn.executemany(
        _SAVE_HEALTH,
        [
            (i, tenants[i], _ts(h.failing_since), _ts(h.last_failure_at), _ts(h.last_success_at))
            for i, h in health.items()
        ],
    )
    return [
        Candidate(i, tenants[i], health[i], gone.get(i))
        for i in ids
        if i in gone or failing_for(health[i], 0.0) >= after_s
    ]


class Disabler:
    def __init__(
        self,
        store: SubscriptionStore,
        producer: AIOKafkaProducer,
        events_topic: str,
        base_url: str,
        after_s: float,
    ) -> None:
        self._store = store
        self._producer = producer
        self._events_topic = events_topic
        self._base_url = base_url
        self._after_s = after_s

    async def consider(self, c: Candidate) -> SubscriptionRecord | None:
        """Disable the subscription if ``decide`` says so; returns the changed record."""
        try:
            sub = await self._store.get(c.tenant, c.subscription_id)
            status = decide(c, sub, self._after_s)
            if status is None:
                return None
            record = await self._store.change(
                c.tenant, c.subscription_id, if_version=sub.version, status=status
            )
        except (SubscriptionNotFound, VersionConflict):
            return None  # deleted, or changed since it was read: the next failure decides
        log.warning(
            "subscription %s disabled: %s",
            record.id,
            record.status,
            extra={"ctx": {"subscription_id": record.id, "tenant": record.tenant}},
        )
        await self.announce(record)
        return record

    async def announce(self, record: SubscriptionRecord) -> None:
        """``subscription.disabled`` into the tenant's events, the subscription as the API
        shows it (secrets masked). The id is derived from the version, so announcing one
        change twice (after a crash) is one event to the router."""
        event = Event(
            event_id=f"{DISABLED_EVENT}:{record.id}:{record.version}",
            tenant=record.tenant,
            event=DISABLED_EVENT,
            id=record.id,
            occurred_at=time.time(),
            value=present.subscription(record, self._base_url),
            version=record.version,
        )
        await self._producer.send_and_wait(self._events_topic, event.encode(), key=event.key())
