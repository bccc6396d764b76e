"""Tests for hookline.core.routing: which deliveries one event makes."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookline.core.fields import parse_fields, project
from hookline.core.messages import Event, SubscriptionRecord
from hookline.core.routing import delivery_id, plan_deliveries
from support import factories

FAST = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

NOW = 1_700_000_000.0

VALUE: dict[str, Any] = {
    "id": 5,
    "url": "https://api/order/5",
    "number": "A-5",
    "customer": {"id": 9, "url": "https://api/customer/9", "name": "Acme"},
    "lines": [{"id": 1, "qty": 2, "product": {"id": 3, "name": "Nut"}}],
}


def _event(**overrides: Any) -> Event:
    fields: dict[str, Any] = {
        "event": "order.create",
        "id": 5,
        "occurred_at": NOW - 1,
        "value": VALUE,
    }
    fields.update(overrides)
    return factories.event(**fields)


def _sub(sub_id: int, **overrides: Any) -> SubscriptionRecord:
    fields: dict[str, Any] = {
        "id": sub_id,
        "events": ["order.create"],
        "target_url": f"https://example.com/{sub_id}",
        "created_at": 0.0,
        "updated_at": 0.0,
    }
    fields.update(overrides)
    return factories.subscription(**fields)


def test_one_matching_subscription_gets_a_delivery() -> None:
    (delivery,) = plan_deliveries(_event(), [_sub(7)], NOW)
    assert delivery == factories.delivery(
        delivery_id=delivery_id("evt-1", 7),
        subscription_id=7,
        event="order.create",
        object_id=5,
        payload=VALUE,
        created_at=NOW,
    )


def test_only_same_tenant_and_listed_event_match() -> None:
    subs = [
        _sub(1),
        _sub(2, tenant=2),  # another tenant
        _sub(3, events=["order.update"]),  # another event
        _sub(4, events=["order.update", "order.create"]),
        _sub(5, events=[]),
        _sub(6, events=["order.created"]),  # a near miss, not a prefix match
        _sub(7, events=["order"]),
    ]
    planned = plan_deliveries(_event(), subs, NOW)
    assert [d.subscription_id for d in planned] == [1, 4]
    assert all(d.tenant == 1 for d in planned)


def test_no_subscriptions_no_deliveries() -> None:
    assert plan_deliveries(_event(), [], NOW) == []


def test_fields_projection_is_applied_per_subscription() -> None:
    subs = [
        _sub(1),
        _sub(2, fields="number,customer"),
        _sub(3, fields="id,customer(name),lines(product(name))"),
        _sub(4, fields=""),
    ]
    payloads = {d.subscription_id: d.payload for d in plan_deliveries(_event(), subs, NOW)}
    assert payloads[1] == VALUE
    assert payloads[2] == {
        "number": "A-5",
        "customer": {"id": 9, "url": "https://api/customer/9"},
    }
    assert payloads[3] == {
        "id": 5,
        "customer": {"name": "Acme"},
        "lines": [{"product": {"name": "Nut"}}],
    }
    assert payloads[4] == VALUE
    assert VALUE["customer"]["name"] == "Acme"  # the event's value is not mutated


def test_null_and_scalar_values_pass_through_projection() -> None:
    sub = _sub(1, fields="id")
    assert plan_deliveries(_event(value=None), [sub], NOW)[0].payload is None
    assert plan_deliveries(_event(value=3), [sub], NOW)[0].payload == 3


def test_delivery_id_is_deterministic() -> None:
    first = plan_deliveries(_event(), [_sub(1), _sub(2)], NOW)
    again = plan_deliveries(_event(), [_sub(2), _sub(1)], NOW + 60)
    assert {d.subscription_id: d.delivery_id for d in first} == {
        d.subscription_id: d.delivery_id for d in again
    }
    assert first[0].delivery_id.startswith("msg_")
    assert len(first[0].delivery_id) == len("msg_") + 32


@FAST
@given(
    a=st.tuples(st.text(max_size=12), st.integers(-(2**40), 2**40)),
    b=st.tuples(st.text(max_size=12), st.integers(-(2**40), 2**40)),
)
def test_delivery_id_is_distinct_per_pair(a: tuple[str, int], b: tuple[str, int]) -> None:
    assert delivery_id(*a) == delivery_id(*a)
    assert (delivery_id(*a) == delivery_id(*b)) == (a == b)


def test_delivery_id_does_not_confuse_separators() -> None:
    assert delivery_id("a:1", 2) != delivery_id("a", 12)
    assert delivery_id("a:1", 2) != delivery_id("a:12", 2)


_EVENTS = ["order.create", "order.update", "invoice.charged"]


@FAST
@given(
    event=st.sampled_from(_EVENTS),
    tenant=st.integers(1, 3),
    subs=st.lists(
        st.tuples(
            st.integers(1, 3),
            st.lists(st.sampled_from(_EVENTS), max_size=3),
            st.sampled_from([None, "id", "number,customer(name)", "*"]),
        ),
        max_size=8,
    ),
)
def test_plan_matches_a_simple_filter(
    event: str, tenant: int, subs: list[tuple[int, list[str], str | None]]
) -> None:
    records = [
        _sub(i, tenant=t, events=events, fields=fields)
        for i, (t, events, fields) in enumerate(subs, start=1)
    ]
    ev = _event(event=event, tenant=tenant, event_id=f"evt-{tenant}-{event}")
    planned = plan_deliveries(ev, records, NOW)
    wanted = [r for r in records if r.tenant == tenant and event in r.events]
    assert [d.subscription_id for d in planned] == [r.id for r in wanted]
    for d, r in zip(planned, wanted, strict=True):
        assert d.payload == project(VALUE, parse_fields(r.fields))
        assert d.delivery_id == delivery_id(ev.event_id, r.id)
        assert (d.event, d.event_id, d.tenant, d.object_id) == (event, ev.event_id, tenant, 5)
        assert d.created_at == NOW
    assert len({d.delivery_id for d in planned}) == len(planned)
