"""The quarantine's projection: ``<prefix>.quarantine`` into the ``quarantine`` table
(one row per service and source record).

The quarantine's own projector does not quarantine (that would feed itself): a
record of the quarantine topic it cannot read is logged and skipped, and stays on
the topic.
"""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime
from typing import Any

import orjson

from hookline.api.projection.topic_projector import Record
from hookline.core import db
from hookline.core.messages import Quarantined

log = logging.getLogger(__name__)

_INSERT = """
INSERT INTO quarantine (service, reason, topic, partition, "offset", tenant, quarantined_at,
                        key, value, headers, truncated)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11)
ON CONFLICT (service, topic, partition, "offset") DO NOTHING
"""


def _text(value: str) -> str:
    return value.replace("\x00", "\ufffd")


def row_of(q: Quarantined) -> tuple[Any, ...]:
    """Pure: the table row of one quarantined record (raises ValueError on bad base64)."""
    headers = [[_text(name), raw] for name, raw in q.headers]
    for _, raw in headers:
        base64.b64decode(raw, validate=True)
    return (
        _text(q.service),
        _text(q.reason),
        _text(q.topic),
        q.partition,
        q.offset,
        None if q.tenant is None else _text(q.tenant),
        datetime.fromtimestamp(q.at, UTC),
        _unb64(q.key_b64),
        _unb64(q.value_b64),
        orjson.dumps(headers).decode(),
        q.truncated,
    )


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text, validate=True)


async def project(conn: db.Connection, records: list[Record]) -> None:
    """Applies one batch of the quarantine topic (a ``TopicProjector``'s ``apply``)."""
    rows = []
    for rec in records:
        try:
            rows.append(row_of(Quarantined.decode(rec.value)))
        except (ValueError, OverflowError, OSError) as exc:  # a bad time is OverflowError
            log.error("skipping an unreadable quarantine record at offset %s: %s", rec.offset, exc)
    if rows:
        await conn.executemany(_INSERT, rows)
