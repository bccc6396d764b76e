"""hookline.router.route with fake senders: a batch's deliveries go out in fetch order and
are remembered only once acknowledged; what cannot be routed is quarantined and the rest
goes on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable, Mapping
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaConnectionError
from hypothesis import given, settings
from hypothesis import strategies as st

from hookline.core.messages import Delivery, Event, RoutedBatch, SubscriptionRecord
from hookline.core.subscriptions import SubscriptionIndex
from hookline.router.fence import CoveringFence
from hookline.router.recent import Recent
from hookline.router.route import Batcher, EventRouter, Fetched
from support import factories

TP = ("hookline.events", 0)


def _sub(sub_id: int, fmt: str = "default", tenant: int = 1) -> SubscriptionRecord:
    return factories.subscription(
        id=sub_id,
        tenant=tenant,
        events=["order.created"],
        target_url="https://example.test/hook",
        secret="whsec_x",
        created_at=1.0,
        updated_at=1.0,
        format=fmt,
    )


def _event(n: int, value: Any = None, tenant: int = 1) -> bytes:
    return factories.event(
        event_id=f"e{n}",
        tenant=tenant,
        event="order.created",
        id=n,
        occurred_at=1.0,
        value={"n": n} if value is None else value,
    ).encode()


def _deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = [value]
    return value


class Harness:
    def __init__(self, *subs: SubscriptionRecord) -> None:
        self.index = SubscriptionIndex()
        for sub in subs:
            self.index.apply(sub)
        self.sent: list[Delivery] = []
        self.items: list[bytes] = []
        self.quarantined: list[tuple[Fetched, str]] = []

        async def fence() -> None:
            return None

        async def positions() -> Mapping[Hashable, int]:
            return {}

        self.router = EventRouter(
            self.index,
            CoveringFence(fence, positions),
            Recent(60.0),
            send_delivery=self._send,
            send_item=self._send_item,
            tell=self._tell,
            quarantine=self._quarantine,
        )
        self.batcher = Batcher(self._send, self.router.counts, self._quarantine)

    async def _send(self, message: Delivery) -> Any:
        raw = message.encode()  # what the real sender does first: it may refuse
        self.sent.append(Delivery.decode(raw))
        return _done()

    async def _send_item(self, message: Delivery) -> Any:
        self.items.append(message.encode())
        return _done()

    async def _tell(self, message: RoutedBatch) -> Any:
        message.encode()
        return _done()

    async def _quarantine(self, fetched: Fetched, reason: str) -> None:
        self.quarantined.append((fetched, reason))

    async def route(self, *values: bytes | None) -> None:
        await self.router.route_batch([(v, TP, n, b"k") for n, v in enumerate(values)])


def _done() -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


async def test_an_event_with_a_null_type_is_quarantined_and_the_next_is_routed() -> None:
    h = Harness(_sub(1))
    poison = orjson.dumps({**orjson.loads(_event(0)), "event": None})
    await h.route(poison, _event(1))
    [(fetched, reason)] = h.quarantined
    assert fetched == (poison, TP, 0, b"k") and "event is null" in reason
    assert [d.event_id for d in h.sent] == ["e1"]


async def test_undecodable_bytes_are_quarantined() -> None:
    h = Harness(_sub(1))
    await h.route(b"\xff\x00 not json", _event(1), None)
    assert [q[0][2] for q in h.quarantined] == [0]
    assert [d.event_id for d in h.sent] == ["e1"]


async def test_a_full_batch_with_one_object_too_deep_goes_out_without_it() -> None:
    h = Harness(_sub(1, "batch"))
    values = [_event(n, _deep(252) if n == 7 else None) for n in range(50)]
    await h.route(*values)
    [(fetched, reason)] = h.quarantined
    assert fetched[2] == 7 and "Recursion limit" in reason
    [batch] = h.sent
    assert [m["eventId"] for m in batch.items or []] == [f"e{n}" for n in range(50) if n != 7]
    assert h.router.counts.events == 49


async def test_a_tail_item_too_deep_for_a_batch_is_quarantined_by_the_batcher() -> None:
    h = Harness(_sub(1, "batch"))
    await h.route(_event(0), _event(1, _deep(252)), _event(2))
    assert h.quarantined == [] and len(h.items) == 3  # each item alone encodes
    items: list[Fetched] = [
        (raw, ("t.router.batch-items", 0), n, b"1") for n, raw in enumerate(h.items)
    ]
    assert (
        await h.batcher.flush([*items, (b"not an item", ("t.router.batch-items", 0), 3, None)]) == 1
    )
    assert sorted(q[0][2] for q in h.quarantined) == [1, 3]
    [batch] = h.sent
    assert [m["eventId"] for m in batch.items or []] == ["e0", "e2"]


async def test_a_quarantined_event_is_not_remembered_so_a_redrive_routes_it() -> None:
    h = Harness(_sub(1, "batch"))
    values = [_event(n, _deep(252) if n == 0 else None) for n in range(50)]
    await h.route(*values)
    assert len(h.quarantined) == 1
    fixed = _event(0)  # the same event id, fixed
    await h.route(fixed)
    assert "e0" in {i["eventId"] for b in h.sent for i in b.items or []} | {
        Delivery.decode(raw).event_id for raw in h.items
    }


ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what JSON from orjson holds
hostile_json = st.recursive(
    st.none() | st.booleans() | ints | st.text(max_size=10) | st.just("\u0000"),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=15,
)
hostile_events = st.fixed_dictionaries(
    {
        "v": st.just(1),
        "event_id": st.text(max_size=8),
        "tenant": st.sampled_from([1, 2, -1, 2**63 - 1]) | hostile_json,
        "event": st.sampled_from(["order.created", "", ".", "order."]) | hostile_json,
        "id": ints | st.text(max_size=5) | st.none() | hostile_json,
        "occurred_at": st.floats(allow_nan=False) | hostile_json,
    },
    optional={"value": hostile_json, "version": ints | hostile_json},
)


@given(
    records=st.lists(
        st.binary(max_size=60) | hostile_events.map(orjson.dumps),
        max_size=8,
    )
)
@settings(max_examples=100, deadline=None)
def test_whatever_arrives_every_record_is_routed_or_quarantined(records: list[bytes]) -> None:
    async def run() -> None:
        h = Harness(_sub(1), _sub(2, "batch"), _sub(3, tenant=2))
        await h.route(*records, _event(123456789))  # a good event after them, always
        quarantined = {q[0][2] for q in h.quarantined}
        assert len(records) in {d.order for d in h.sent} | {
            Delivery.decode(i).order for i in h.items
        }
        for offset, raw in enumerate(records):
            try:
                Event.decode(raw)
            except ValueError:
                assert offset in quarantined

    asyncio.run(run())


# Batch routing with fake senders whose acknowledgements the test controls: what goes
# out for a batch, in what order, and that nothing is remembered before it is acked.


class Acked(Harness):
    """A harness whose sends stay unacknowledged until ``ack()`` (or ``fail()``)."""

    def __init__(self, *subs: SubscriptionRecord) -> None:
        super().__init__(*subs)
        self.pending: list[asyncio.Future[None]] = []
        self.told: list[RoutedBatch] = []

    async def _send(self, message: Delivery) -> Any:
        self.sent.append(Delivery.decode(message.encode()))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append(future)
        return future

    async def _tell(self, message: RoutedBatch) -> Any:
        self.told.append(message)
        return _done()

    def ack(self) -> None:
        for future in self.pending:
            if not future.done():
                future.set_result(None)

    def fail(self) -> None:
        self.pending[0].set_exception(KafkaConnectionError("the broker went away"))
        self.ack()

    def remembered(self, n: int) -> bool:
        return self.router.recent.seen(Event.decode(_event(n)), time.time())


async def _settle(task: asyncio.Task[None]) -> None:
    for _ in range(20):  # let the task run up to its first unacknowledged wait
        await asyncio.sleep(0)
    assert not task.done()


async def test_a_batch_goes_out_in_fetch_order_and_is_remembered_only_once_acked() -> None:
    h = Acked(_sub(1), _sub(2), _sub(3, tenant=2))
    task = asyncio.create_task(h.route(_event(1), _event(2), _event(3, tenant=2)))
    await _settle(task)
    assert [(d.event_id, d.subscription_id) for d in h.sent] == [
        ("e1", 1),
        ("e1", 2),
        ("e2", 1),
        ("e2", 2),
        ("e3", 3),
    ]
    assert not h.remembered(1) and h.told == []  # handed to the producer, not yet acked
    h.ack()
    await task
    assert h.remembered(1) and h.remembered(2)
    (told,) = h.told
    assert [r.event_id for r in told.routed] == ["e1", "e2", "e3"]


async def test_a_copy_in_the_same_batch_or_a_later_one_is_dropped_and_counted() -> None:
    h = Acked(_sub(1))
    task = asyncio.create_task(h.route(_event(1), _event(1)))
    await _settle(task)
    h.ack()
    await task
    task = asyncio.create_task(h.route(_event(1), _event(2)))
    await _settle(task)
    h.ack()
    await task
    assert [d.event_id for d in h.sent] == ["e1", "e2"]
    assert h.router.counts.duplicates == 2


async def test_a_failed_acknowledgement_raises_and_nothing_of_the_batch_is_remembered() -> None:
    h = Acked(_sub(1))
    task = asyncio.create_task(h.route(_event(1), _event(2)))
    await _settle(task)
    h.fail()
    with pytest.raises(KafkaConnectionError):
        await task
    assert not h.remembered(1) and not h.remembered(2) and h.told == []
    assert h.quarantined == []  # a broker failure is not the events' fault: read again
