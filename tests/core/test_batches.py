"""Tests for hookline.core.batches: grouping batch items into Orderspace batches."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hookline.core.batches import (
    MAX_BATCH,
    build_batches,
    coalesce,
    objects_of,
    plural,
    split_full,
)
from hookline.core.messages import Delivery
from hookline.core.routing import BATCH, plan_deliveries
from support import factories

NOW = 1_700_000_000.0


def item(sub: int, n: int, order: int | None = None, event: str = "customer.created") -> Delivery:
    """Object ``n``'s batch item for subscription ``sub``; ``order`` defaults to ``n``."""
    at = n if order is None else order
    return factories.delivery(
        delivery_id=f"msg_{sub}_{n}_{at}",
        subscription_id=sub,
        event=event,
        event_id=f"evt-{n}-{at}",
        object_id=n,
        payload={"id": n, "order": at},
        created_at=NOW,
        ordering_key=f"customer:{n}",
        order=at,
        format=BATCH,
    )


def test_a_batch_has_the_orderspace_shape_and_the_items_positions() -> None:
    (batch,) = build_batches([item(7, 1), item(7, 2)], NOW)
    assert batch.format == BATCH and batch.subscription_id == 7
    assert batch.event == "customer.created" and batch.object_id is None
    assert batch.payload == {"customers": [{"id": 1, "order": 1}, {"id": 2, "order": 2}]}
    assert batch.items == [
        {"key": "customer:1", "order": 1, "eventId": "evt-1-1"},
        {"key": "customer:2", "order": 2, "eventId": "evt-2-2"},
    ]
    assert objects_of(batch) == [{"id": 1, "order": 1}, {"id": 2, "order": 2}]


def test_groups_are_per_subscription_and_event_and_cut_at_50() -> None:
    items = [item(1, n) for n in range(120)] + [item(2, 0), item(1, 500, event="customer.updated")]
    batches = build_batches(items, NOW)
    shape = [(b.subscription_id, b.event, len(objects_of(b))) for b in batches]
    assert shape == [
        (1, "customer.created", 50),
        (1, "customer.created", 50),
        (1, "customer.created", 20),
        (2, "customer.created", 1),
        (1, "customer.updated", 1),
    ]


def test_the_same_items_make_the_same_batch_id() -> None:
    first = build_batches([item(1, 1), item(1, 2)], NOW)[0]
    again = build_batches([item(1, 1), item(1, 2)], NOW + 5)[0]
    other = build_batches([item(1, 1), item(1, 3)], NOW)[0]
    assert first.delivery_id == again.delivery_id != other.delivery_id


def test_an_object_twice_is_kept_once_at_its_latest_version_and_place() -> None:
    kept = coalesce([item(1, 1, order=10), item(1, 2, order=11), item(1, 1, order=12)])
    assert [(d.object_id, d.order) for d in kept] == [(2, 11), (1, 12)]
    late = coalesce([item(1, 1, order=12), item(1, 1, order=10)])  # an older one after
    assert [d.order for d in late] == [12]


def test_plurals_come_from_the_catalog_rule() -> None:
    assert plural("customer.created") == "customers"
    assert plural("dispatch.created") == "dispatches"
    assert plural("inventory_level.updated") == "inventory_levels"


def test_the_router_plans_a_batch_item_with_fields_and_deletes_as_ids() -> None:
    sub = factories.subscription(
        id=3,
        version=0,
        events=["customer.created", "customer.deleted"],
        target_url="https://example.com/",
        created_at=0.0,
        updated_at=0.0,
        fields="id,name",
        format=BATCH,
    )
    created = factories.event(
        event_id="e1",
        event="customer.created",
        id=5,
        occurred_at=NOW,
        value={"id": 5, "name": "A", "x": 1},
    )
    (one,) = plan_deliveries(created, [sub], NOW, order=40)
    assert (one.format, one.payload, one.ordering_key, one.order) == (
        BATCH,
        {"id": 5, "name": "A"},
        "customer:5",
        40,
    )
    deleted = factories.event(
        event_id="e2", event="customer.deleted", id=5, occurred_at=NOW, value=None
    )
    (gone,) = plan_deliveries(deleted, [sub], NOW, order=41)
    assert gone.payload == {"id": 5, "deleted": True}


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 3), st.integers(0, 30), st.integers(0, 1000)),
        max_size=300,
    )
)
def test_every_object_is_in_exactly_one_batch_at_its_highest_order(
    raw: list[tuple[int, int, int]],
) -> None:
    items = [item(sub, n, order) for sub, n, order in raw]
    batches = build_batches(items, NOW)
    seen: dict[tuple[int, Any], int] = {}
    for batch in batches:
        assert 1 <= len(objects_of(batch)) <= MAX_BATCH
        assert batch.items is not None and len(batch.items) == len(objects_of(batch))
        for meta in batch.items:
            key = (batch.subscription_id, meta["key"])
            assert key not in seen  # once
            seen[key] = meta["order"]
    expected: dict[tuple[int, Any], int] = {}
    for sub, n, order in raw:
        key = (sub, f"customer:{n}")
        expected[key] = max(order, expected.get(key, order))
    assert seen == expected


@given(
    st.lists(
        st.tuples(st.integers(1, 3), st.sampled_from(["customer.created", "order.created"])),
        max_size=200,
    ),
    st.integers(1, 60),
)
def test_split_full_keeps_whole_batches_apart_from_each_groups_newest_tail(
    keys: list[tuple[int, str]], size: int
) -> None:
    items = [item(sub, n, event=event) for n, (sub, event) in enumerate(keys)]
    full, rest = split_full(items, size)
    assert sorted(d.delivery_id for d in full + rest) == sorted(d.delivery_id for d in items)
    for group in {(d.subscription_id, d.event) for d in items}:
        mine = [d for d in items if (d.subscription_id, d.event) == group]
        whole = [d for d in full if (d.subscription_id, d.event) == group]
        tail = [d for d in rest if (d.subscription_id, d.event) == group]
        assert len(whole) % size == 0 and len(tail) < size
        assert whole + tail == mine  # arrival order; the tail is the newest
