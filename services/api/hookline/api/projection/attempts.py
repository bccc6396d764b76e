"""The attempt log's projection: ``hookline.attempts`` copied into PostgreSQL in batches.

Deliverers emit one ``Attempt`` per HTTP request; the projector applies them in
batches (``TopicProjector``, a ``COPY`` per batch, never a row per request on the
hot path) and folds them into each subscription's health for auto-disable. The
query is ``hookline.api.http.attempts``; the deletion past the retention is
``hookline.api.jobs.purge``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hookline.api.jobs.autodisable import Disabler, track
from hookline.api.projection.topic_projector import Record
from hookline.core import db
from hookline.core.messages import Attempt

_COLUMNS = (
    "subscription_id",
    "tenant_id",
    "delivery_id",
    "event",
    "event_id",
    "attempt",
    "at",
    "outcome",
    "reason",
    "status",
    "latency_ms",
    "response_body",
)


def row_of(a: Attempt) -> tuple[Any, ...]:
    body = None if a.response_body is None else a.response_body.replace("\x00", "\ufffd")
    return (
        a.subscription_id,
        a.tenant,
        a.delivery_id,
        a.event,
        a.event_id,
        a.attempt,
        datetime.fromtimestamp(a.at, UTC),
        a.outcome,
        a.reason.replace("\x00", "\ufffd"),
        a.status,
        a.latency_ms,
        body,
    )


class AttemptsProjection:
    """Applies one batch of ``hookline.attempts`` (a ``TopicProjector``'s ``apply``)."""

    def __init__(self, disabler: Disabler, auto_disable_after_s: float) -> None:
        self._disabler = disabler
        self._after_s = auto_disable_after_s

    async def apply(self, conn: db.Connection, records: list[Record]) -> None:
        # A record that cannot be decoded or copied raises: the projector quarantines it
        # and applies the others of the batch.
        attempts = [Attempt.decode(rec.value) for rec in records]
        await conn.copy_records_to_table(
            "attempts", records=[row_of(a) for a in attempts], columns=_COLUMNS
        )
        # Disabling happens before the batch commits: a crash in between repeats the
        # decision (a no-op once the subscription is disabled), it never loses it.
        for candidate in await track(conn, attempts, self._after_s):
            await self._disabler.consider(candidate)
