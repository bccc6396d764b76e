"""Tests for the pure parts of replays (hookline.api.http.replay, .replay_job): the
``since`` a client sends, and which deliveries a chunk of events makes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from hookline.api.http.errors import Unprocessable
from hookline.api.http.replay import EPOCH, parse_since, progress_of
from hookline.api.jobs.replay_job import plan_chunk
from hookline.core.batches import objects_of
from hookline.core.messages import Event, SubscriptionRecord
from hookline.core.routing import BATCH, delivery_id
from support import factories

NOW = 1_800_000_000.0


def sub(**overrides: Any) -> SubscriptionRecord:
    fields: dict[str, Any] = {
        "id": 9,
        "tenant": 4,
        "version": 0,
        "events": ["product.update"],
        "target_url": "https://example.com/",
        "created_at": 0.0,
        "updated_at": 0.0,
        "fields": "id",
    }
    fields.update(overrides)
    return factories.subscription(**fields)


def raw(n: int, *, tenant: int = 4, event: str = "product.update", **extra: Any) -> bytes:
    return Event(
        f"evt-{n}", tenant, event, extra.pop("id", n), NOW, {"id": n, "x": 1}, **extra
    ).encode()


def test_since_is_an_iso_time_in_the_past() -> None:
    assert parse_since({"since": "2026-11-25T10:00:00Z"}, NOW) == datetime(
        2026, 11, 25, 10, tzinfo=UTC
    )
    assert parse_since({"since": "2026-11-25T11:00:00+01:00"}, NOW).hour == 10
    assert parse_since({"since": "2026-11-25T10:00:00"}, NOW).tzinfo == UTC  # naive: UTC
    for bad in ({}, {"since": 5}, {"since": "soon"}, ["since"], {"since": "2099-01-01T00:00:00Z"}):
        with pytest.raises(Unprocessable) as caught:
            parse_since(bad, NOW)
        assert caught.value.details[0]["field"] == "since"


def test_a_since_before_1970_replays_from_the_first_event() -> None:
    for early in (
        "0001-01-01",
        "1969-12-31T23:59:59Z",
        "0001-01-01T00:00+14:00",
        "0001-01-01T00:00-12:00",
    ):
        assert parse_since({"since": early}, NOW) == EPOCH


def row(status: str = "RUNNING", **offsets: dict[str, int] | None) -> Any:
    """A ``replays`` row as asyncpg gives it: jsonb as text, NULL as None."""
    found = {k: None if v is None else orjson.dumps(v).decode() for k, v in offsets.items()}
    return {"status": status, **found}


def test_progress_is_the_share_of_the_range_read_not_a_count() -> None:
    starts, ends = {"0": 10, "1": 100}, {"0": 20, "1": 130}  # 40 events of every tenant
    assert progress_of(row(starts=starts, ends=ends, positions=starts)) == 0.0
    half = {"0": 20, "1": 110}
    assert progress_of(row(starts=starts, ends=ends, positions=half)) == 0.5
    assert progress_of(row(starts=None, ends=None, positions=None)) == 0.0
    assert progress_of(row("DONE", starts=starts, ends=ends, positions=half)) == 1.0


def test_a_chunk_makes_deliveries_of_the_tenants_matching_events_only() -> None:
    records = [
        (10, raw(1)),
        (11, raw(2, tenant=5)),  # another tenant
        (12, raw(3, event="product.create")),  # another type
        (13, b"not an event"),
        (14, None),
    ]
    plan = plan_chunk(records, sub(), "rpl_1", {}, NOW)
    # the tenant's events only: how many another tenant published is not theirs to see
    assert plan.processed == 2 and plan.replayed == 1
    (one,) = plan.deliveries
    assert one.payload == {"id": 1}  # fields applied
    assert one.delivery_id == delivery_id("evt-1", 9, "rpl_1") != delivery_id("evt-1", 9)
    assert (one.ordering_key, one.order) == ("replay:rpl_1:product:1", 10)


def test_a_version_published_late_is_skipped_as_the_router_does() -> None:
    newest: dict[str, int] = {}
    first = plan_chunk([(1, raw(1, id=7, version=3))], sub(), "r", newest, NOW)
    late = plan_chunk([(2, raw(2, id=7, version=2))], sub(), "r", newest, NOW)
    assert first.replayed == 1 and late.replayed == 0 and late.processed == 1


def test_a_batch_subscription_gets_batches() -> None:
    records = [(n, raw(n)) for n in range(60)]
    plan = plan_chunk(records, sub(format=BATCH), "rpl_2", {}, NOW)
    assert plan.replayed == 60
    assert [len(objects_of(d)) for d in plan.deliveries] == [50, 10]
    assert all(d.format == BATCH for d in plan.deliveries)
