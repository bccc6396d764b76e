"""The router's source readers with fakes: what is written, what is quarantined, and
that a reader that fails starts again alone (the end-to-end tests are in
tests/e2e/test_router_sources.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hookline.core import kafka_access
from hookline.core.config import Settings
from hookline.core.messages import Event, Quarantined, SourceRecord
from hookline.core.sources import Source
from hookline.router.sources import Pace, SourceReader, SourceService

SETTINGS = Settings.from_env({"HOOKLINE_TOPIC_PREFIX": "hl"})
SOURCE = Source(name="orders", topic="orders", format="cloudevents", version=0)


@dataclass
class Rec:
    value: bytes | None
    offset: int
    headers: tuple[tuple[str, bytes], ...] = ()
    key: bytes | None = None
    topic: str = "orders"
    partition: int = 0
    timestamp: int = 1000
    timestamp_type: int = 0


@dataclass
class FakeProducer:
    sent: list[tuple[str, bytes, bytes | None]] = field(default_factory=list)

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> Any:
        self.sent.append((topic, value, key))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def send_and_wait(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        self.sent.append((topic, value, key))


class FakeTenants:
    def __init__(self, known: set[int]) -> None:
        self.known = known
        self.asked: list[set[int]] = []

    async def existing(self, ids: set[int]) -> set[int]:
        self.asked.append(ids)
        return ids & self.known


def ce(tenant: int, n: int) -> Rec:
    event = {
        "specversion": "1.0",
        "id": f"e{n}",
        "source": "/o",
        "type": "order.update",
        "subject": str(n),
        "hooklinetenant": str(tenant),
        "data": {"n": n},
    }
    headers = (("content-type", b"application/cloudevents+json"),)
    return Rec(orjson.dumps(event), n, headers)


async def test_events_are_written_keyed_by_object_and_the_unmappable_quarantined() -> None:
    producer, tenants = FakeProducer(), FakeTenants({7})
    reader = SourceReader(SETTINGS, SOURCE, producer, tenants)  # type: ignore[arg-type]
    await reader.take([ce(7, 1), ce(8, 2), Rec(b"junk", 3), ce(7, 4)])

    assert tenants.asked == [{7, 8}]  # one question for the batch
    topics = [t for t, _, _ in producer.sent]
    assert topics == ["hl.events", "hl.quarantine", "hl.quarantine", "hl.events"]
    first = Event.decode(producer.sent[0][1])
    assert (first.event_id, first.tenant, first.id, producer.sent[0][2]) == (
        "/o:e1",
        7,
        1,
        b"7:order:1",
    )
    reasons = [Quarantined.decode(v).reason for t, v, _ in producer.sent if t == "hl.quarantine"]
    assert reasons[0] == "source orders: tenant 8 does not exist"
    assert reasons[1].startswith("source orders: not a CloudEvent")


async def test_a_reader_that_fails_starts_again_from_the_definition_of_then(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = SourceService(SETTINGS)
    service.restart_s = 0.01
    started: list[int] = []

    async def failing_run(self: SourceReader) -> None:
        started.append(self.source.version)
        raise RuntimeError("TopicAuthorizationFailed")

    record = SourceRecord("orders", "orders", "cloudevents", 0, 0.0, 0.0)
    service._producer = FakeProducer()
    monkeypatch.setattr(SourceReader, "run", failing_run)
    follow = asyncio.create_task(service._follow())
    service.feed.latest["orders"] = record
    service._changed(record)
    await asyncio.sleep(0.05)
    newer = SourceRecord("orders", "orders", "cloudevents", 1, 0.0, 0.0)
    service.feed.latest["orders"] = newer  # changed while the reader was down
    await asyncio.sleep(0.05)
    follow.cancel()
    await asyncio.gather(follow, return_exceptions=True)
    assert started[0] == 0 and len(started) >= 3  # it went on failing, and restarting
    assert started[-1] == 1  # with the definition as it was then, not the one it had


async def test_a_second_source_of_a_topic_is_not_read_until_the_first_stops(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    service = SourceService(SETTINGS)
    reading: list[str] = []

    async def run(self: SourceReader) -> None:
        reading.append(self.source.name)
        await self._stopping.wait()
        reading.remove(self.source.name)

    monkeypatch.setattr(SourceReader, "run", run)
    service._producer = FakeProducer()
    follow = asyncio.create_task(service._follow())
    first = SourceRecord("first", "orders", "cloudevents", 0, 0.0, 0.0)
    second = SourceRecord("second", "orders", "cloudevents", 0, 0.0, 0.0)
    other = SourceRecord("other", "invoices", "cloudevents", 0, 0.0, 0.0)
    for record in (first, second, other, second):  # one line each time second is put
        service._changed(record)
    await asyncio.sleep(0.05)
    assert sorted(reading) == ["first", "other"]
    refused = [r.getMessage() for r in caplog.records if "is not read" in r.getMessage()]
    assert len(refused) == 2 and refused[0].startswith(
        "source second is not read: its topic orders is read by source first already"
    )

    service._changed(SourceRecord("first", "orders", "cloudevents", 1, 0.0, 0.0, deleted=True))
    await asyncio.sleep(0.05)
    assert sorted(reading) == ["other", "second"]
    assert service.waiting == {}
    follow.cancel()
    await asyncio.gather(follow, return_exceptions=True)
    for name in list(service.readers):
        await service._stop_reader(name)


async def test_a_source_it_may_not_read_is_one_line_naming_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    asked: list[tuple[dict[str, set[int]], list[str]]] = []

    async def lacking(
        settings: Settings, wanted: dict[str, set[int]], *, groups: list[str]
    ) -> list[str]:
        asked.append((wanted, groups))
        return ["Read and Describe on topic orders", "Read on group hl-router-source-orders"]

    monkeypatch.setattr(kafka_access, "lacking", lacking)
    service = SourceService(SETTINGS)
    service.restart_s = 60
    service._producer = FakeProducer()
    follow = asyncio.create_task(service._follow())
    service._changed(SourceRecord("orders", "orders", "cloudevents", 0, 0.0, 0.0))
    await asyncio.sleep(0.05)
    follow.cancel()
    await asyncio.gather(follow, return_exceptions=True)

    assert asked == [({"orders": {kafka_access.READ}}, ["hl-router-source-orders"])]
    (line,) = [r for r in caplog.records if r.name == "hookline.router.sources"]
    assert line.getMessage() == (
        "source orders cannot read topic orders: a missing ACL for this client: it needs"
        " Read and Describe on topic orders; Read on group hl-router-source-orders"
        " (docs/operations.md, ACLs, lists what each service needs); it starts again in 60 s"
    )
    assert line.exc_info is None  # no traceback


def test_a_fresh_or_rested_source_takes_a_burst_without_waiting() -> None:
    pace = Pace(rate=100.0, burst=500)
    assert pace.wait(500, now=1000.0) == 0.0
    assert pace.wait(100, now=1000.0) == pytest.approx(1.0)  # past the burst: 100 at 100/s
    assert pace.wait(500, now=1100.0) == 0.0  # rested: the burst again, no more


@settings(max_examples=300)
@given(
    rate=st.floats(min_value=1.0, max_value=10_000.0),
    burst=st.integers(min_value=1, max_value=1000),
    steps=st.lists(
        st.tuples(st.integers(min_value=1, max_value=1000), st.floats(0.0, 5.0)),
        min_size=1,
        max_size=40,
    ),
)
def test_a_reader_that_keeps_the_waits_never_reads_over_burst_plus_rate(
    rate: float, burst: int, steps: list[tuple[int, float]]
) -> None:
    """From any take to the one after any later take, at most ``burst`` records plus
    ``rate`` a second were taken, however the fetches and the idle gaps fall."""
    pace, now = Pace(rate, burst), 0.0
    times, taken = [], []
    for n, idle in steps:
        times.append(now)
        taken.append(n)
        now += pace.wait(n, now) + idle  # the reader waits as told, then maybe idles
    times.append(now)
    for i in range(len(taken)):
        for k in range(i, len(taken)):
            assert sum(taken[i : k + 1]) <= burst + rate * (times[k + 1] - times[i]) + 1e-6 * rate


async def test_a_flooded_source_waits_after_committing_and_a_stop_ends_the_wait() -> None:
    slow = Settings.from_env({"HOOKLINE_TOPIC_PREFIX": "hl", "HOOKLINE_SOURCE_RATE": "10"})
    reader = SourceReader(slow, SOURCE, FakeProducer(), FakeTenants({7}))  # type: ignore[arg-type]
    await reader._paced(500)  # the burst: no wait
    waiting = asyncio.create_task(reader._paced(100))  # 10 s at 10/s
    await asyncio.sleep(0.05)
    assert not waiting.done()
    reader.stop()
    await asyncio.wait_for(waiting, 1.0)
