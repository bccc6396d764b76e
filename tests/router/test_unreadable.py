"""Finding the records aiokafka cannot read (hookline.router.unreadable), on a fake
partition: every readable record is returned once, every unreadable one is in a span,
and no span holds a readable record (the end-to-end test is in
tests/e2e/test_router_sources.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import CorruptRecordException, KafkaConnectionError
from hypothesis import given
from hypothesis import strategies as st

from hookline.router.unreadable import Careful, Span, is_unreadable, unreadable_span

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
