"""Set a record aside on ``<prefix>.quarantine``, with why, and move on.

``send_to_quarantine`` is what every consumer calls for a record that
``failure.classify`` calls poison: it writes a ``Quarantined`` message (the
original key, value and headers in base64, the source topic, partition and
offset, the service and the reason), waits for the broker's acknowledgement
(the producers are ``acks=all``) and only then lets the caller commit past the
record. It logs one line with the ids (never the value) and counts
``hookline_quarantined_total{service}``. The API projects the topic into
PostgreSQL for ``GET /v2/admin/quarantine`` and re-drives from there.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Awaitable, Iterable
from typing import Any, Protocol

import orjson

from hookline.core import metrics, topics
from hookline.core.config import Settings
from hookline.core.messages import Quarantined
from hookline.core.service import redact

log = logging.getLogger(__name__)

# Below the quarantine topic's max.message.bytes once base64 and the envelope are
# added, and below a producer's default max_request_size (1 MiB): the key, the headers
# and the value of a record share this budget, in that order, and what does not fit is
# cut, so that quarantining a record cannot itself fail for its size.
MAX_KEPT_BYTES = 700 * 1024
MAX_HEADER_NAME_CHARS = 256
ESCAPED = 6  # the most bytes JSON spends on one byte of a name (``\u00XX``)
MAX_TENANT_CHARS = 64


class Producer(Protocol):
    """What is needed of a producer: aiokafka's ``send_and_wait`` (the router adapts
    Faust's)."""

    def send_and_wait(
        self, topic: str, value: bytes | None = None, key: bytes | None = None
    ) -> Awaitable[Any]: ...


Headers = Iterable[tuple[str, bytes | None]]


async def send_to_quarantine(
    producer: Producer,
    settings: Settings,
    *,
    service: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    reason: str,
    tenant: str | None = None,
    headers: Headers = (),
) -> None:
    """Quarantine one record; returns once the broker has acknowledged it."""
    message = quarantined(
        service=service,
        topic=topic,
        partition=partition,
        offset=offset,
        key=key,
        value=value,
        reason=reason,
        tenant=tenant,
        headers=headers,
    )
    await producer.send_and_wait(topics.quarantine(settings), message.encode(), message.key())
    metrics.quarantined(service)
    log.warning(
        "quarantined a record of %s",
        topic,
        extra={
            "ctx": {
                "service": service,
                "topic": topic,
                "partition": partition,
                "offset": offset,
                "tenant": message.tenant,
                "reason": message.reason,
            }
        },
    )


def quarantined(
    *,
    service: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    reason: str,
    tenant: str | None = None,
    headers: Headers = (),
    at: float | None = None,
) -> Quarantined:
    """Pure (but for the clock when ``at`` is not given): the message for one record.
    Its key, headers and value together keep at most ``MAX_KEPT_BYTES``."""
    budget = MAX_KEPT_BYTES
    kept_key, budget = _within(key, budget)
    kept_headers: list[list[str]] = []
    cut = kept_key != key
    for name, raw in headers:
        short = name[:MAX_HEADER_NAME_CHARS]
        cost = len(short.encode("utf-8", "replace")) * ESCAPED + len(raw or b"")
        if cost > budget:
            cut = True
            continue
        budget -= cost
        kept_headers.append([short, _b64(raw) or ""])
        cut = cut or short != name
    kept_value, budget = _within(value, budget)
    return Quarantined(
        service=service,
        # The reason may quote the record (an exception's message): no secret in it.
        reason=redact(reason)[:2000],
        topic=topic,
        partition=partition,
        offset=offset,
        at=time.time() if at is None else at,
        key_b64=_b64(kept_key),
        value_b64=_b64(kept_value),
        tenant=(tenant if tenant is not None else guess_tenant(value)),
        headers=kept_headers,
        truncated=cut or kept_value != value,
    )


def _within(raw: bytes | None, budget: int) -> tuple[bytes | None, int]:
    """Pure: ``raw`` cut to ``budget`` bytes, and the budget left."""
    if raw is None:
        return None, budget
    kept = raw[:budget]
    return kept, budget - len(kept)


def guess_tenant(value: bytes | None) -> str | None:
    """Pure, best effort: the ``tenant`` of a JSON object value, for filtering only."""
    if not value:
        return None
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    tenant = data.get("tenant") if isinstance(data, dict) else None
    if isinstance(tenant, bool) or not isinstance(tenant, int | str):
        return None
    return str(tenant)[:MAX_TENANT_CHARS]


def original(message: Quarantined) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
    """Pure: the key, value and headers that were read, as bytes (for a re-drive)."""
    headers = [(name, base64.b64decode(raw)) for name, raw in message.headers]
    return _unb64(message.key_b64), _unb64(message.value_b64), headers


def _b64(raw: bytes | None) -> str | None:
    return None if raw is None else base64.b64encode(raw).decode("ascii")


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


class Source(Protocol):
    """A record as a consumer read it (aiokafka's ``ConsumerRecord`` is one)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


async def quarantine_record(
    producer: Producer,
    settings: Settings,
    *,
    service: str,
    record: Source,
    reason: str,
    tenant: str | None = None,
) -> None:
    """``send_to_quarantine`` for a record as read, its headers kept when it has any."""
    await send_to_quarantine(
        producer,
        settings,
        service=service,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        reason=reason,
        tenant=tenant,
        headers=getattr(record, "headers", None) or (),
    )
