"""Tests for version order: the router's stamps (hookline.core.routing) and the
deliverer's gate (hookline.deliverer.ordering), whose PostgreSQL part the
end-to-end tests (tests/e2e/test_router_order.py) cover."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from hookline.core.batches import build_batches, objects_of
from hookline.core.messages import Delivery, Event
from hookline.core.routing import (
    BATCH,
    dedup_key,
    delivery_id,
    is_stale,
    ordering_key,
    plan_deliveries,
)
from hookline.deliverer.ordering import KeyedLocks, admitted, positions_of
from support import factories

NOW = 1_700_000_000.0


def event(**overrides: object) -> Event:
    fields: dict[str, object] = {
        "tenant": 4,
        "event": "product.update",
        "id": 42,
        "occurred_at": NOW,
        "value": {"id": 42},
    }
    fields.update(overrides)
    return factories.event(**fields)


def single(order: int | None, key: str | None = "product:42") -> Delivery:
    return factories.delivery(
        subscription_id=9,
        tenant=4,
        event="product.update",
        object_id=42,
        payload={"id": 42},
        created_at=NOW,
        ordering_key=key,
        order=order,
    )


def test_the_ordering_key_is_the_object_and_replays_have_their_own() -> None:
    assert ordering_key(event()) == "product:42"
    assert ordering_key(event(id="A-7", event="customer.created")) == "customer:A-7"
    assert ordering_key(event(id=None)) is None
    assert ordering_key(event(), replay_id="rpl_1") == "replay:rpl_1:product:42"


def test_delivery_ids_are_stable_and_a_replay_gets_new_ones() -> None:
    assert delivery_id("evt-1", 9) == delivery_id("evt-1", 9)
    assert delivery_id("evt-1", 9) != delivery_id("evt-1", 10)
    assert delivery_id("evt-1", 9, "rpl_1") not in {delivery_id("evt-1", 9), delivery_id("e", 9)}


def test_dedup_keys_are_per_tenant() -> None:
    assert dedup_key(event()) != dedup_key(event(tenant=5))


def test_an_older_version_is_stale_and_equal_or_unversioned_is_not() -> None:
    assert is_stale(event(version=2), 3)
    assert not is_stale(event(version=3), 3)
    assert not is_stale(event(version=4), 3)
    assert not is_stale(event(version=None), 3)
    assert not is_stale(event(version=1), None)
    assert not is_stale(event(version=1, id=None), 3)


def test_a_single_delivery_is_dropped_only_below_the_newest_tried() -> None:
    assert positions_of(single(10)) == {"product:42": 10}
    assert admitted(single(10), {}) == single(10)
    assert admitted(single(10), {"product:42": 10}) == single(10)  # the same one again
    assert admitted(single(10), {"product:42": 11}) is None
    assert positions_of(single(None)) == {} and positions_of(single(5, key=None)) == {}


def test_a_batch_leaves_out_only_the_superseded_objects() -> None:
    items = [
        replace(
            single(n), ordering_key=f"customer:{n}", object_id=n, payload={"id": n}, format=BATCH
        )
        for n in (1, 2, 3)
    ]
    (batch,) = build_batches(items, NOW)
    assert positions_of(batch) == {"customer:1": 1, "customer:2": 2, "customer:3": 3}
    assert admitted(batch, {"customer:1": 1}) is batch
    reduced = admitted(batch, {"customer:2": 5})
    assert reduced is not None and objects_of(reduced) == [{"id": 1}, {"id": 3}]
    assert [i["key"] for i in reduced.items or []] == ["customer:1", "customer:3"]
    assert admitted(batch, {"customer:1": 9, "customer:2": 9, "customer:3": 9}) is None


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(st.integers(0, 50), min_size=1, max_size=40))
def test_whatever_the_arrival_order_nothing_older_follows_something_newer(
    arrivals: list[int],
) -> None:
    """Deliveries of one object arriving in any order (retries, re-reads): what the gate
    lets through is never older than something it let through before."""
    newest: dict[str, int] = {}
    sent: list[int] = []
    for order in arrivals:
        delivery = single(order)
        for key, position in positions_of(delivery).items():  # what the store does
            newest[key] = max(position, newest.get(key, position))
        if admitted(delivery, newest) is not None:
            sent.append(order)
    assert sent == sorted(sent)
    assert sent[-1] == max(arrivals)


async def test_keyed_locks_serialize_one_key_and_let_others_run() -> None:
    locks = KeyedLocks()
    log: list[str] = []

    async def hold(name: str, keys: list[object], pause: float) -> None:
        async with locks.hold(keys):
            log.append(f"{name}+")
            await asyncio.sleep(pause)
            log.append(f"{name}-")

    await asyncio.gather(
        hold("a", [(9, "x")], 0.05),
        hold("b", [(9, "x")], 0.0),
        hold("c", [(9, "y")], 0.0),
    )
    assert log.index("a-") < log.index("b+")  # same key: one after the other
    assert log.index("c+") < log.index("a-")  # another key: at once
    assert len(locks) == 0  # nothing kept once nobody holds or waits


async def test_overlapping_key_sets_do_not_deadlock() -> None:
    locks = KeyedLocks()

    async def hold(keys: list[object]) -> None:
        async with locks.hold(keys):
            await asyncio.sleep(0.01)

    await asyncio.wait_for(
        asyncio.gather(
            *(hold(["a", "b"]) for _ in range(5)), *(hold(["b", "a"]) for _ in range(5))
        ),
        timeout=5,
    )
    assert len(locks) == 0


def test_a_bad_fields_expression_does_not_stop_routing() -> None:
    sub = factories.subscription(
        id=9,
        tenant=4,
        version=0,
        events=["product.update"],
        target_url="https://example.com/",
        created_at=0.0,
        updated_at=0.0,
        fields="id,(",
    )
    (one,) = plan_deliveries(event(value={"id": 42, "name": "n"}), [sub], NOW, order=3)
    assert one.payload == {"id": 42, "name": "n"}
    assert (one.ordering_key, one.order) == ("product:42", 3)
