"""Tests for hookline.retry_scheduler.scheduler.split_due: the due prefix of a partition."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookline.core.messages import Delivery
from hookline.retry_scheduler.scheduler import Split, split_due
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
