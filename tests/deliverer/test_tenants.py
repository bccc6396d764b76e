"""Tests for the deliverer's fairness pieces: ``TenantGate`` (a tenant's share of the
requests) and ``BulkReadAhead`` (the bulk lane's own read-ahead)."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition

from hookline.deliverer.lanes import BulkReadAhead
from hookline.deliverer.tenants import QUEUED_PER_TURN, TenantGate


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_tenant_has_at_most_its_limit_and_another_tenant_is_not_held() -> None:
    clock = Clock()
    gate = TenantGate(2, clock=clock, stuck_s=0.05)
    turns = [await gate.admit(1), await gate.admit(1)]
    assert all(t is not None for t in turns)
    waiting = asyncio.create_task(gate.admit(1))
    other = await gate.admit(2)  # at once: tenant 1's limit is its own
    assert other is not None
    await asyncio.sleep(0.12)  # several rounds; the clock says no time passed: not stuck
    assert not waiting.done()
    assert turns[0] is not None
    turns[0].answered()
    turns[0].release()
    third = await waiting
    assert third is not None and gate.in_flight(1) == 2
    for t in (turns[1], third, other):
        assert t is not None
        t.release()
    assert gate._tenants == {}  # nothing kept for idle tenants


async def test_a_tenant_whose_requests_are_not_answered_is_put_off() -> None:
    clock = Clock()
    gate = TenantGate(2, clock=clock, stuck_s=0.05)
    held = [await gate.admit(1) for _ in range(2)]
    waiter = asyncio.create_task(gate.admit(1))
    await asyncio.sleep(0.01)
    clock.now = 0.05  # no answer for stuck_s with every turn taken
    assert await waiter is None
    assert await gate.admit(1) is None  # a new one is put off at once
    assert await gate.admit(2) is not None  # another tenant is not
    first = held[0]
    assert first is not None
    first.answered()  # it answered after all: no longer stuck
    first.release()
    assert await gate.admit(1) is not None


async def test_a_tenants_queue_is_bounded() -> None:
    gate = TenantGate(1, clock=Clock(), stuck_s=10)
    held = await gate.admit(1)
    queued = [asyncio.create_task(gate.admit(1)) for _ in range(QUEUED_PER_TURN)]
    await asyncio.sleep(0.01)
    assert await gate.admit(1) is None  # the queue is full: put off, not read-ahead held
    assert held is not None
    held.release()
    for task in queued:
        turn = await task
        assert turn is not None
        turn.release()


class FakeConsumer:
    def __init__(self, assigned: set[TopicPartition]) -> None:
        self.assigned = assigned
        self.paused_set: set[TopicPartition] = set()
        self.seeks: list[tuple[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def paused(self) -> set[TopicPartition]:
        return set(self.paused_set)

    def pause(self, *partitions: TopicPartition) -> None:
        self.paused_set |= set(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self.paused_set -= set(partitions)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append((partition, offset))


def test_the_bulk_lane_pauses_when_its_budget_is_used_and_resumes_at_half() -> None:
    main, bulk0, bulk1 = (
        TopicPartition("hl.deliveries", 0),
        TopicPartition("hl.deliveries.bulk", 0),
        TopicPartition("hl.deliveries.bulk", 1),
    )
    consumer = FakeConsumer({main, bulk0, bulk1})
    lane = BulkReadAhead("hl.deliveries.bulk", limit=4)
    assert all(lane.take(consumer, bulk0, n) for n in range(4))
    assert not lane.take(consumer, bulk0, 4)  # full: read offset 4 again later
    assert consumer.seeks == [(bulk0, 4)] and consumer.paused_set == {bulk0, bulk1}
    assert lane.take(consumer, main, 0)  # the main lane goes on
    lane.finished(consumer, main)  # a main-lane delivery changes nothing here
    lane.finished(consumer, bulk0)
    assert consumer.paused_set == {bulk0, bulk1}  # 3 of 4 still out: stays paused
    lane.finished(consumer, bulk0)
    assert consumer.paused_set == set()  # half free: read the bulk lane again
    assert lane.take(consumer, bulk1, 0)


def test_the_main_lane_comes_first() -> None:
    main, bulk = TopicPartition("hl.deliveries", 0), TopicPartition("hl.deliveries.bulk", 0)
    consumer = FakeConsumer({main, bulk})
    lane = BulkReadAhead("hl.deliveries.bulk", limit=16)
    assert all(lane.take(consumer, main, n) for n in range(12))  # the main lane is busy
    assert lane.budget() == 4
    assert all(lane.take(consumer, bulk, n) for n in range(4))
    assert not lane.take(consumer, bulk, 4)  # the bulk lane waits for the main lane
    assert all(lane.take(consumer, main, n) for n in range(12, 40))
    assert lane.budget() == 2  # never below limit // 8: the bulk lane always moves
    for _ in range(40):
        lane.finished(consumer, main)
    assert lane.budget() == 16
    lane.finished(consumer, bulk)
    assert consumer.paused_set == set()  # quiet main lane: the bulk lane reads again
