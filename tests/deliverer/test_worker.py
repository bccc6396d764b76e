"""The deliverer's loop with fakes for Kafka and the delivery itself: every message
ends done, handed on or quarantined before its offset is finished, nothing is
committed past one that is still failing, a revocation with a delivery stuck is
bounded, and a deferral puts a delivery off without using a retry
(hookline.deliverer.worker)."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError

from hookline.core import topics
from hookline.core.config import Settings
from hookline.core.messages import Delivery, Quarantined
from hookline.deliverer import worker
from hookline.deliverer.breaker import Admission
from hookline.deliverer.endpoints import Ticket
from hookline.deliverer.ordering import GroupWriter, OrderStoreUnavailable
from hookline.deliverer.worker import Deliverer
from support import factories

TP = TopicPartition("unit.deliveries", 0)
SETTINGS = Settings.from_env({"HOOKLINE_TOPIC_PREFIX": "unit", "HOOKLINE_DELIVERY_TIMEOUT": "1"})


class InvalidSecret(ValueError):
    """What a malformed secret raised: an exception for this message only."""


@dataclass
class Record:
    offset: int
    value: bytes | None
    key: bytes | None = b"1"
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class FakeProducer:
    sent: list[tuple[str, bytes | None]] = field(default_factory=list)
    down: bool = False

    async def send(self, topic: str, value: bytes | None = None, key: Any = None) -> Any:
        await self.send_and_wait(topic, value, key)
        return asyncio.sleep(0)  # the acknowledgement, at once

    async def send_and_wait(self, topic: str, value: bytes | None = None, key: Any = None) -> None:
        if self.down:
            raise KafkaConnectionError("broker down")
        self.sent.append((topic, value))

    def quarantined(self) -> list[Quarantined]:
        return [Quarantined.decode(v) for t, v in self.sent if t == "unit.quarantine" and v]


@dataclass
class FakeConsumer:
    commits: list[dict[TopicPartition, int]] = field(default_factory=list)

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))


def delivery(n: int) -> bytes:
    return factories.delivery(
        delivery_id=f"msg_{n}",
        tenant=7,
        event="product.update",
        event_id=f"e{n}",
        object_id=n,
        payload={"id": n},
        created_at=0.0,
    ).encode()


def deliverer(attempt: Callable[[bytes | None], Any]) -> tuple[Deliverer, FakeProducer]:
    d = Deliverer(SETTINGS)
    producer = FakeProducer()
    d.producer = producer
    d.consumer = FakeConsumer()
    d.attempt = attempt  # type: ignore[method-assign,assignment]
    return d, producer


async def start(d: Deliverer, *records: Record) -> None:
    await d._start_all(TP, list(records))


async def until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not true in time"
        await asyncio.sleep(0.01)


async def test_an_exception_for_one_message_quarantines_it_with_its_reason() -> None:
    async def attempt(raw: bytes | None) -> None:
        if raw == delivery(1):
            raise InvalidSecret("the secret whsec_c2VjcmV0IHNlY3JldA== is not base64")

    d, producer = deliverer(attempt)
    await start(d, Record(0, delivery(0)), Record(1, delivery(1)), Record(2, delivery(2)))
    await until(lambda: d.tracker.in_flight(TP) == 0)
    (q,) = producer.quarantined()
    assert (q.service, q.topic, q.partition, q.offset) == ("deliverer", TP.topic, 0, 1)
    assert q.reason.startswith("InvalidSecret: ") and "c2VjcmV0" not in q.reason
    assert q.tenant == "7" and base64.b64decode(q.value_b64 or "") == delivery(1)
    assert d.tracker.committable() == {TP: 3}  # on past it, with a record


async def test_an_undecodable_or_empty_message_is_quarantined_not_skipped() -> None:
    d, producer = deliverer(Deliverer(SETTINGS).attempt)
    await start(d, Record(0, b"not json"), Record(1, None), Record(2, b'{"v": 1, "x": 1}'))
    await until(lambda: d.tracker.in_flight(TP) == 0)
    assert [q.offset for q in producer.quarantined()] == [0, 1, 2]
    assert all(q.reason.startswith("MessageError") for q in producer.quarantined())
    assert d.tracker.committable() == {TP: 3}


async def test_nothing_is_committed_past_a_delivery_while_its_database_is_down() -> None:
    outage = {"left": 3}

    async def attempt(raw: bytes | None) -> None:
        if raw == delivery(1) and outage["left"] > 0:
            outage["left"] -= 1
            raise OrderStoreUnavailable("cannot record delivery positions: refused")

    d, producer = deliverer(attempt)
    await start(d, Record(0, delivery(0)), Record(1, delivery(1)), Record(2, delivery(2)))
    await until(lambda: d.tracker.in_flight(TP) == 1)
    await d.commit()
    assert d.consumer.commits == [{TP: 1}]  # type: ignore[union-attr]  # 0 only: 2 is done, 1 not
    await until(lambda: d.tracker.in_flight(TP) == 0)  # retried with backoff until it passed
    assert outage["left"] == 0 and producer.quarantined() == []
    await d.commit()
    assert d.consumer.commits[-1] == {TP: 3}  # type: ignore[union-attr]


async def test_a_stop_during_an_outage_ends_promptly_and_leaves_the_delivery_unfinished() -> None:
    async def attempt(raw: bytes | None) -> None:
        if raw == delivery(1):
            raise OrderStoreUnavailable("cannot record delivery positions: refused")

    d, producer = deliverer(attempt)
    stopping = asyncio.Event()
    d._stopping = stopping
    await start(d, Record(0, delivery(0)), Record(1, delivery(1)), Record(2, delivery(2)))
    await until(lambda: d.tracker.in_flight(TP) == 1)
    stopping.set()
    started = time.monotonic()
    await d.drain()
    assert time.monotonic() - started < 2  # the backoff's pause ends at the stop
    assert d.consumer.commits == [{TP: 1}]  # type: ignore[union-attr]
    assert d.tracker.in_flight(TP) == 1 and producer.quarantined() == []  # redone, not lost
    await start(d, Record(3, delivery(3)))  # read after the stop: not started
    assert d.tracker.in_flight(TP) == 1


async def test_a_revoke_while_kafka_is_down_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "finish_wait_s", lambda _settings: 0.3)
    stuck = asyncio.Event()

    async def attempt(raw: bytes | None) -> None:
        if raw == delivery(1):
            stuck.set()
            await asyncio.sleep(3600)  # a hand-off that never gets its acknowledgement

    d, _ = deliverer(attempt)
    await start(d, Record(0, delivery(0)), Record(1, delivery(1)), Record(2, delivery(2)))
    await stuck.wait()
    started = time.monotonic()
    await worker._Rebalance(d).on_partitions_revoked([TP])
    assert time.monotonic() - started < 2
    assert d.consumer.commits == [{TP: 1}]  # type: ignore[union-attr]  # not past the stuck one
    assert d.tracker.in_flight(TP) == 0 and not d._tasks  # forgotten; the new owner redoes it


async def test_quarantining_waits_out_a_broker_outage_too() -> None:
    async def attempt(raw: bytes | None) -> None:
        raise InvalidSecret("bad")

    d, producer = deliverer(attempt)
    producer.down = True
    await start(d, Record(0, delivery(0)))
    await asyncio.sleep(0.5)
    assert d.tracker.committable() == {}  # not recorded anywhere yet: not finished
    producer.down = False
    await until(lambda: d.tracker.in_flight(TP) == 0)
    assert [q.offset for q in producer.quarantined()] == [0]


async def test_a_position_postgresql_refuses_fails_only_its_own_delivery() -> None:
    """One statement writes a group's positions; a NUL in one key fails the statement,
    and then the group is written one by one."""
    calls: list[list[str]] = []

    async def fetch(_sql: str, subs: list[int], keys: list[str], orders: list[int]) -> list[Any]:
        calls.append(keys)
        if any("\x00" in k for k in keys):
            raise asyncpg.UntranslatableCharacterError("unsupported Unicode escape sequence")
        return [
            {"subscription_id": s, "ordering_key": k, "position": o}
            for s, k, o in zip(subs, keys, orders, strict=True)
        ]

    writer = GroupWriter(fetch)
    good, bad = (
        asyncio.ensure_future(writer.record(1, {"product:1": 5})),
        asyncio.ensure_future(writer.record(1, {"product:a\x00b": 6})),
    )
    assert await good == {"product:1": 5}
    with pytest.raises(asyncpg.UntranslatableCharacterError):
        await bad
    assert calls[0] == ["product:1", "product:a\x00b"] and len(calls) == 3


async def test_a_deferred_delivery_goes_to_a_delay_topic_without_a_request_or_a_retry_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    d, producer = deliverer(Deliverer(SETTINGS).attempt)
    d.http = object()  # type: ignore[assignment]  # never used: no request is made

    async def circuit_open(endpoint: str) -> Ticket:
        return Ticket(Admission.DEFER, 60.0, "circuit open")

    monkeypatch.setattr(d.gate, "admit", circuit_open)
    tried = factories.delivery(attempt=2, last_error="HTTP 503")
    before = time.time()
    await d._deliver(factories.subscription(), tried)
    [(topic, raw)] = producer.sent  # no attempt recorded: nothing was tried
    put_off = Delivery.decode(raw or b"")
    delays = SETTINGS.retry_delays
    index = max(i for i, delay in enumerate(delays) if delay <= 60.0)
    assert topic == topics.retry(SETTINGS, delays[index])
    assert (put_off.attempt, put_off.last_error) == (2, "HTTP 503")  # no retry used up
    assert before + delays[index] <= put_off.due_at <= time.time() + delays[index]
