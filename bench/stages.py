"""Where a delivery's latency went, read back from the topics after a run.

The router stamps each ``Delivery`` with ``created_at`` when it plans it; the
deliverer stamps each ``Attempt`` with ``at`` once the target answered. With the
producer's publish times that splits publish→receipt into *router* (publish →
planned) and *deliverer* (planned → answered). Read outside any consumer group,
so it changes nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from bench.stats import percentile
from hookline.core import kafka, topics
from hookline.core.config import Settings
from hookline.core.messages import Attempt, Delivery, MessageError

M = TypeVar("M", Delivery, Attempt)


async def read_all(settings: Settings, topic: str) -> list[bytes]:
    client = kafka.consumer(settings, group=None)
    await client.start()
    try:
        parts = await kafka.assign_all(client, topic)
        ends = await client.end_offsets(parts)
        await client.seek_to_beginning(*parts)
        out: list[bytes] = []
        while await kafka.lagging(client, ends):
            batches = await client.getmany(timeout_ms=500, max_records=10_000)
            out += [r.value for recs in batches.values() for r in recs if r.value is not None]
        return out
    finally:
        await client.stop()


def split(
    deliveries: list[bytes], attempts: list[bytes], published: dict[str, float]
) -> dict[str, Any]:
    """Pure: per stage, p50/p90/p99 in ms over the first attempt of each delivery.

    ``published`` maps event ids to publish times. A batch delivery counts once per
    event it carries.
    """
    planned: dict[str, tuple[list[float], float]] = {}  # delivery id -> (published, created)
    requeued = 0  # put back without an attempt: deferred by the deliverer (endpoint busy)
    for raw in deliveries:
        d = _decode(Delivery, raw)
        if d is None or d.attempt != 0:
            continue
        items = getattr(d, "items", None) or []  # batch deliveries (newer schema)
        ids = [str(i.get("eventId")) for i in items] or [d.event_id]
        times = [published[i] for i in ids if i in published]
        if not times:
            continue
        if d.delivery_id in planned:
            requeued += 1
        planned.setdefault(d.delivery_id, (times, d.created_at))
    router: list[float] = []
    deliverer: list[float] = []
    for raw in attempts:
        a = _decode(Attempt, raw)
        if a is not None and a.attempt == 1 and a.delivery_id in planned:
            times, created = planned.pop(a.delivery_id)
            router += [(created - pub) * 1000 for pub in times]
            deliverer += [(a.at - created) * 1000] * len(times)
    return {"router": _pcts(router), "deliverer": _pcts(deliverer), "requeued": requeued}


def _decode(kind: type[M], raw: bytes) -> M | None:
    try:
        return kind.decode(raw)
    except MessageError:
        return None


def _pcts(values: list[float]) -> dict[str, float]:
    values.sort()
    return {f"p{p}_ms": round(percentile(values, p), 1) for p in (50, 90, 99)}


async def stage_latencies(settings: Settings, published: dict[str, float]) -> dict[str, Any]:
    deliveries, attempts = await asyncio.gather(
        read_all(settings, topics.deliveries(settings)),
        read_all(settings, topics.attempts(settings)),
    )
    return split(deliveries, attempts, published)
