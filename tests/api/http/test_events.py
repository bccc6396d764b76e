"""The pure parts of ``POST /v2/event/publish`` (hookline.api.http.events): the limits each
event is checked against, and what a list that repeats an ``eventId`` publishes."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, MessageSizeTooLargeError

from hookline.api.http.errors import Unprocessable, unavailable_of
from hookline.api.http.events import _parse_events, unique
from hookline.core.limits import MAX_DEPTH

KNOWN = {"product.update"}


def event(**fields: Any) -> dict[str, Any]:
    return {"event": "product.update", "id": 1, "value": {"id": 1}, **fields}


def problems(items: list[Any]) -> dict[str, str]:
    with pytest.raises(Unprocessable) as caught:
        _parse_events(items, 4, KNOWN)
    return {d["field"]: d["message"] for d in caught.value.details}


def deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def test_a_list_that_repeats_an_event_id_publishes_the_first_and_keeps_the_order() -> None:
    x, y, x2 = (
        event(eventId="e1", value={"v": "X"}),
        event(eventId="e2", value={"v": "Y"}),
        event(eventId="e1", value={"v": "X2"}),
    )
    sent = unique(_parse_events([x, y, x2], 4, KNOWN))
    assert [(e.event_id, e.value) for e in sent] == [("e1", {"v": "X"}), ("e2", {"v": "Y"})]


@pytest.mark.parametrize(
    ("fields", "where", "says"),
    [
        ({"value": deep(MAX_DEPTH + 1)}, "value.a", f"more than {MAX_DEPTH} levels"),
        ({"value": deep(252)}, "value.a", f"more than {MAX_DEPTH} levels"),
        ({"value": {"name": "a\x00b"}}, "value.name", "NUL"),
        ({"value": {"a\x00": 1}}, "value", "NUL"),
        ({"value": {"k" * 257: 1}}, "value", "longer than 256"),
        ({"id": "1\x00"}, "id", "without control characters"),
        ({"eventId": "e\x00"}, "eventId", "without control characters"),
        ({"id": "line\nbreak"}, "id", "control characters"),
        ({"eventId": "tab\there"}, "eventId", "control characters"),
        ({"event": deep(1000)}, "event", "of JSON type object"),  # its repr() raised
    ],
)
def test_what_could_not_be_encoded_or_stored_is_a_422_naming_field_and_limit(
    fields: dict[str, Any], where: str, says: str
) -> None:
    found = problems([event(**fields)])
    (field,) = found
    assert field.startswith(where) and says in found[field], found


def test_the_field_of_an_event_in_a_list_says_which_event() -> None:
    found = problems([event(), event(value={"items": [{"name": "\x00"}]})])
    assert found == {
        "[1].value.items[0].name": "[1].value.items[0].name holds a NUL character (\\u0000),"
        " which PostgreSQL cannot store"
    }


def test_the_deepest_value_allowed_is_accepted() -> None:
    (one,) = _parse_events([event(value=deep(MAX_DEPTH))], 4, KNOWN)
    assert one.value == deep(MAX_DEPTH)


def test_a_database_or_broker_out_of_reach_is_a_503_and_a_bug_is_not() -> None:
    for down in (
        ConnectionRefusedError(111, "refused"),
        TimeoutError(),
        asyncpg.ConnectionDoesNotExistError("closed"),
        asyncpg.CannotConnectNowError("starting up"),
        asyncpg.TooManyConnectionsError("too many"),
        KafkaConnectionError(),
        KafkaTimeoutError(),
    ):
        answer = unavailable_of(down)
        assert answer is not None and answer.status == 503, down
        assert answer.headers == {"Retry-After": "5"}
    for bug in (ValueError("x"), asyncpg.UniqueViolationError("dup"), MessageSizeTooLargeError()):
        assert unavailable_of(bug) is None
