"""Strict decoding: every message refuses a wrong type or an unbounded size with a
``MessageError`` at decode time, never a ``TypeError`` later, whatever it is given."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hookline.core import messages
from hookline.core.messages import (
    MAX_INT,
    MAX_TEXT,
    Attempt,
    CatalogEntry,
    Delivery,
    Event,
    MessageError,
    Quarantined,
    Routed,
    RoutedBatch,
    SubscriptionRecord,
)

CLASSES: list[type[messages._Message]] = [
    Event,
    SubscriptionRecord,
    Delivery,
    Routed,
    RoutedBatch,
    Attempt,
    CatalogEntry,
    Quarantined,
]

# Hostile but JSON: NULs, lone surrogates written as escapes, huge and negative
# numbers, booleans where integers go, deep nesting, long strings.
hostile_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=20)
    | st.sampled_from(["\u0000", "a\u0000b", "x" * (MAX_TEXT + 1), ""])
)
hostile_json = st.recursive(
    hostile_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


_SCALARS: dict[Any, Any] = {
    type(None): lambda v: v is None,
    float: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    int: lambda v: isinstance(v, int) and not isinstance(v, bool) and abs(v) <= MAX_INT + 1,
    str: lambda v: isinstance(v, str),
    bool: lambda v: isinstance(v, bool),
    Any: lambda v: True,
}


def _fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` is of the annotation ``hint``, checked independently of the decoder."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        return any(_fits(value, member) for member in typing.get_args(hint))
    if hint in _SCALARS:
        return bool(_SCALARS[hint](value))
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_fits(v, item) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    return isinstance(value, hint)  # a nested message


def _assert_well_typed(message: messages._Message) -> None:
    hints = typing.get_type_hints(type(message))
    for f in dataclasses.fields(message):
        value = getattr(message, f.name)
        if f.type == "JSON":
            continue
        assert _fits(value, hints[f.name]), (type(message).__name__, f.name, value)
        if isinstance(value, str):
            assert len(value) <= MAX_TEXT


@pytest.mark.parametrize("cls", CLASSES)
@given(raw=st.binary(max_size=200))
@settings(max_examples=100)
def test_arbitrary_bytes_decode_or_are_refused(cls: type[messages._Message], raw: bytes) -> None:
    try:
        message = cls.decode(raw)
    except MessageError:
        return
    _assert_well_typed(message)


def _records(cls: type[messages._Message]) -> st.SearchStrategy[dict[str, Any]]:
    """Every field of ``cls`` (and a few missing, a few extra) with hostile JSON values."""
    names = [f.name for f in dataclasses.fields(cls)]
    return st.fixed_dictionaries(
        {"v": st.sampled_from([1, 1, 1, 2, True, "1", None])},
        optional={**{n: hostile_json for n in names}, "extra": hostile_json},
    )


@pytest.mark.parametrize("cls", CLASSES)
@given(data=st.data())
@settings(max_examples=150)
def test_hostile_records_decode_well_typed_or_are_refused(
    cls: type[messages._Message], data: st.DataObject
) -> None:
    record = data.draw(_records(cls))
    try:
        raw = orjson.dumps(record)
    except TypeError:  # an integer orjson cannot write (past 64 bits): not a message
        return
    try:
        message = cls.decode(raw)
    except MessageError:
        return
    _assert_well_typed(message)
    assert type(message).decode(message.encode()) == message


_EVENT = {"v": 1, "event_id": "e", "tenant": 1, "event": "a.b", "id": 1, "occurred_at": 1}


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"event": None}, "event is null, not a string"),
        ({"tenant": True}, "tenant is a boolean, not an integer"),
        ({"id": []}, "id is a list"),
        ({"occurred_at": "x"}, "occurred_at is a string"),
        ({"tenant": 2**64 - 1}, "tenant is out of range"),
        ({"event_id": "e" * 1025}, "event_id is longer than 1024"),
        ({"id": None, "x": 2}, "unknown fields x"),
        ({"v": True}, "version"),
    ],
)
def test_a_wrong_event_says_which_field(changes: dict[str, Any], says: str) -> None:
    with pytest.raises(MessageError, match=says):
        Event.decode(orjson.dumps({**_EVENT, **changes}))


def test_a_missing_field_or_not_an_object_is_refused() -> None:
    with pytest.raises(MessageError, match="id is missing"):
        Event.decode(orjson.dumps({k: v for k, v in _EVENT.items() if k != "id"}))
    with pytest.raises(MessageError, match="not a JSON object"):
        Event.decode(b"[1]")


def test_a_subscription_with_null_events_is_refused() -> None:
    good = SubscriptionRecord(
        id=1,
        tenant=1,
        version=1,
        events=["order.created"],
        target_url="https://x",
        status="ACTIVE",
        secret="whsec_x",
        created_at=1.0,
        updated_at=1.0,
    )
    data = orjson.loads(good.encode())
    for events in (None, "order.created", [1], [None]):
        with pytest.raises(MessageError, match="events"):
            SubscriptionRecord.decode(orjson.dumps({**data, "events": events}))


def test_defaults_are_fresh_for_every_message() -> None:
    raw = (
        b'{"v": 1, "delivery_id": "d", "subscription_id": 1, "tenant": 1, "event": "a",'
        b' "event_id": "e", "attempt": 0, "at": 1, "outcome": "o", "reason": "r"}'
    )
    first, second = Attempt.decode(raw), Attempt.decode(raw)
    assert first.extra == {} and first.extra is not second.extra
    assert first.status is None and first.latency_ms is None


def test_nested_routed_records_are_checked_too() -> None:
    with pytest.raises(MessageError):
        RoutedBatch.decode_any(b'{"v": 1, "routed": [{"tenant": "1", "event_id": "e", "at": 1}]}')
    with pytest.raises(MessageError):
        RoutedBatch.decode_any(b'{"v": 1, "routed": [7]}')
