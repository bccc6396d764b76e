"""Dead letters' projection: ``hookline.dead-letters`` copied into PostgreSQL in batches.

The row keeps the delivery as it was on the topic (``message``), which is what a
redelivery (``hookline.api.http.deadletters``) puts back on ``hookline.deliveries``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hookline.api.projection.topic_projector import Record
from hookline.core import db
from hookline.core.messages import Delivery

_COLUMNS = (
    "subscription_id",
    "tenant_id",
    "delivery_id",
    "event",
    "event_id",
    "attempts",
    "last_error",
    "dead_at",
    "message",
)


def row_of(d: Delivery, raw: bytes, timestamp_ms: int) -> tuple[Any, ...]:
    error = None if d.last_error is None else d.last_error.replace("\x00", "\ufffd")
    dead_at = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    return (
        d.subscription_id,
        d.tenant,
        d.delivery_id,
        d.event,
        d.event_id,
        d.attempt,
        error,
        dead_at,
        raw,
    )


async def project(conn: db.Connection, records: list[Record]) -> None:
    """Applies one batch of ``hookline.dead-letters`` (a ``TopicProjector``'s ``apply``)."""
    # A record that cannot be decoded or copied raises: the projector quarantines it.
    rows = [row_of(Delivery.decode(rec.value), rec.value, rec.timestamp_ms) for rec in records]
    await conn.copy_records_to_table("dead_letters", records=rows, columns=_COLUMNS)
