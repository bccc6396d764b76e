"""Messages encode to the same bytes as the field-by-field deep copy did, and back."""

from __future__ import annotations

import dataclasses

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookline.core.messages import (
    Attempt,
    Delivery,
    Event,
    MessageError,
    Routed,
    RoutedBatch,
    SubscriptionRecord,
)
from hookline.core.types import JSON

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


def _deep(message: object) -> bytes:
    return orjson.dumps({"v": 1, **dataclasses.asdict(message)})  # type: ignore[call-overload]


@given(
    payload=json_values,
    items=st.none()
    | st.lists(st.dictionaries(st.text(max_size=4), json_values, max_size=3), max_size=3),
)
def test_a_delivery_encodes_as_its_fields_and_decodes_back(payload: JSON, items: object) -> None:
    d = Delivery(
        delivery_id="msg_1",
        subscription_id=7,
        tenant=1,
        event="order.created",
        event_id="e1",
        object_id=3,
        payload=payload,
        created_at=1.5,
        items=items,  # type: ignore[arg-type]
    )
    assert d.encode() == _deep(d)
    assert Delivery.decode(d.encode()) == d


@given(value=json_values)
def test_an_event_encodes_as_its_fields_and_decodes_back(value: JSON) -> None:
    e = Event(event_id="e", tenant=2, event="order.created", id="x", occurred_at=2.0, value=value)
    assert e.encode() == _deep(e)
    assert Event.decode(e.encode()) == e


def test_the_other_messages_encode_as_their_fields() -> None:
    messages = [
        Routed(tenant=1, event_id="e", at=3.0, object_key="1:order:3", version=4),
        Attempt(
            delivery_id="d",
            subscription_id=1,
            tenant=1,
            event="order.created",
            event_id="e",
            attempt=0,
            at=1.0,
            outcome="delivered",
            reason="200",
            extra={"nested": [1, {"a": None}]},
        ),
        SubscriptionRecord(
            id=1,
            tenant=1,
            version=2,
            events=["order.created"],
            target_url="https://x",
            status="ACTIVE",
            secret="whsec_x",
            created_at=1.0,
            updated_at=2.0,
        ),
    ]
    for m in messages:
        assert m.encode() == _deep(m)
        assert type(m).decode(m.encode()) == m


def test_a_routed_batch_reads_back_as_its_records_and_a_single_record_still_reads() -> None:
    records = [
        Routed(tenant=1, event_id="a", at=1.0, object_key="1:order:1", version=2),
        Routed(tenant=2, event_id="b", at=2.0),
    ]
    assert RoutedBatch.decode_any(RoutedBatch(records).encode()) == records
    assert RoutedBatch.decode_any(records[0].encode()) == records[:1]


def test_a_routed_batch_of_an_unknown_shape_is_refused() -> None:
    for raw in (b"not json", b'{"v": 9, "routed": []}', b'{"v": 1, "routed": [{"x": 1}]}'):
        with pytest.raises(MessageError):
            RoutedBatch.decode_any(raw)
