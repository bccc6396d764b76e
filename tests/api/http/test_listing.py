"""Tests for hookline.api.http.listing: list query strings to SQL parts, never user text in SQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookline.api.http.errors import Unprocessable
from hookline.api.http.listing import (
    ATTRIBUTES,
    OPERATORS,
    PARAM,
    SORTABLE,
    Condition,
    ListQuery,
    UnknownSort,
    order_by,
    parse_list_query,
    whole_number,
)
from hookline.api.http.present import MASKED_URL_SQL
from hookline.core.fields import parse_fields

FAST = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _problems(pairs: list[tuple[str, str]]) -> dict[str, str]:
    with pytest.raises(Unprocessable) as info:
        parse_list_query(pairs)
    return {d["field"]: d["message"] for d in info.value.details}


def test_defaults_are_newest_first_and_tripletex_paging() -> None:
    assert parse_list_query([]) == ListQuery(
        offset=0, count=1000, order="created_at DESC, id DESC", conditions=(), fields=None
    )


def test_from_count_and_fields() -> None:
    got = parse_list_query([("from", "20"), ("count", "5"), ("fields", "id,targetUrl")])
    assert (got.offset, got.count) == (20, 5)
    assert got.fields == parse_fields("id,targetUrl")


@pytest.mark.parametrize(
    ("sorting", "order"),
    [
        ("-createdAt,id", "created_at DESC, id ASC"),
        ("id", "id ASC"),
        ("status,-updatedAt", "status ASC, updated_at DESC, id DESC"),
        (" version , +id ", "version ASC, id ASC"),
        ("targetUrl", f"{MASKED_URL_SQL} ASC, id DESC"),
        ("id,id,-id", "id ASC"),
    ],
)
def test_sorting(sorting: str, order: str) -> None:
    assert parse_list_query([("sorting", sorting)]).order == order


@pytest.mark.parametrize("sorting", ["name", "-secret", "id,", "created_at", "id;DROP TABLE x"])
def test_sorting_names_the_bad_attribute(sorting: str) -> None:
    message = _problems([("sorting", sorting)])["sorting"]
    assert "cannot sort by" in message
    assert "createdAt" in message  # says what would work


@pytest.mark.parametrize(("fields", "position"), [("id,", 3), ("a(b", 1), ("*(x)", 1), (")", 0)])
def test_bad_fields_name_the_position(fields: str, position: int) -> None:
    assert _problems([("fields", fields)])["fields"].endswith(f"at position {position}")


def test_plain_filters() -> None:
    got = parse_list_query(
        [("event", "order.create"), ("status", "ACTIVE"), ("targetUrl", "https://x.io/")]
    )
    assert got.conditions == (
        Condition(f"{PARAM} = ANY(events)", "order.create"),
        Condition(f"status = {PARAM}", "ACTIVE"),
        Condition(f"{MASKED_URL_SQL} = {PARAM}", "https://x.io/"),
    )


@pytest.mark.parametrize(
    ("name", "value", "sql", "bound"),
    [
        ("filter[id][eq]", "7", f"id = {PARAM}", 7),
        ("filter[id][not_eq]", "-3", f"id <> {PARAM}", -3),
        ("filter[status][gte]", "B", f"status >= {PARAM}", "B"),
        ("filter[status][prefix]", "DISABLED", f"starts_with(status, {PARAM})", "DISABLED"),
        (
            "filter[targetUrl][suffix]",
            "/hook",
            f"right({MASKED_URL_SQL}, char_length({PARAM})) = {PARAM}",
            "/hook",
        ),
        (
            "filter[createdAt][lt]",
            "2024-05-01T12:00:00.123Z",
            f"date_trunc('milliseconds', created_at) < {PARAM}",
            datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC),
        ),
        (
            "filter[updatedAt][gt]",
            "2024-05-01T12:00:00",  # no offset: UTC
            f"date_trunc('milliseconds', updated_at) > {PARAM}",
            datetime(2024, 5, 1, 12, tzinfo=UTC),
        ),
        (
            "filter[updatedAt][lte]",
            "2024-05-01T14:00:00+02:00",
            f"date_trunc('milliseconds', updated_at) <= {PARAM}",
            datetime(2024, 5, 1, 12, tzinfo=UTC),
        ),
    ],
)
def test_operator_filters(name: str, value: str, sql: str, bound: object) -> None:
    (condition,) = parse_list_query([(name, value)]).conditions
    assert condition == Condition(sql, bound)


def test_every_operator_on_every_text_attribute() -> None:
    for attr in ("targetUrl", "status"):
        for op in OPERATORS:
            (condition,) = parse_list_query([(f"filter[{attr}][{op}]", "x")]).conditions
            assert condition.value == "x"
            assert PARAM in condition.sql


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("filter[id][prefix]", "1", "operators eq, not_eq"),
        ("filter[createdAt][suffix]", "Z", "operators eq, not_eq"),
        ("filter[secret][eq]", "x", "cannot filter on 'secret'"),
        ("filter[url][eq]", "x", "cannot filter on 'url'"),
        ("filter[id][like]", "1", "not 'like'"),
        ("filter[id][eq]", "one", "whole number"),
        ("filter[id][eq]", str(2**63), "out of range"),
        ("filter[createdAt][gt]", "yesterday", "ISO 8601"),
        ("filter[createdAt][gt]", "0001-01-01T00:00:00+14:00", "ISO 8601"),
        ("filter[status][eq]", "A\x00B", "NUL"),
        ("filter[id]", "1", "filter[attribute][operator]"),
        ("filter", "x", "filter[attribute][operator]"),
    ],
)
def test_bad_filters_are_named(name: str, value: str, words: str) -> None:
    problems = _problems([(name, value)])
    assert words in problems[name]


def test_every_problem_at_once_and_aliases_hinted() -> None:
    problems = _problems(
        [
            ("from", "-1"),
            ("count", "x"),
            ("sorting", "nope"),
            ("fields", "a("),
            ("filter[nope][eq]", "1"),
            ("sort", "id"),
            ("page[size]", "3"),
            ("status", "ACTIVE"),
            ("status", "DISABLED"),
        ]
    )
    assert set(problems) == {
        "from",
        "count",
        "sorting",
        "fields",
        "filter[nope][eq]",
        "sort",
        "page[size]",
        "status",
    }
    assert "sorting" in problems["sort"]
    assert "count" in problems["page[size]"]
    assert "once" in problems["status"]
    assert "between 0 and" in problems["from"]


def test_count_bounds() -> None:
    assert parse_list_query([("count", "0")]).count == 0
    assert parse_list_query([("count", "10000")]).count == 10000
    assert "count" in _problems([("count", "10001")])


_KEYS = st.sampled_from(
    ["from", "count", "sorting", "fields", "event", "status", "targetUrl", "filter", "x"]
    + [f"filter[{a}][{o}]" for a in [*ATTRIBUTES, "bad"] for o in [*OPERATORS, "bad"]]
)
_ALLOWED_ORDER_TERMS = {f"{sql} {d}" for sql in SORTABLE.values() for d in ("ASC", "DESC")}


def _every_condition_sql() -> set[str]:
    """Each SQL text a condition can have, from benign values: a finite set."""
    benign = {"int": "1", "time": "2024-01-01T00:00:00Z", "text": "x"}
    found = {c.sql for c in parse_list_query([("event", "x"), ("status", "x")]).conditions}
    found |= {c.sql for c in parse_list_query([("targetUrl", "x")]).conditions}
    for attr, attribute in ATTRIBUTES.items():
        for op in OPERATORS:
            name = f"filter[{attr}][{op}]"
            try:
                found |= {
                    c.sql for c in parse_list_query([(name, benign[attribute.kind])]).conditions
                }
            except Unprocessable:
                continue
    return found


_CONDITION_SQL = _every_condition_sql()


@FAST
@given(pairs=st.lists(st.tuples(_KEYS, st.text(max_size=30)), max_size=6))
def test_client_text_never_reaches_the_sql(pairs: list[tuple[str, str]]) -> None:
    try:
        got = parse_list_query(pairs)
    except Unprocessable as exc:
        assert exc.details
        return
    for term in got.order.split(", "):
        assert term in _ALLOWED_ORDER_TERMS
    for condition in got.conditions:
        assert condition.sql in _CONDITION_SQL


def test_the_condition_sql_set_is_complete() -> None:
    # 5 attributes x 6 comparisons + 2 text attributes x 2 more, less the plain
    # filters' duplicates of eq, plus the event filter.
    assert len(_CONDITION_SQL) == 5 * 6 + 2 * 2 + 1


@given(st.text(max_size=12))
def test_whole_number_takes_ascii_digits_only(raw: str) -> None:
    try:
        value = whole_number(raw, "page", 7, -5, 10**6)
    except ValueError as exc:
        assert str(exc).startswith("page must be")
        return
    if raw == "":
        assert value == 7
    else:
        assert value == int(raw) and -5 <= value <= 10**6
        assert raw.strip().lstrip("+-").isascii() and "_" not in raw


@pytest.mark.parametrize("raw", ["1_0", "\u0661", "\uff15", "1e3", "0x10", "1.0", "--1"])
def test_whole_number_refuses_what_int_reads_loosely(raw: str) -> None:
    with pytest.raises(ValueError, match="must be a whole number"):
        whole_number(raw, "size", 10, 0, 1000)


def test_order_by_is_the_one_sort_grammar() -> None:
    sortable = {"id": "id", "a": "col_a", "b": "col_a"}  # two names of one column
    assert order_by("-a,b", sortable, tie="id DESC") == "col_a DESC, id DESC"
    assert order_by("+a,-id", sortable, tie="id ASC") == "col_a ASC, id DESC"
    with pytest.raises(UnknownSort) as caught:
        order_by("+a", sortable, tie="id ASC", lenient=False)
    assert caught.value.name == "+a"
