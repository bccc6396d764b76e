"""Source records that aiokafka cannot read, found one by one and set aside.

aiokafka decodes every header name as UTF-8 while it unpacks a fetched batch (Kafka's
protocol says a header name is a string; librdkafka, Go's clients or a hand-made batch
write any bytes, and the broker stores them as they are). Such a record makes
``getmany`` raise for the whole fetch, naming neither its partition nor its offset, and
the records of other partitions drained by the same call are dropped from the
consumer's positions: fetching again from where it stands would skip them, and fetching
again from the committed offsets fails again, for ever.

So a reader whose fetch raises ``Unreadable`` reads each of its partitions again with a
``Careful`` pass: from the committed offset, one record at a time, so that every record
before the bad one is returned, and its place is the position it fails at. The bad
record is the first one at or after that position; ``unreadable_span`` finds how far
the failing reaches, and the span is quarantined as a stub (topic, partition, offsets,
why; there is no record to keep) before its offsets are committed. Nothing readable is
skipped: an offset is in the span only if a fetch from it fails, so it holds the bad
record or none at all (a compacted topic has gaps).

The router's Faust consumer meets the same on ``hookline.events``, which producers may
write directly (docs/api.md): ``read_past`` is its careful pass, from where each
partition's records stopped being handed on rather than from the committed offset (the
records after it may still be in the stream's buffer, not yet routed).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CorruptRecordException

from hookline.core.failure import retry_infra

MAX_SPAN = 1000  # offsets looked at after a bad record in one pass; the next pass goes on
CAREFUL_WAIT_MS = 1000


class Unreadable(Exception):
    """A fetch failed on a record that will never decode (its message says why)."""


def is_unreadable(exc: BaseException) -> bool:
    """Pure: whether ``exc``, raised by a fetch, is a record that cannot be decoded
    rather than the broker or the network: the compiled record reader raises
    ``UnicodeDecodeError`` itself; the pure-Python one wraps it in a
    ``CorruptRecordException`` (which a bad CRC also raises, and is retried)."""
    if isinstance(exc, UnicodeDecodeError):
        return True
    return isinstance(exc, CorruptRecordException) and isinstance(exc.__cause__, UnicodeDecodeError)


async def fetch(consumer: AIOKafkaConsumer, *partitions: TopicPartition, **options: Any) -> Any:
    """``consumer.getmany``, an undecodable record raised as ``Unreadable``."""
    try:
        return await consumer.getmany(*partitions, **options)
    except (UnicodeDecodeError, CorruptRecordException) as exc:
        if not is_unreadable(exc):
            raise
        raise Unreadable(f"a header name is not UTF-8 ({exc})") from exc


async def unreadable_span(
    unreadable_at: Callable[[int], Awaitable[bool]], first: int, most: int = MAX_SPAN
) -> int:
    """The last offset of the span of unreadable offsets that starts at ``first``.

    ``unreadable_at(x)`` says whether a fetch from offset ``x`` fails, that is whether
    the first record at or after ``x`` cannot be read. ``first`` is known to fail. Each
    offset that fails holds the bad record or none (a record that can be read would be
    returned first), so the span may be committed; the first offset that does not fail
    ends it. At most ``most`` offsets are looked at."""
    last = first
    while last - first + 1 < most and await unreadable_at(last + 1):
        last += 1
    return last


@dataclass(frozen=True)
class Span:
    """Offsets ``first`` to ``last`` of a partition that hold no record to read."""

    partition: int
    first: int
    last: int
    why: str

    def reason(self) -> str:
        where = (
            f"the record at offset {self.first}"
            if self.first == self.last
            else f"offsets {self.first} to {self.last}"
        )
        gaps = "" if self.first == self.last else "; each holds such a record or none"
        return f"{where} of partition {self.partition} cannot be read: {self.why}{gaps}"


@dataclass
class Pass:
    """What a careful pass over one partition read: the records to map, the spans to
    quarantine, and the offset to commit once both are done."""

    records: list[Any] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    end: int = 0


class Careful:
    """One partition read again from its committed offset, one record at a time."""

    def __init__(self, consumer: AIOKafkaConsumer, tp: TopicPartition, what: str) -> None:
        self._consumer = consumer
        self._tp = tp
        self._what = what
        self._position = 0

    async def read(self, most: int, start: int | None = None) -> tuple[int, Pass]:
        """The offset read from (``start``, or the committed offset), and what follows
        it: at most ``most`` records and spans, up to the end of the partition."""
        if start is None:
            start = await self._rewind()
        else:
            self._seek(start)
        found = Pass(end=start)
        while len(found.records) + len(found.spans) < most:
            try:
                record = await self._next()
            except Unreadable as exc:
                first = self._position  # the probes move it
                last = await unreadable_span(self._unreadable_at, first)
                found.spans.append(Span(self._tp.partition, first, last, str(exc)))
                self._seek(last + 1)
                continue
            if record is None:
                break
            found.records.append(record)
            self._position = record.offset + 1
        found.end = self._position
        return start, found

    async def _rewind(self) -> int:
        committed = await retry_infra(
            lambda: self._consumer.committed(self._tp), what=f"{self._what}: committed"
        )
        if committed is None:  # never committed: the group starts at the earliest
            await self._consumer.seek_to_beginning(self._tp)
            committed = await self._consumer.position(self._tp)
        self._seek(committed)
        return int(committed)

    def _seek(self, offset: int) -> None:
        self._consumer.seek(self._tp, offset)
        self._position = offset

    async def _next(self) -> Any | None:
        async def one() -> Any:
            return await fetch(self._consumer, self._tp, timeout_ms=CAREFUL_WAIT_MS, max_records=1)

        got = await retry_infra(one, what=f"{self._what}: fetch")
        records = got.get(self._tp) or []
        return records[0] if records else None

    async def _unreadable_at(self, offset: int) -> bool:
        self._seek(offset)
        try:
            await self._next()
        except Unreadable:
            return True
        return False


SetAside = Callable[[TopicPartition, Span], Awaitable[None]]


async def read_past(
    consumer: AIOKafkaConsumer,
    starts: Mapping[TopicPartition, int | None],
    most: int,
    set_aside: SetAside,
    what: str,
) -> dict[TopicPartition, list[Any]]:
    """After a fetch raised ``Unreadable``: each partition read again with a ``Careful``
    pass from ``starts[tp]`` (``None``: its committed offset, or its first), at most
    ``most`` records and spans each. Every span is set aside (quarantined) before this returns the
    records, so that no offset is committed that was neither routed nor quarantined;
    the consumer's positions are after what was returned or set aside."""
    got: dict[TopicPartition, list[Any]] = {}
    for tp, start in starts.items():
        at = start if start is not None else await _committed_or_first(consumer, tp, what)
        _, found = await Careful(consumer, tp, what).read(most, at)
        for span in found.spans:
            await set_aside(tp, span)
        if found.records:
            got[tp] = found.records
    return got


async def _committed_or_first(consumer: AIOKafkaConsumer, tp: TopicPartition, what: str) -> int:
    """The committed offset of ``tp``, or its first one (asked, not ``seek_to_beginning``,
    which leaves the position unset meanwhile: Faust's livelock check reads it from its
    own thread and fails on that)."""
    committed = await retry_infra(lambda: consumer.committed(tp), what=f"{what}: committed")
    if committed is not None:
        return int(committed)
    first = await retry_infra(lambda: consumer.beginning_offsets([tp]), what=f"{what}: first")
    return int(first[tp])
