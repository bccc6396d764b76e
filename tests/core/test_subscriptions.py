"""Tests for hookline.core.subscriptions: folding subscription records by version."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookline.core.messages import SubscriptionRecord
from hookline.core.subscriptions import (
    ACTIVE,
    DISABLED,
    DISABLED_GONE,
    DISABLED_TOO_MANY_ERRORS,
    STATUSES,
    SubscriptionIndex,
    SubscriptionTable,
    is_newer,
)
from support import factories

FAST = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _rec(sub_id: int = 1, version: int = 0, **overrides: Any) -> SubscriptionRecord:
    fields: dict[str, Any] = {
        "id": sub_id,
        "version": version,
        "events": ["order.create"],
        "target_url": f"https://example.com/{sub_id}/{version}",
        "status": ACTIVE,
        "created_at": 0.0,
        "updated_at": float(version),
    }
    fields.update(overrides)
    return factories.subscription(**fields)


def _ids(records: list[SubscriptionRecord]) -> list[int]:
    return sorted(r.id for r in records)


@pytest.fixture(params=[SubscriptionTable, SubscriptionIndex])
def table(request: pytest.FixtureRequest) -> SubscriptionTable:
    cls: type[SubscriptionTable] = request.param
    return cls()


# --- SubscriptionTable (and the index, which must fold the same way) -------------------


def test_is_newer() -> None:
    assert is_newer(None, _rec(version=0))
    assert is_newer(_rec(version=1), _rec(version=2))
    assert not is_newer(_rec(version=2), _rec(version=2))
    assert not is_newer(_rec(version=2), _rec(version=1))


def test_new_record_is_held(table: SubscriptionTable) -> None:
    record = _rec(1, 0)
    assert table.apply(record) is None
    assert table.get(1) == record
    assert table.get(2) is None
    assert len(table) == 1


def test_newer_replaces_and_returns_the_old_record(table: SubscriptionTable) -> None:
    old, new = _rec(1, 1), _rec(1, 2, target_url="https://example.com/new")
    table.apply(old)
    assert table.apply(new) == old
    assert table.get(1) == new


@pytest.mark.parametrize("version", [0, 3])
def test_older_or_equal_version_is_ignored(table: SubscriptionTable, version: int) -> None:
    held = _rec(1, 3)
    table.apply(held)
    assert table.apply(_rec(1, version, target_url="https://example.com/stale")) is None
    assert table.get(1) == held


def test_deleted_removes_and_cannot_be_resurrected_by_an_older_record(
    table: SubscriptionTable,
) -> None:
    table.apply(_rec(1, 1))
    table.apply(_rec(2, 1))
    table.apply(_rec(1, 2, deleted=True))
    assert table.get(1) is None
    assert len(table) == 1
    table.apply(_rec(1, 1))  # late, older
    table.apply(_rec(1, 2))  # same version as the tombstone
    assert table.get(1) is None
    assert len(table) == 1


def test_a_deleted_record_for_an_unknown_id_is_remembered(table: SubscriptionTable) -> None:
    table.apply(_rec(5, 4, deleted=True))
    table.apply(_rec(5, 3))
    assert table.get(5) is None
    assert len(table) == 0


def test_disabled_subscriptions_are_still_held(table: SubscriptionTable) -> None:
    table.apply(_rec(1, 1, status=DISABLED))
    assert table.get(1) is not None
    assert len(table) == 1


# --- SubscriptionIndex.matching ---------------------------------------------------------


def test_matching_by_tenant_and_event() -> None:
    index = SubscriptionIndex()
    index.apply(_rec(1, 0, events=["order.create", "order.update"]))
    index.apply(_rec(2, 0, tenant=2))
    index.apply(_rec(3, 0))
    assert _ids(index.matching(1, "order.create")) == [1, 3]
    assert _ids(index.matching(1, "order.update")) == [1]
    assert _ids(index.matching(2, "order.create")) == [2]
    assert index.matching(2, "order.update") == []
    assert index.matching(3, "order.create") == []


def test_matching_returns_the_newest_record() -> None:
    index = SubscriptionIndex()
    index.apply(_rec(1, 0))
    index.apply(_rec(1, 1, fields="id"))
    assert index.matching(1, "order.create") == [_rec(1, 1, fields="id")]


def test_deleted_leaves_matching() -> None:
    index = SubscriptionIndex()
    index.apply(_rec(1, 0))
    index.apply(_rec(2, 0))
    index.apply(_rec(1, 1, deleted=True))
    assert _ids(index.matching(1, "order.create")) == [2]
    index.apply(_rec(1, 0))  # late and older: still gone
    assert _ids(index.matching(1, "order.create")) == [2]


@pytest.mark.parametrize("status", [DISABLED, DISABLED_TOO_MANY_ERRORS, DISABLED_GONE])
def test_disabled_leaves_matching_and_active_returns(status: str) -> None:
    index = SubscriptionIndex()
    index.apply(_rec(1, 0))
    index.apply(_rec(1, 1, status=status))
    assert index.matching(1, "order.create") == []
    assert index.get(1) is not None
    index.apply(_rec(1, 2, status=ACTIVE))
    assert _ids(index.matching(1, "order.create")) == [1]


def test_changing_events_moves_between_routes() -> None:
    index = SubscriptionIndex()
    index.apply(_rec(1, 0, events=["order.create", "order.update"]))
    index.apply(_rec(1, 1, events=["order.update", "invoice.charged"]))
    assert index.matching(1, "order.create") == []
    assert _ids(index.matching(1, "order.update")) == [1]
    assert _ids(index.matching(1, "invoice.charged")) == [1]


def test_changing_tenant_moves_between_routes() -> None:
    index = SubscriptionIndex()
    index.apply(_rec(1, 0, tenant=1))
    index.apply(_rec(1, 1, tenant=2))
    assert index.matching(1, "order.create") == []
    assert _ids(index.matching(2, "order.create")) == [1]


def test_ignored_record_does_not_touch_routes() -> None:
    index = SubscriptionIndex()
    index.apply(_rec(1, 5, events=["order.create"]))
    index.apply(_rec(1, 4, events=["order.update"]))
    index.apply(_rec(1, 5, events=["order.update"], status=DISABLED))
    assert _ids(index.matching(1, "order.create")) == [1]
    assert index.matching(1, "order.update") == []


# --- order independence -----------------------------------------------------------------

_EVENTS = ["order.create", "order.update", "invoice.charged"]
_TENANTS = [1, 2]


def _state(index: SubscriptionIndex, ids: set[int]) -> tuple[object, ...]:
    gets = tuple(index.get(i) for i in sorted(ids))
    routes = tuple(
        tuple(sorted((r.id, r.version) for r in index.matching(t, e)))
        for t, e in itertools.product(_TENANTS, _EVENTS)
    )
    return gets, routes, len(index)


@st.composite
def _histories(draw: st.DrawFn) -> list[SubscriptionRecord]:
    """Records of a few subscriptions, distinct versions per id (the log's invariant)."""
    records: list[SubscriptionRecord] = []
    for sub_id in range(1, draw(st.integers(1, 4)) + 1):
        versions = draw(st.lists(st.integers(0, 20), min_size=1, max_size=5, unique=True))
        for version in versions:
            records.append(
                _rec(
                    sub_id,
                    version,
                    tenant=draw(st.sampled_from(_TENANTS)),
                    events=draw(st.lists(st.sampled_from(_EVENTS), max_size=3, unique=True)),
                    status=draw(st.sampled_from(STATUSES)),
                    deleted=draw(st.booleans()),
                )
            )
    return records


@FAST
@given(records=_histories(), data=st.data())
def test_any_order_folds_to_the_same_state(
    records: list[SubscriptionRecord], data: st.DataObject
) -> None:
    ids = {r.id for r in records}
    in_order = SubscriptionIndex()
    for record in sorted(records, key=lambda r: r.version):
        in_order.apply(record)

    shuffled = SubscriptionIndex()
    for record in data.draw(st.permutations(records)):
        shuffled.apply(record)

    assert _state(shuffled, ids) == _state(in_order, ids)

    # And that state is each id's newest record.
    for sub_id in ids:
        newest = max((r for r in records if r.id == sub_id), key=lambda r: r.version)
        assert shuffled.get(sub_id) == (None if newest.deleted else newest)
        for tenant, event in itertools.product(_TENANTS, _EVENTS):
            routed = sub_id in {r.id for r in shuffled.matching(tenant, event)}
            assert routed == (
                not newest.deleted
                and newest.status == ACTIVE
                and newest.tenant == tenant
                and event in newest.events
            )
