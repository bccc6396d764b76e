"""Finding the records aiokafka cannot read (hookline.core.unreadable), on a fake
partition: every readable record is returned once, every unreadable one is in a span,
and no span holds a readable record (the end-to-end tests are in
tests/e2e/test_router_sources.py and, for the router's own consumer on
hookline.events, tests/e2e/test_router_unreadable.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import CorruptRecordException, KafkaConnectionError
from hypothesis import given
from hypothesis import strategies as st

from hookline.core.unreadable import Careful, Span, is_unreadable, read_past, unreadable_span

TP = TopicPartition("orders", 0)
GOOD, BAD = "good", "bad"


def _bad_name() -> UnicodeDecodeError:
    try:
        b"\xff".decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc
    raise AssertionError("unreachable")


@dataclass
class Rec:
    offset: int


class FakePartition:
    """One partition as aiokafka reads it: ``log`` maps offsets to GOOD or BAD (absent:
    compacted away); a fetch of one record from a BAD one raises as aiokafka does."""

    def __init__(self, log: dict[int, str], committed: int | None = None) -> None:
        self.log = log
        self.committed_offset = committed
        self.at = 0
        self.fetches = 0

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.committed_offset

    async def seek_to_beginning(self, tp: TopicPartition) -> None:
        self.at = min(self.log, default=0)

    async def position(self, tp: TopicPartition) -> int:
        return self.at

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.at = offset

    async def getmany(self, tp: TopicPartition, **options: Any) -> dict[TopicPartition, list[Rec]]:
        assert options["max_records"] == 1
        self.fetches += 1
        later = [o for o in sorted(self.log) if o >= self.at]
        if not later:
            return {}
        if self.log[later[0]] == BAD:
            raise _bad_name()
        self.at = later[0] + 1
        return {tp: [Rec(later[0])]}


def careful(part: FakePartition) -> Careful:
    return Careful(part, TP, "source orders")


def test_only_a_record_that_cannot_be_decoded_is_unreadable() -> None:
    assert is_unreadable(_bad_name())
    wrapped = CorruptRecordException("Found invalid record structure")
    wrapped.__cause__ = _bad_name()
    assert is_unreadable(wrapped)  # aiokafka's pure-Python reader
    assert not is_unreadable(CorruptRecordException("Invalid CRC"))
    assert not is_unreadable(KafkaConnectionError())
    assert not is_unreadable(ValueError("other"))


def test_the_span_ends_at_the_first_offset_that_reads() -> None:
    fails = {5, 6, 7}

    async def at(offset: int) -> bool:
        return offset in fails

    assert asyncio.run(unreadable_span(at, 5)) == 7
    assert asyncio.run(unreadable_span(at, 7)) == 7
    assert asyncio.run(unreadable_span(at, 5, most=2)) == 6


def test_a_bad_record_between_good_ones_is_one_exact_span() -> None:
    part = FakePartition({0: GOOD, 1: BAD, 2: GOOD, 3: GOOD}, committed=0)
    start, found = asyncio.run(careful(part).read(100))
    assert start == 0
    assert [r.offset for r in found.records] == [0, 2, 3]
    assert found.spans == [Span(0, 1, 1, found.spans[0].why)]
    assert found.end == 4
    assert (
        found.spans[0]
        .reason()
        .startswith(
            "the record at offset 1 of partition 0 cannot be read: a header name is not UTF-8"
        )
    )


def test_a_gap_before_bad_records_is_one_span_that_says_so() -> None:
    part = FakePartition({3: GOOD, 7: BAD, 8: BAD, 9: GOOD})  # 4-6: compacted away
    _, found = asyncio.run(careful(part).read(100))
    assert [r.offset for r in found.records] == [3, 9]
    (span,) = found.spans
    assert (span.first, span.last) == (4, 8)
    assert span.reason().startswith("offsets 4 to 8 of partition 0 cannot be read")
    assert span.reason().endswith("; each holds such a record or none")


def test_a_pass_stops_at_most_records_and_commits_only_that_far() -> None:
    part = FakePartition({n: GOOD for n in range(10)}, committed=2)
    _, found = asyncio.run(careful(part).read(3))
    assert [r.offset for r in found.records] == [2, 3, 4]
    assert found.end == 5


@given(
    st.dictionaries(st.integers(0, 40), st.sampled_from([GOOD, BAD])),
    st.integers(1, 8),
)
def test_passes_read_every_good_record_once_and_commit_no_good_one_unread(
    log: dict[int, str], most: int
) -> None:
    part = FakePartition(log)
    read: list[int] = []
    spanned: set[int] = set()
    for _ in range(200):
        start, found = asyncio.run(careful(part).read(most))
        read += [r.offset for r in found.records]
        for span in found.spans:
            spanned |= set(range(span.first, span.last + 1))
        assert found.end >= start
        part.committed_offset = found.end
        if found.end == start:
            break
    good = sorted(o for o, kind in log.items() if kind == GOOD)
    assert read == good
    assert {o for o, kind in log.items() if kind == BAD} <= spanned
    assert not spanned & set(good)


class FakeConsumer:
    """Partitions of one topic, each a ``FakePartition``, behind one consumer."""

    def __init__(self, parts: dict[int, FakePartition]) -> None:
        self.parts = parts

    def _of(self, tp: TopicPartition) -> FakePartition:
        return self.parts[tp.partition]

    async def committed(self, tp: TopicPartition) -> int | None:
        return self._of(tp).committed_offset

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: min(self._of(tp).log, default=0) for tp in tps}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self._of(tp).seek(tp, offset)

    async def getmany(self, tp: TopicPartition, **options: Any) -> dict[TopicPartition, list[Rec]]:
        return await self._of(tp).getmany(tp, **options)


def _past(
    consumer: FakeConsumer, starts: dict[int, int | None], most: int = 100
) -> tuple[dict[int, list[int]], list[tuple[int, Span]]]:
    set_aside: list[tuple[int, Span]] = []

    async def keep(tp: TopicPartition, span: Span) -> None:
        set_aside.append((tp.partition, span))

    tps = {TopicPartition("events", p): start for p, start in starts.items()}
    got = asyncio.run(read_past(consumer, tps, most, keep, "router"))
    return {tp.partition: [r.offset for r in rs] for tp, rs in got.items()}, set_aside


def test_read_past_starts_where_told_and_sets_the_bad_record_aside() -> None:
    bad = FakePartition({0: GOOD, 1: GOOD, 2: BAD, 3: GOOD}, committed=0)
    other = FakePartition({0: GOOD, 1: GOOD}, committed=0)
    consumer = FakeConsumer({0: bad, 1: other})
    got, set_aside = _past(consumer, {0: 1, 1: 0})
    assert got == {0: [1, 3], 1: [0, 1]}  # from offset 1 (handed on up to 0), not committed 0
    assert [(p, s.first, s.last) for p, s in set_aside] == [(0, 2, 2)]
    assert (bad.at, other.at) == (4, 2)  # the next fetch goes on after both


def test_read_past_without_a_start_reads_from_the_committed_offset_or_the_first() -> None:
    committed = FakePartition({0: GOOD, 1: BAD, 2: GOOD}, committed=1)
    never = FakePartition({5: GOOD, 6: GOOD})  # never committed, 0-4 deleted
    got, set_aside = _past(FakeConsumer({0: committed, 1: never}), {0: None, 1: None})
    assert got == {0: [2], 1: [5, 6]}
    assert [(p, s.first) for p, s in set_aside] == [(0, 1)]


def test_read_past_stops_at_most_and_leaves_the_rest_to_the_next_fetch() -> None:
    part = FakePartition({n: GOOD for n in range(10)} | {3: BAD}, committed=0)
    got, set_aside = _past(FakeConsumer({0: part}), {0: 0}, most=3)
    assert got == {0: [0, 1, 2]} and not set_aside
    assert part.at == 3  # the bad record is met again by the next fetch, not skipped
