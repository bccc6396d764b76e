"""Where a delivery's latency went, read back from the topics after a run.

Every stage stamps what it hands on, so a run can be traced without any extra
instrumentation: the API stamps each ``Event`` with ``occurred_at`` when it takes
the request; the router stamps each ``Delivery`` with ``created_at`` when it plans
it; the receiver notes when each request (``webhook-id`` = the delivery id) arrived;
the deliverer stamps each ``Attempt`` with ``at`` once the target answered. With the
publish times (and, through the API, the moment each 202 came back) that splits
publish → receipt into consecutive stages:

| stage | from | to |
| --- | --- | --- |
| ``api`` | the request sent | the API's stamp on the event (through the API only) |
| ``router`` | that stamp (or the publish, straight into Kafka) | the router planned the delivery |
| ``deliverer`` | planned | the request arrived at the receiver |
| ``answered`` | planned | the attempt recorded (the target's answer read) |
| ``accepted`` | the request sent | its 202 read (through the API only) |

Read outside any consumer group, so it changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bench.stats import percentile
from hookline.core import kafka, topics
from hookline.core.config import Settings
from hookline.core.messages import Attempt, Delivery, Event, MessageError

M = TypeVar("M", Delivery, Attempt, Event)


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


@dataclass
class Trace:
    """What the run knows of each event besides the topics: event id -> time."""

    published: Mapping[str, float]
    accepted: Mapping[str, float] = field(default_factory=dict)  # the 202 read
    receipts: Mapping[str, float] = field(default_factory=dict)  # webhook-id -> first arrival


def split(
    deliveries: list[bytes],
    attempts: list[bytes],
    trace: Trace,
    events: Sequence[bytes] = (),
) -> dict[str, Any]:
    """Pure: per stage, p50/p90/p99 in ms over the first attempt of each delivery.

    A batch delivery counts once per event it carries. ``events`` (the events topic)
    gives the API's stamp; without it the router stage starts at the publish.
    """
    stamped = _stamps(events, trace.published)
    planned, requeued = _planned(deliveries, trace.published)
    stages: dict[str, list[float]] = {
        k: [] for k in ("api", "router", "deliverer", "answered", "accepted")
    }
    for event_id, at in trace.accepted.items():
        stages["accepted"].append((at - trace.published[event_id]) * 1000)
    for event_id, at in stamped.items():
        stages["api"].append((at - trace.published[event_id]) * 1000)
    for delivery_id, (ids, created) in planned.items():
        stages["router"] += [(created - stamped.get(i, trace.published[i])) * 1000 for i in ids]
        if delivery_id in trace.receipts:
            stages["deliverer"] += [(trace.receipts[delivery_id] - created) * 1000] * len(ids)
    for raw in attempts:
        a = _decode(Attempt, raw)
        if a is not None and a.attempt == 1 and a.delivery_id in planned:
            ids, created = planned.pop(a.delivery_id)
            stages["answered"] += [(a.at - created) * 1000] * len(ids)
    found: dict[str, Any] = {k: _pcts(v) for k, v in stages.items() if v}
    found["requeued"] = requeued
    return found


def _planned(
    deliveries: list[bytes], published: Mapping[str, float]
) -> tuple[dict[str, tuple[list[str], float]], int]:
    """Each first delivery's event ids and ``created_at``, and how many were put back
    without an attempt (deferred by the deliverer: endpoint busy)."""
    planned: dict[str, tuple[list[str], float]] = {}
    requeued = 0
    for raw in deliveries:
        d = _decode(Delivery, raw)
        if d is None or d.attempt != 0:
            continue
        items = getattr(d, "items", None) or []  # batch deliveries (newer schema)
        ids = [str(i.get("eventId")) for i in items] or [d.event_id]
        ids = [i for i in ids if i in published]
        if not ids:
            continue
        if d.delivery_id in planned:
            requeued += 1
        planned.setdefault(d.delivery_id, (ids, d.created_at))
    return planned, requeued


def _stamps(events: Sequence[bytes], published: Mapping[str, float]) -> dict[str, float]:
    stamped: dict[str, float] = {}
    for raw in events:
        e = _decode(Event, raw)
        if e is not None and e.event_id in published:
            stamped.setdefault(e.event_id, e.occurred_at)
    return stamped


def _decode(kind: type[M], raw: bytes) -> M | None:
    try:
        return kind.decode(raw)
    except MessageError:
        return None


def _pcts(values: list[float]) -> dict[str, float]:
    values.sort()
    return {f"p{p}_ms": round(percentile(values, p), 1) for p in (50, 90, 99)}


async def stage_latencies(settings: Settings, trace: Trace, *, api: bool) -> dict[str, Any]:
    names = [topics.deliveries(settings), topics.attempts(settings)]
    if api:  # straight into Kafka, the event's stamp is the bench's own
        names.append(topics.events(settings))
    read = await asyncio.gather(*(read_all(settings, name) for name in names))
    return split(read[0], read[1], trace, read[2] if api else ())
