"""hookline.retry_scheduler.scheduler: ``split_due``, the due prefix of a partition, and the
scheduler's step with a fake transactional producer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import patch

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookline.core.config import Settings
from hookline.core.failure import Backoff
from hookline.core.messages import Delivery, Quarantined
from hookline.retry_scheduler.scheduler import RetryScheduler, Split, split_due
from support import factories

FAST = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

NOW = 1_700_000_000.0


def _raw(due_at: float, n: int = 0) -> bytes:
    return factories.delivery(
        delivery_id=f"msg_{n}",
        subscription_id=n,
        event="order.create",
        event_id=f"evt-{n}",
        object_id=n,
        payload={"id": n},
        created_at=NOW - 100,
        attempt=2,
        due_at=due_at,
        last_error="HTTP 500",
    ).encode()


def test_no_records() -> None:
    assert split_due([], NOW) == Split([])


def test_all_due_are_sent_in_order() -> None:
    records = [(10, _raw(NOW - 5, 1)), (11, _raw(NOW - 1, 2)), (12, _raw(NOW, 3))]
    split = split_due(records, NOW)
    assert split.due == records
    assert split.hold_offset is None
    assert split.hold_until == 0.0


def test_stops_at_the_first_record_not_due() -> None:
    records = [
        (10, _raw(NOW - 5, 1)),
        (11, _raw(NOW + 30, 2)),
        (12, _raw(NOW - 100, 3)),  # due, but after the hold: not sent now
    ]
    split = split_due(records, NOW)
    assert split.due == records[:1]
    assert split.hold_offset == 11
    assert split.hold_until == NOW + 30


def test_first_record_not_due_sends_nothing() -> None:
    split = split_due([(7, _raw(NOW + 0.001)), (8, _raw(NOW + 1))], NOW)
    assert split == Split([], 7, NOW + 0.001)


def test_due_exactly_now_is_due() -> None:
    assert split_due([(0, _raw(NOW))], NOW).due == [(0, _raw(NOW))]


def test_tombstones_are_skipped() -> None:
    records: list[tuple[int, bytes | None]] = [(0, None), (1, _raw(NOW - 1)), (2, None)]
    assert split_due(records, NOW) == Split([(1, _raw(NOW - 1))])


@pytest.mark.parametrize(
    "junk",
    [
        b"",
        b"\xff\xfe not json",
        b"[]",
        b'"text"',
        b"42",
        b"null",
        b'{"no": "version"}',
        b'{"v": 99, "delivery_id": "x"}',
        b'{"v": 1}',
        b'{"v": 1, "delivery_id": "x", "unexpected": true}',
    ],
)
def test_undecodable_records_are_to_be_quarantined(junk: bytes) -> None:
    records: list[tuple[int, bytes | None]] = [
        (0, _raw(NOW - 2)),
        (1, junk),
        (2, _raw(NOW - 1)),
        (3, _raw(NOW + 9)),
        (4, junk),  # after the hold: read again when it ends
    ]
    split = split_due(records, NOW)
    assert split.due == [(0, _raw(NOW - 2)), (2, _raw(NOW - 1))]
    assert (split.hold_offset, split.hold_until) == (3, NOW + 9)
    assert [offset for offset, _ in split.poison] == [1]
    assert split.poison[0][1].startswith("MessageError: Delivery")


def test_record_with_a_null_due_at_is_to_be_quarantined() -> None:
    data = orjson.loads(_raw(NOW))
    data["due_at"] = None
    split = split_due([(0, orjson.dumps(data)), (1, _raw(NOW - 1))], NOW)
    assert split.due == [(1, _raw(NOW - 1))]
    assert [offset for offset, _ in split.poison] == [0]
    assert "due_at is null" in split.poison[0][1]


# --- property --------------------------------------------------------------------------

_RECORD = st.one_of(
    st.floats(min_value=NOW - 1000, max_value=NOW + 1000, allow_nan=False).map(
        lambda due: ("delivery", due)
    ),
    st.just(("none", 0.0)),
    st.just(("junk", 0.0)),
)


@FAST
@given(kinds=st.lists(_RECORD, max_size=20), start=st.integers(0, 10**9))
def test_split_is_the_due_prefix(kinds: list[tuple[str, float]], start: int) -> None:
    records: list[tuple[int, bytes | None]] = []
    for i, (kind, due) in enumerate(kinds):
        raw = _raw(due, i) if kind == "delivery" else None if kind == "none" else b"{bad"
        records.append((start + i, raw))
    split = split_due(records, NOW)

    # The model: walk until the first delivery that is not due yet.
    expected_due: list[tuple[int, bytes]] = []
    hold: tuple[int, float] | None = None
    for offset, raw in records:
        if raw is None or raw == b"{bad":
            continue
        due_at = Delivery.decode(raw).due_at
        if due_at > NOW:
            hold = (offset, due_at)
            break
        expected_due.append((offset, raw))

    assert split.due == expected_due
    junk = [o for o, raw in records if raw == b"{bad" and (hold is None or o < hold[0])]
    assert [offset for offset, _ in split.poison] == junk
    if hold is None:
        assert split.hold_offset is None
    else:
        assert (split.hold_offset, split.hold_until) == hold
        assert all(offset < hold[0] for offset, _ in split.due)
    assert all(Delivery.decode(raw).due_at <= NOW for _, raw in split.due)


# The scheduler's step with a fake transactional producer: what one fetched run of a
# delay partition turns into, and that it is all or nothing.

TP = TopicPartition("unit.retry.5s", 0)
UNIT = Settings.from_env({"HOOKLINE_TOPIC_PREFIX": "unit"})


@dataclass
class Row:
    """A fetched record, as much of aiokafka's ``ConsumerRecord`` as the step reads."""

    offset: int
    value: bytes | None
    topic: str = TP.topic
    partition: int = TP.partition
    key: bytes | None = b"k"
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class FakeTransactionalProducer:
    """Sends and offsets land in ``committed`` only when the transaction ends without an
    exception; ``fail_on`` makes the n-th send of a transaction raise ``fail_with``."""

    committed: list[tuple[str, bytes | None]] = field(default_factory=list)
    offsets: list[dict[TopicPartition, int]] = field(default_factory=list)
    aborted: int = 0
    fail_on: int | None = None
    fail_with: Exception = field(default_factory=lambda: KafkaConnectionError("down"))
    _open: list[tuple[str, bytes | None]] | None = None
    _offsets: dict[TopicPartition, int] = field(default_factory=dict)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        self._open, self._offsets = [], {}
        try:
            yield
        except BaseException:
            self.aborted += 1
            raise
        finally:
            opened, self._open = self._open, None
        self.committed.extend(opened)
        self.offsets.append(self._offsets)

    async def send(self, topic: str, value: bytes | None = None, key: Any = None) -> None:
        assert self._open is not None, "a send outside a transaction"
        if self.fail_on is not None and len(self._open) == self.fail_on:
            raise self.fail_with
        self._open.append((topic, value))

    async def send_and_wait(self, topic: str, value: bytes | None = None, key: Any = None) -> None:
        await self.send(topic, value, key)

    async def send_offsets_to_transaction(self, offsets: dict[Any, int], group: str) -> None:
        assert self._open is not None, "offsets outside a transaction"
        self._offsets.update(offsets)


@dataclass
class FakeConsumer:
    seeks: list[tuple[TopicPartition, int]] = field(default_factory=list)
    paused: set[TopicPartition] = field(default_factory=set)

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))

    def pause(self, tp: TopicPartition) -> None:
        self.paused.add(tp)

    def resume(self, tp: TopicPartition) -> None:
        self.paused.discard(tp)


def _scheduler(producer: FakeTransactionalProducer) -> tuple[RetryScheduler, FakeConsumer]:
    scheduler = RetryScheduler(UNIT)
    consumer = FakeConsumer()
    scheduler.producer = producer
    scheduler.consumer = consumer
    return scheduler, consumer


def _due(n: int) -> bytes:
    return _raw(NOW, n)  # long past


async def test_a_run_of_due_deliveries_goes_back_with_its_offset_in_one_transaction() -> None:
    producer = FakeTransactionalProducer()
    scheduler, consumer = _scheduler(producer)
    await scheduler._step_safely(TP, [Row(10, _due(1)), Row(11, _due(2))])
    assert [v for _, v in producer.committed] == [_due(1), _due(2)]
    assert {t for t, _ in producer.committed} == {"unit.deliveries"}
    assert producer.offsets == [{TP: 12}]
    assert not consumer.paused


async def test_the_first_delivery_not_due_holds_the_partition_there() -> None:
    producer = FakeTransactionalProducer()
    scheduler, consumer = _scheduler(producer)
    later = _raw(time.time() + 3600, 2)
    await scheduler._step_safely(TP, [Row(10, _due(1)), Row(11, later), Row(12, _due(3))])
    assert [v for _, v in producer.committed] == [_due(1)]
    assert producer.offsets == [{TP: 11}]
    assert consumer.seeks == [(TP, 11)] and TP in consumer.paused
    scheduler.forget([TP])


async def test_a_broker_failure_mid_run_commits_nothing_and_reads_the_run_again() -> None:
    producer = FakeTransactionalProducer(fail_on=1)
    scheduler, consumer = _scheduler(producer)
    scheduler._stopping = asyncio.Event()
    with patch("hookline.retry_scheduler.scheduler.BACKOFF", Backoff(0.01, 0.01)):
        await scheduler._step_safely(TP, [Row(10, _due(1)), Row(11, _due(2))])
    assert producer.committed == [] and producer.offsets == [] and producer.aborted == 1
    assert consumer.seeks == [(TP, 10)]  # the whole run again, nothing past it


async def test_an_undecodable_delivery_is_quarantined_in_the_transaction_that_passes_it() -> None:
    producer = FakeTransactionalProducer()
    scheduler, _ = _scheduler(producer)
    await scheduler._step_safely(TP, [Row(10, b"\xff junk"), Row(11, _due(2))])
    (quarantined,) = [
        Quarantined.decode(v) for t, v in producer.committed if t == "unit.quarantine" and v
    ]
    assert (quarantined.topic, quarantined.offset, quarantined.service) == (
        TP.topic,
        10,
        "retry-scheduler",
    )
    assert [v for t, v in producer.committed if t == "unit.deliveries"] == [_due(2)]
    assert producer.offsets == [{TP: 12}]


async def test_a_record_that_raises_alone_is_found_one_by_one_and_quarantined() -> None:
    class Refused(ValueError):
        """An unforeseen exception for this record only."""

    producer = FakeTransactionalProducer()
    scheduler, _ = _scheduler(producer)
    rows = [Row(10, _due(1)), Row(11, _due(2))]
    producer_send = producer.send

    async def send(topic: str, value: bytes | None = None, key: Any = None) -> None:
        if value == _due(2):
            raise Refused("encoder refused")
        await producer_send(topic, value, key)

    producer.send = send  # type: ignore[method-assign]
    await scheduler._step_safely(TP, rows)
    assert [v for t, v in producer.committed if t == "unit.deliveries"] == [_due(1)]
    (quarantined,) = [
        Quarantined.decode(v) for t, v in producer.committed if t == "unit.quarantine" and v
    ]
    assert quarantined.offset == 11 and "encoder refused" in quarantined.reason
    assert producer.offsets[-1] == {TP: 12}  # past both: one sent, one quarantined
