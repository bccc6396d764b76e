"""Hypothesis: arbitrary bytes and hostile records into each consumer's
decode-and-process step (feeds, the retry scheduler's split, the API's projections)
never raise out; what cannot be processed is poison, to be quarantined."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from aiokafka.structs import ConsumerRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from hookline.api.http import quarantine
from hookline.api.projection import attempts, deadletters
from hookline.api.projection import quarantine as quarantine_projection
from hookline.core import catalog
from hookline.core.config import Settings
from hookline.core.failure import is_poison
from hookline.core.feed import CatalogFeed, SubscriptionFeed
from hookline.core.messages import (
    Attempt,
    CatalogEntry,
    Delivery,
    Quarantined,
    RoutedBatch,
    SubscriptionRecord,
)
from hookline.core.subscriptions import SubscriptionIndex
from hookline.retry_scheduler.scheduler import split_due
from hookline.router.recent import Recent, RoutedFeed

ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)
hostile_json = st.recursive(
    st.none() | st.booleans() | ints | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)


def _records(cls: type[Any]) -> st.SearchStrategy[bytes]:
    """Well-typed-looking records of ``cls``: its field names, any JSON in them."""
    names = list(cls.__dataclass_fields__)
    shaped = st.fixed_dictionaries({"v": st.just(1)}, optional=dict.fromkeys(names, hostile_json))
    return st.binary(max_size=80) | shaped.map(orjson.dumps)


class _Recording:
    """What a feed would have sent to the quarantine."""

    quarantined: list[tuple[int, str]]

    async def _send_to_quarantine(self, rec: Any, reason: str) -> None:
        self.quarantined.append((rec.offset, reason))


class _SubscriptionFeed(_Recording, SubscriptionFeed):
    pass


class _CatalogFeed(_Recording, CatalogFeed):
    pass


class _RoutedFeed(_Recording, RoutedFeed):
    pass


def _feeds() -> list[Any]:
    s = Settings.from_env({})
    feeds: list[Any] = [
        _SubscriptionFeed(s, SubscriptionIndex()),
        _CatalogFeed(s),
        _RoutedFeed(s, Recent(60)),
    ]
    for feed in feeds:
        feed.quarantined = []
    return feeds


@pytest.fixture(autouse=True)
def _plurals_kept() -> Iterator[None]:
    """The catalog feed sets plurals process-wide: put them back afterwards."""
    kept = dict(catalog._ADMIN_PLURALS)
    yield
    catalog._ADMIN_PLURALS.clear()
    catalog._ADMIN_PLURALS.update(kept)


def _rec(offset: int, value: bytes) -> ConsumerRecord:
    return ConsumerRecord("t", 0, offset, 0, 0, b"k", value, None, 1, len(value), [])


@given(st.lists(_records(SubscriptionRecord) | _records(Quarantined), max_size=10))
@settings(max_examples=150, deadline=None)
def test_every_feed_takes_anything_and_quarantines_what_it_cannot_apply(
    values: list[bytes],
) -> None:
    decoders = [SubscriptionRecord.decode, CatalogEntry.decode, RoutedBatch.decode_any]

    async def run() -> None:
        for feed, decode in zip(_feeds(), decoders, strict=True):
            for offset, value in enumerate(values):
                await feed._take(_rec(offset, value))  # never raises
            refused = set()
            for offset, value in enumerate(values):
                try:
                    decode(value)
                except ValueError:
                    refused.add(offset)
            assert {o for o, _ in feed.quarantined} == refused

    asyncio.run(run())


@given(st.lists(_records(SubscriptionRecord), max_size=10))
@settings(max_examples=100, deadline=None)
def test_the_index_holds_exactly_the_records_that_decode(values: list[bytes]) -> None:
    async def run() -> None:
        [feed, *_] = _feeds()
        good: dict[int, SubscriptionRecord] = {}
        for offset, value in enumerate(values):
            await feed._take(_rec(offset, value))
            try:
                record = SubscriptionRecord.decode(value)
            except ValueError:
                assert offset in {o for o, _ in feed.quarantined}
                continue
            if record.id not in good or record.version > good[record.id].version:
                good[record.id] = record
        for record in good.values():
            live = not record.deleted and record.status == "ACTIVE"
            for event in record.events:
                assert (record in feed.table.matching(record.tenant, event)) == live

    asyncio.run(run())


@given(st.lists(st.tuples(st.integers(0, 10**6), _records(Delivery)), max_size=10))
@settings(max_examples=150, deadline=None)
def test_the_retry_split_takes_anything(rows: list[tuple[int, bytes]]) -> None:
    split = split_due(rows, 1_700_000_000.0)
    assert {o for o, _ in split.poison}.isdisjoint({o for o, _ in split.due})


@given(_records(Attempt) | _records(Delivery) | _records(Quarantined))
@settings(max_examples=300, deadline=None)
def test_the_api_projections_refuse_only_with_poison(value: bytes) -> None:
    steps: list[Callable[[], object]] = [
        lambda: attempts.row_of(Attempt.decode(value)),
        lambda: deadletters.row_of(Delivery.decode(value), value, 0),
        lambda: quarantine_projection.row_of(Quarantined.decode(value)),
    ]
    for step in steps:
        try:
            step()
        except Exception as exc:
            assert is_poison(exc), exc


@given(st.binary(max_size=200) | _records(SubscriptionRecord))
@settings(max_examples=200, deadline=None)
def test_a_quarantined_value_is_always_shown_safely(value: bytes) -> None:
    shown = quarantine.shown(value)
    assert shown["valueBytes"] == len(value)
    assert (shown["value"] is None) or (shown["valueText"] is None)
    orjson.dumps(shown)  # it can be answered
