"""``hookline.core.limits``: the one pass that keeps every accepted value encodable
through every format and storable in PostgreSQL."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from hookline.core.batches import batch_of
from hookline.core.limits import MAX_DEPTH, MAX_KEY, find_problem
from hookline.core.messages import Delivery, Event
from hookline.core.routing import BATCH
from support import factories

# Strings that are sometimes hostile: a NUL, a long key, or ordinary text.
texts = st.one_of(st.text(max_size=8), st.sampled_from(["a\x00b", "\x00", "k" * (MAX_KEY + 1)]))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=30,
)


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for n in range(depth):
        value = {"a": value} if n % 2 else [value]
    return value


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


def breaks_a_limit(value: Any) -> bool:
    """The reference: slow and obvious."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(breaks_a_limit(v) for v in value)
    if isinstance(value, dict):
        bad_key = any(len(k) > MAX_KEY or "\x00" in k for k in value)
        return bad_key or any(breaks_a_limit(v) for v in value.values())
    return False


@given(values, st.integers(1, 6))
def test_a_value_passes_exactly_when_it_keeps_every_limit(value: Any, max_depth: int) -> None:
    expected = breaks_a_limit(value) or depth_of(value) > max_depth
    found = find_problem(value, "value", max_depth=max_depth)
    assert (found is not None) == expected, found
    if found is not None:
        assert found[0].startswith("value") and found[1]


@given(values)
@settings(max_examples=200)
def test_whatever_passes_is_encoded_by_every_message_and_has_no_nul(value: Any) -> None:
    if find_problem(value, "value") is not None:
        return
    event = factories.event(
        event_id="e1", event="product.update", id=7, occurred_at=0.0, value={"v": value}
    )
    assert Event.decode(event.encode()) == event
    item = factories.delivery(
        delivery_id="d",
        subscription_id=3,
        event="product.update",
        event_id="e1",
        object_id=7,
        payload={"v": value},
        created_at=0.0,
        format=BATCH,
    )
    batch = batch_of([item, item], 0.0)
    assert Delivery.decode(batch.encode()).payload == batch.payload
    assert b"\\u0000" not in event.encode()  # what PostgreSQL's text and jsonb refuse


def test_the_deepest_accepted_value_goes_through_a_batch_and_one_deeper_is_refused() -> None:
    deepest = nested(MAX_DEPTH)
    assert find_problem(deepest, "value") is None
    item = factories.delivery(
        delivery_id="d",
        subscription_id=3,
        event="product.update",
        event_id="e1",
        object_id=7,
        payload=deepest,
        created_at=0.0,
        format=BATCH,
    )
    body = {"event": "product.update", "data": batch_of([item], 0.0).payload}  # what is sent
    assert orjson.loads(orjson.dumps(body)) == body
    found = find_problem(nested(MAX_DEPTH + 1), "value")
    assert found is not None and f"more than {MAX_DEPTH} levels" in found[1]


def test_the_path_names_the_field_and_a_hostile_one_is_cut_short() -> None:
    assert find_problem({"items": [{"name": "ok"}, {"name": "x\x00"}]}, "[2].value") == (
        "[2].value.items[1].name",
        "holds a NUL character (\\u0000), which PostgreSQL cannot store",
    )
    assert find_problem({"a b": {"\x00": 1}}, "value") == (
        "value['a b']",
        "has a key with a NUL character (\\u0000): '\\x00'",
    )
    path, message = find_problem(nested(1000), "value") or ("", "")  # orjson reads 1,024
    assert len(path) <= 201 and "levels" in message
    assert find_problem("id\x00", "eventId") is not None and find_problem(42, "id") is None
