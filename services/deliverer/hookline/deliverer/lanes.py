"""The bulk lane's read-ahead, deliverer side (``hookline.core.lanes``).

One consumer reads both lanes, and the main lane comes first. Deliveries of
``hookline.deliveries.bulk`` may be started only within a budget: ``limit`` while the
main lane is quiet, less by every main-lane delivery under way, never below
``limit // FLOOR_DIVISOR`` (so the bulk lane always moves). When the budget is used
up, the record that did not fit is read again later: the consumer seeks its partition
back to it and pauses the bulk lane's partitions, and resumes them once half the
budget is free again (not at each finished delivery: every resume costs a fetch that
is mostly thrown away). So the bulk lane's backlog never takes more than ``limit`` of
the deliverer's read-ahead, a main-lane delivery read in the same fetch is started at
once, and when both lanes are busy the main lane gets most of the deliverer.
Backpressure by pausing, never by waiting inside the fetch loop (the consumer keeps
polling, so the group never sees it as dead).
"""

from __future__ import annotations

from typing import Protocol

from aiokafka import TopicPartition

FLOOR_DIVISOR = 8


class _Consumer(Protocol):
    def assignment(self) -> set[TopicPartition]: ...
    def paused(self) -> set[TopicPartition]: ...
    def pause(self, *partitions: TopicPartition) -> None: ...
    def resume(self, *partitions: TopicPartition) -> None: ...
    def seek(self, partition: TopicPartition, offset: int) -> None: ...


class BulkReadAhead:
    def __init__(self, topic: str, limit: int) -> None:
        self.topic = topic
        self.limit = limit
        self.started = 0  # bulk deliveries started and not finished
        self.main = 0  # main-lane deliveries started and not finished

    def budget(self) -> int:
        """How many bulk deliveries may be under way now."""
        return max(self.limit // FLOOR_DIVISOR, 1, self.limit - self.main)

    def take(self, consumer: _Consumer, tp: TopicPartition, offset: int) -> bool:
        """True: start this record. False: the bulk lane is full; the record is read
        again once bulk deliveries finish (skip the rest of this partition's batch)."""
        if tp.topic != self.topic:
            self.main += 1
            return True
        if self.started < self.budget():
            self.started += 1
            return True
        consumer.seek(tp, offset)
        mine = [p for p in consumer.assignment() if p.topic == self.topic]
        consumer.pause(*mine)
        return False

    def finished(self, consumer: _Consumer | None, tp: TopicPartition) -> None:
        if tp.topic != self.topic:
            self.main -= 1
            return
        self.started -= 1
        if consumer is None or self.started > self.budget() // 2:
            return
        paused = [p for p in consumer.paused() if p.topic == self.topic]
        if paused:
            consumer.resume(*paused)
