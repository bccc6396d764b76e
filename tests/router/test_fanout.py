"""The bulk lane, router side: the tenant's share (``FanoutBudget``), the ``FanOut``
record, and what ``EventRouter`` and ``FanOutRouter`` send where."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Hashable, Mapping
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookline.core.lanes import FanOut, FanoutBudget, FanOutError
from hookline.core.messages import Delivery, Event, SubscriptionRecord
from hookline.core.subscriptions import SubscriptionIndex
from hookline.router.fanout import BulkLane, FanOutRouter
from hookline.router.fence import CoveringFence
from hookline.router.recent import Recent
from hookline.router.route import EventRouter
from support import factories

# --- FanoutBudget ----------------------------------------------------------------------


def test_a_tenant_gets_its_burst_then_its_rate() -> None:
    budget = FanoutBudget(burst=200, rate=100)
    assert budget.take(1, 150, now=0.0)
    assert not budget.take(1, 100, now=0.0)  # 50 left: the event goes to the bulk lane
    assert budget.take(1, 50, now=0.0)  # a small event still fits
    assert budget.take(2, 200, now=0.0)  # another tenant has a share of its own
    assert not budget.take(1, 1, now=0.0)
    assert budget.take(1, 100, now=1.0)  # a second later: 100 back
    assert not budget.take(1, 201, now=100.0)  # never more than the burst at once


def test_the_clock_going_back_gives_nothing_back() -> None:
    budget = FanoutBudget(burst=10, rate=10)
    assert budget.take(1, 10, now=5.0)
    assert not budget.take(1, 1, now=4.0)


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 300), st.floats(0, 5)), max_size=60))
def test_the_main_lane_never_gets_more_than_burst_plus_rate_times_time(
    asks: list[tuple[int, int, float]],
) -> None:
    budget = FanoutBudget(burst=200, rate=100)
    now = 0.0
    admitted: dict[int, int] = {}
    for tenant, n, step in asks:
        now += step
        if budget.take(tenant, n, now):
            admitted[tenant] = admitted.get(tenant, 0) + n
    for total in admitted.values():
        assert total <= 200 + 100 * now + 1e-6


# --- FanOut ----------------------------------------------------------------------------

EVENT = factories.event(tenant=7, event="order.create", id=42, occurred_at=0.0, value={"id": 42})


def test_a_fan_out_round_trips_and_keeps_the_events_key() -> None:
    record = FanOut(EVENT.encode().decode(), 12, [1, 2, 3])
    assert FanOut.decode(record.encode()) == record
    assert record.key() == EVENT.key()


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"[]",
        b'{"v": 2, "event": "{}", "order": 1, "subscriptions": []}',
        b'{"v": 1, "event": null, "order": 1, "subscriptions": []}',
        b'{"v": 1, "event": "{}", "order": true, "subscriptions": []}',
        b'{"v": 1, "event": "{}", "order": 1, "subscriptions": ["1"]}',
        b'{"v": 1, "event": "{}", "order": 1, "subscriptions": null}',
    ],
)
def test_a_bad_fan_out_is_a_fan_out_error(raw: bytes) -> None:
    with pytest.raises(FanOutError):
        FanOut.decode(raw)


@given(st.binary(max_size=200))
def test_decoding_arbitrary_bytes_raises_only_fan_out_error(raw: bytes) -> None:
    try:
        record = FanOut.decode(raw)
    except FanOutError:
        return
    assert isinstance(record.event, str) and isinstance(record.order, int)


# --- EventRouter with a bulk lane, FanOutRouter -----------------------------------------


def _sub(sub_id: int, tenant: int) -> SubscriptionRecord:
    return factories.subscription(
        id=sub_id,
        tenant=tenant,
        events=["order.create"],
        target_url=f"https://example.com/{sub_id}",
        created_at=0.0,
        updated_at=0.0,
    )


class _Sent:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def __call__(self, message: Any) -> Any:
        self.messages.append(message)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class _Quarantined:
    def __init__(self) -> None:
        self.records: list[tuple[Any, str]] = []

    async def __call__(self, record: Any, reason: str) -> None:
        self.records.append((record, reason))


async def _nothing() -> None:
    return None


async def _positions() -> Mapping[Hashable, int]:
    return {}


def _router(index: SubscriptionIndex, burst: int) -> tuple[EventRouter, dict[str, _Sent]]:
    sent = {name: _Sent() for name in ("delivery", "item", "tell", "fan_out")}
    router = EventRouter(
        index,
        CoveringFence(_nothing, _positions),
        Recent(3600),
        send_delivery=sent["delivery"],
        send_item=sent["item"],
        tell=sent["tell"],
        quarantine=_Quarantined(),
        bulk=BulkLane(FanoutBudget(burst=burst, rate=0.001), sent["fan_out"]),
    )
    return router, sent


def _event(n: int, tenant: int) -> bytes:
    return factories.event(
        event_id=f"evt-{tenant}-{n}",
        tenant=tenant,
        event="order.create",
        id=n,
        occurred_at=0.0,
        value={"id": n},
    ).encode()


async def test_a_fan_out_over_the_share_is_handed_off_and_the_other_tenant_is_not() -> None:
    index = SubscriptionIndex()
    for sub_id in range(1, 12):  # a fan-out of 11: above SMALL_FAN_OUT
        index.apply(_sub(sub_id, tenant=1))
    index.apply(_sub(99, tenant=2))
    router, sent = _router(index, burst=15)
    batch = [(_event(n, 1), "p0", n, None) for n in range(3)] + [(_event(0, 2), "p0", 3, None)]
    await router.route_batch(batch)

    main = sent["delivery"].messages
    assert [d.subscription_id for d in main if d.tenant == 1] == list(range(1, 12))  # event 0
    assert [d.subscription_id for d in main if d.tenant == 2] == [99]
    handed = sent["fan_out"].messages
    assert [Event.decode(f.event.encode()).id for f in handed] == [1, 2]
    assert all(f.subscriptions == list(range(1, 12)) for f in handed)
    assert [f.order for f in handed] == [1, 2]
    assert router.counts.handed_off == 2 and router.counts.events == 4

    bulk, items = _Sent(), _Sent()
    parked = _Quarantined()
    fan_out = FanOutRouter(
        index, send_bulk=bulk, send_item=items, counts=router.counts, quarantine=parked
    )
    index.apply(dataclasses.replace(_sub(5, tenant=1), status="DISABLED", version=2))
    records = [(f.encode(), "p0", n, None) for n, f in enumerate(handed)]
    sent_count = await fan_out.route([*records, (None, "p0", 2, None), (b"junk", "p0", 3, None)])
    assert sent_count == 20  # 10 active subscriptions x 2 events
    assert [(record[2], reason[:20]) for record, reason in parked.records] == [
        (3, "FanOutError: FanOut:")
    ]  # the unreadable record is quarantined, with its offset and why
    deliveries: list[Delivery] = bulk.messages
    assert {d.order for d in deliveries} == {1, 2}
    assert 5 not in {d.subscription_id for d in deliveries}
    assert orjson.loads(deliveries[0].encode())["ordering_key"] == "order:1"


def test_an_event_to_a_handful_of_subscriptions_always_takes_the_main_lane() -> None:
    lane = BulkLane(FanoutBudget(burst=5, rate=0.001), _Sent())
    event = factories.event(event="order.create", occurred_at=0.0, value={})
    assert lane.fits(event, 5)
    assert lane.fits(event, 10)  # the share is used up, but 10 is a handful
    assert not lane.fits(event, 11)
