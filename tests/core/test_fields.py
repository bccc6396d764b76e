"""Tests for hookline.core.fields: Tripletex ``fields`` parsing and projection."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookline.core.fields import (
    JSON,
    MAX_NESTING,
    FieldSelection,
    FieldsSyntaxError,
    format_fields,
    parse_fields,
    project,
)

FAST = settings(
    max_examples=75,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

INVOICE: dict[str, JSON] = {
    "id": 7,
    "version": 3,
    "url": "https://tripletex.no/v2/invoice/7",
    "invoiceNumber": 1001,
    "amount": 125.5,
    "isCredited": False,
    "comment": None,
    "currency": {"id": 1, "url": "https://tripletex.no/v2/currency/1", "code": "NOK"},
    "customer": {"id": 42, "name": "Acme AS", "address": {"id": 9, "city": "Oslo"}},
    "tags": ["a", "b"],
    "meta": {"source": "import"},
    "orderLines": [
        {
            "id": 100,
            "count": 2,
            "product": {"id": 5, "url": "https://tripletex.no/v2/product/5", "name": "Bolt"},
        },
        {"id": 101, "count": 1, "product": {"id": 6, "name": "Nut", "price": 3}},
    ],
}


def sel(star: bool = False, **children: FieldSelection | None) -> FieldSelection:
    return FieldSelection(star, children)


# --- parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", [None, "", "   ", "\t\n "])
def test_empty_expression_means_everything(text: str | None) -> None:
    assert parse_fields(text) is None
    assert project(INVOICE, parse_fields(text)) is INVOICE


def test_parse_tripletex_examples() -> None:
    assert parse_fields("*,currency(*)") == sel(True, currency=sel(True))
    assert parse_fields("id,name,orderLines(id,product(name))") == sel(
        id=None, name=None, orderLines=sel(id=None, product=sel(name=None))
    )


def test_whitespace_around_tokens_is_ignored() -> None:
    assert parse_fields("  id ,\tname , orderLines ( id , product( name ) )\n") == parse_fields(
        "id,name,orderLines(id,product(name))"
    )


def test_duplicates_merge() -> None:
    assert parse_fields("a(x),a(y)") == parse_fields("a(x,y)")
    assert parse_fields("a(x(p)),a(x(q),*)") == parse_fields("a(*,x(p,q))")
    assert parse_fields("a,a") == parse_fields("a")
    # An expansion absorbs a plain name, in either order.
    assert parse_fields("a,a(x)") == parse_fields("a(x)") == parse_fields("a(x),a")
    assert parse_fields("*,*,id") == parse_fields("*,id")


def test_parse_is_cached() -> None:
    assert parse_fields("id,name") is parse_fields("id,name")


def test_format_is_canonical() -> None:
    assert format_fields(sel(True, b=None, a=sel(True, y=None, x=None))) == "*,a(*,x,y),b"
    assert format_fields(parse_fields(" b , * , a ( y,x ) ") or sel(True)) == "*,a(x,y),b"


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("a,,b", 2, "expected a field name"),
        ("a,", 2, "expected a field name"),
        (",a", 0, "expected a field name"),
        ("()", 0, "expected a field name"),
        ("a()", 2, "expected a field name"),
        ("a( )", 3, "expected a field name"),
        ("a(b", 1, "unclosed '('"),
        ("x,a(b(c)", 3, "unclosed '('"),
        ("a)", 1, "unmatched ')'"),
        ("a(b))", 4, "unmatched ')'"),
        ("a b", 2, "expected ',' or end of input"),
        ("a-b", 1, "expected ',' or end of input"),
        ("a(b c)", 4, "expected ',' or ')'"),
        ("a[b]", 1, "expected ',' or end of input"),
        ("*(a)", 1, "'*' cannot be expanded"),
        ("1abc", 0, "expected a field name"),
        ("id,navn\u00e6", 7, "expected ',' or end of input"),
    ],
)
def test_syntax_errors(text: str, position: int, message: str) -> None:
    with pytest.raises(FieldsSyntaxError) as info:
        parse_fields(text)
    assert info.value.position == position
    assert info.value.message == message
    assert str(info.value) == f"fields: {message} at position {position}"
    assert isinstance(info.value, ValueError)


def test_error_message_reads_like_the_design() -> None:
    with pytest.raises(FieldsSyntaxError, match=r"^fields: expected a field name at position 4$"):
        parse_fields("id, ,x")


def test_nesting_limit() -> None:
    ok = "a(" * MAX_NESTING + "b" + ")" * MAX_NESTING
    assert parse_fields(ok) is not None
    too_deep = "a(" * (MAX_NESTING + 1) + "b" + ")" * (MAX_NESTING + 1)
    with pytest.raises(FieldsSyntaxError, match="nested deeper") as info:
        parse_fields(too_deep)
    assert info.value.position == 2 * MAX_NESTING + 1


def test_syntax_error_pickles() -> None:
    error = FieldsSyntaxError("expected a field name", 3)
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.message, clone.position, str(clone)) == (error.message, 3, str(error))


def test_field_selection_is_immutable_and_hashable() -> None:
    children: dict[str, FieldSelection | None] = {"a": None}
    selection = FieldSelection(False, children)
    children["b"] = None
    assert dict(selection.children) == {"a": None}
    with pytest.raises(TypeError):
        selection.children["c"] = None  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        selection.star = True  # type: ignore[misc]
    assert hash(selection) == hash(sel(a=None))
    assert {selection, sel(a=None)} == {selection}


@pytest.mark.parametrize(
    ("star", "children"),
    [(False, {}), (True, {"": None}), (True, {"a-b": None}), (False, {"1a": None})],
)
def test_field_selection_rejects_what_cannot_be_written(
    star: bool, children: dict[str, FieldSelection | None]
) -> None:
    with pytest.raises(ValueError):
        FieldSelection(star, children)


# --- projection ------------------------------------------------------------------------


def fields(value: JSON, text: str) -> JSON:
    return project(value, parse_fields(text))


def test_star_with_expanded_currency() -> None:
    assert fields(INVOICE, "*,currency(*)") == {
        "id": 7,
        "version": 3,
        "url": "https://tripletex.no/v2/invoice/7",
        "invoiceNumber": 1001,
        "amount": 125.5,
        "isCredited": False,
        "comment": None,
        "currency": {"id": 1, "url": "https://tripletex.no/v2/currency/1", "code": "NOK"},
        "customer": {"id": 42},
        "tags": ["a", "b"],
        "meta": {},
        "orderLines": [{"id": 100}, {"id": 101}],
    }


def test_named_fields_with_nested_expansion() -> None:
    assert fields(INVOICE, "id,name,orderLines(id,product(name))") == {
        "id": 7,
        "orderLines": [
            {"id": 100, "product": {"name": "Bolt"}},
            {"id": 101, "product": {"name": "Nut"}},
        ],
    }


def test_expanded_star_reduces_the_next_level() -> None:
    assert fields(INVOICE, "customer(*)") == {
        "customer": {"id": 42, "name": "Acme AS", "address": {"id": 9}}
    }
    assert fields(INVOICE, "customer(*,address(*))") == {
        "customer": {"id": 42, "name": "Acme AS", "address": {"id": 9, "city": "Oslo"}}
    }


def test_plain_name_reduces_objects_to_references() -> None:
    assert fields(INVOICE, "currency,customer,meta,orderLines") == {
        "currency": {"id": 1, "url": "https://tripletex.no/v2/currency/1"},
        "customer": {"id": 42},
        "meta": {},
        "orderLines": [{"id": 100}, {"id": 101}],
    }


def test_plain_name_on_scalars_and_null() -> None:
    assert fields(INVOICE, "amount,comment,isCredited,tags") == {
        "amount": 125.5,
        "comment": None,
        "isCredited": False,
        "tags": ["a", "b"],
    }


def test_expanding_a_scalar_or_null_passes_it_through() -> None:
    assert fields(INVOICE, "amount(x),comment(*)") == {"amount": 125.5, "comment": None}


def test_absent_fields_are_absent() -> None:
    assert fields(INVOICE, "id,nope,customer(nope)") == {"id": 7, "customer": {}}
    assert fields({"id": 1}, "missing(*)") == {}


def test_arrays() -> None:
    value: JSON = {
        "mixed": [1, {"id": 2, "x": 3}, None, [{"id": 4, "y": 5}, "s"]],
        "scalars": [1, 2, 3],
        "empty": [],
    }
    assert fields(value, "*") == {
        "mixed": [1, {"id": 2}, None, [{"id": 4}, "s"]],
        "scalars": [1, 2, 3],
        "empty": [],
    }
    assert fields(value, "mixed(x,y)") == {"mixed": [1, {"x": 3}, None, [{"y": 5}, "s"]]}


def test_top_level_array_and_scalars() -> None:
    assert fields([{"id": 1, "a": 2}, {"a": 3, "b": 4}, 5], "a") == [{"a": 2}, {"a": 3}, 5]
    assert fields("text", "*") == "text"
    assert fields(3, "a") == 3


def test_none_value_projects_to_none() -> None:
    assert fields(None, "*,currency(*)") is None
    assert project(None, None) is None


def test_named_item_overrides_star_only_for_its_key() -> None:
    value: JSON = {"a": {"id": 1, "x": 2}, "b": {"id": 3, "y": 4}}
    assert fields(value, "*,a(x)") == {"a": {"x": 2}, "b": {"id": 3}}
    assert fields(value, "a(x),*") == fields(value, "*,a(x)")


def test_output_keeps_input_key_order() -> None:
    result = fields({"c": 1, "a": 2, "b": 3}, "b,a,c")
    assert isinstance(result, dict)
    assert list(result) == ["c", "a", "b"]


def test_reference_keeps_id_and_url_as_they_are() -> None:
    value: JSON = {"ref": {"url": "u", "id": {"odd": [1]}, "name": "n"}}
    assert fields(value, "ref") == {"ref": {"id": {"odd": [1]}, "url": "u"}}


def test_project_never_mutates_its_input() -> None:
    before = copy.deepcopy(INVOICE)
    for text in ["*", "*,currency(*)", "customer(*,address(*))", "orderLines(*,product)"]:
        fields(INVOICE, text)
    assert before == INVOICE


# --- properties ------------------------------------------------------------------------

names = st.sampled_from(["id", "url", "a", "b", "c", "orderLines"]) | st.from_regex(
    r"[A-Za-z_][A-Za-z0-9_]{0,4}", fullmatch=True
)


def _selection(star: bool, children: dict[str, FieldSelection | None]) -> FieldSelection:
    return FieldSelection(star or not children, children)


child_selections: st.SearchStrategy[FieldSelection | None] = st.recursive(
    st.none(),
    lambda inner: st.builds(_selection, st.booleans(), st.dictionaries(names, inner, max_size=4)),
    max_leaves=12,
)
selections: st.SearchStrategy[FieldSelection] = st.builds(
    _selection, st.booleans(), st.dictionaries(names, child_selections, max_size=4)
)

scalars: st.SearchStrategy[JSON] = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5)
)
json_values: st.SearchStrategy[JSON] = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=5),
    max_leaves=25,
)
json_objects: st.SearchStrategy[dict[str, JSON]] = st.dictionaries(names, json_values, max_size=6)


@FAST
@given(selections)
def test_format_parse_round_trip(selection: FieldSelection) -> None:
    text = format_fields(selection)
    assert parse_fields(text) == selection
    assert format_fields(parse_fields(text) or sel(True)) == text


@FAST
@given(json_objects, selections)
def test_star_at_top_keeps_exactly_the_top_level_keys(
    value: dict[str, JSON], selection: FieldSelection
) -> None:
    starred = dataclasses.replace(selection, star=True)
    for chosen in (sel(True), starred):
        result = project(value, chosen)
        assert isinstance(result, dict)
        assert list(result) == list(value)


@FAST
@given(json_values, selections)
def test_projection_is_idempotent(value: JSON, selection: FieldSelection) -> None:
    once = project(value, selection)
    assert project(once, selection) == once


def _assert_within(out: Any, source: Any) -> None:
    """``out`` has ``source``'s shape with keys dropped; scalars are unchanged."""
    if isinstance(out, dict):
        assert isinstance(source, dict)
        assert set(out) <= set(source)
        for key, item in out.items():
            _assert_within(item, source[key])
    elif isinstance(out, list):
        assert isinstance(source, list)
        assert len(out) == len(source)
        for item, original in zip(out, source, strict=True):
            _assert_within(item, original)
    else:
        assert out is source or out == source


@FAST
@given(json_values, selections)
def test_output_keys_are_a_subset_of_input_keys(value: JSON, selection: FieldSelection) -> None:
    before = copy.deepcopy(value)
    _assert_within(project(value, selection), value)
    assert value == before


@FAST
@given(st.text(max_size=30) | st.text(alphabet="ab_1*(), \t", max_size=30))
def test_parse_only_raises_syntax_errors(text: str) -> None:
    try:
        selection = parse_fields(text)
    except FieldsSyntaxError as error:
        assert 0 <= error.position <= len(text)
        return
    if selection is None:
        assert not text.strip()
    else:
        assert parse_fields(format_fields(selection)) == selection
