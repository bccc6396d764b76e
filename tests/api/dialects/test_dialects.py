"""The dialects' pure mapping: native problems in each dialect's words, bodies mapped
to the native ones, Booqable's and ShareActor's list parameters."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookline.api.dialects import booqable, booqable_query, common, errors, orderspace, shareactor
from hookline.api.http.errors import ApiError, BadRequest, Conflict, Unprocessable
from hookline.api.http.validation import TargetPolicy, parse_create

CATALOG = {"order.created", "customer.created"}
STRICT = TargetPolicy(allow_http=False, allow_private=False)
BAD_BODIES: list[dict[str, Any]] = [
    {"events": ["order.created"]},
    {"targetUrl": "", "events": ["order.created"]},
    {"targetUrl": "http://example.com/", "events": ["order.created"]},
    {"targetUrl": "https://127.0.0.1/", "events": ["order.created"]},
    {"targetUrl": "https://a b/", "events": ["order.created"]},
    {"targetUrl": "https://example.com/" + "x" * 3000, "events": ["order.created"]},
    {"targetUrl": 7, "events": ["order.created"]},
    {"targetUrl": "https://example.com/"},
    {"targetUrl": "https://example.com/", "events": []},
    {"targetUrl": "https://example.com/", "events": ["order.explode"]},
    {"targetUrl": "https://example.com/", "events": ["order.explode", "x.y"]},
    {"targetUrl": "https://example.com/", "events": ["NOT AN EVENT"]},
    {"targetUrl": "https://example.com/", "events": [f"a.b{n}" for n in range(300)]},
    {"targetUrl": "https://example.com/", "event": 5},
]


def native_problems(body: dict[str, Any]) -> list[common.Problem]:
    with pytest.raises(Unprocessable) as caught:
        parse_create(body, CATALOG, STRICT)
    return common.describe(caught.value)


@pytest.mark.parametrize("body", BAD_BODIES)
def test_every_native_problem_has_a_phrase_without_native_names(body: dict[str, Any]) -> None:
    for p in native_problems(body):
        assert p.about in (common.TARGET, common.EVENTS), p
        assert "targetUrl" not in p.phrase and "'event'" not in p.phrase, p
        assert p.phrase and p.phrase[0].islower(), p


def test_orderspace_wording_is_rails() -> None:
    assert [d["message"] for d in orderspace.messages(native_problems(BAD_BODIES[0]))] == [
        "Endpoint can't be blank",
        "Endpoint must be a https url",
    ]
    (unknown,) = orderspace.messages(native_problems(BAD_BODIES[9]))
    assert unknown["message"] == "Events has an unknown event: order.explode (see GET /v2/event)"
    body = errors.orderspace(
        422, "validation_failed", "x", orderspace.messages(native_problems(BAD_BODIES[0]))
    )
    assert body == {
        "message": "Validation failed: Endpoint can't be blank, Endpoint must be a https url"
    }


def test_orderspace_bodies() -> None:
    webhook = {"endpoint": " ", "events": []}
    assert orderspace.native_body({"webhook": webhook}, create=True) == {
        "targetUrl": None,
        "events": None,
        "dialect": "orderspace",
    }
    assert orderspace.native_body({"webhook": {"events": ["a.b"]}}, create=False) == {
        "events": ["a.b"]
    }
    bad: object
    for bad in ([], {"endpoint": "x"}, {"webhook": "x"}, None):
        with pytest.raises(BadRequest):
            orderspace.native_body(bad, create=True)


def test_shareactor_issues_and_list_parameters() -> None:
    found = shareactor.issues(native_problems(BAD_BODIES[0]))
    assert found == [{"field": "endpoint", "message": "required field"}]
    assert shareactor.parse_list({}).order == "updated_at DESC, id DESC"
    query = shareactor.parse_list({"page": "2", "size": "5", "sort": "endpoint,-created"})
    assert (query.offset, query.count) == (10, 5)
    assert query.order.endswith("created_at DESC, id DESC")
    for bad in (
        {"sort": "colour"},
        {"size": "-1"},
        {"page": "x"},
        {"limit": "3"},
        {"size": "1001"},
    ):
        with pytest.raises(BadRequest):
            shareactor.parse_list(bad)


def test_booqable_errors_point_at_attributes() -> None:
    details = booqable.errors(native_problems({"events": ["order.explode"]}))
    assert {d["field"] for d in details} == {"/data/attributes/url", "/data/attributes/events"}
    rendered = errors.booqable(422, "validation_failed", "x", details)
    item = next(e for e in rendered["errors"] if e["source"]["pointer"].endswith("url"))
    assert item == {
        "code": "validation_failed",
        "status": "422",
        "title": "Validation Error",
        "detail": "Url can't be blank",
        "source": {"pointer": "/data/attributes/url"},
        "meta": {"attribute": "url", "message": "can't be blank"},
    }


def test_booqable_bodies() -> None:
    body = {"data": {"type": "webhook_endpoints", "attributes": {"url": "https://x.example"}}}
    assert booqable.native_body(body, create=False) == {"targetUrl": "https://x.example"}
    with pytest.raises(Conflict):
        booqable.native_body({"data": {"type": "orders"}}, create=True)
    with pytest.raises(BadRequest):
        booqable.native_body(body, create=False, path_id="abc")  # no data.id
    with pytest.raises(Conflict):
        booqable.native_body({"data": {**body["data"], "id": "abd"}}, create=False, path_id="abc")


def test_booqable_query() -> None:
    parsed = booqable_query.parse(
        [
            ("filter[url][not_match]", "x"),
            ("sort", "-url"),
            ("page[number]", "3"),
            ("page[size]", "10"),
            ("meta[total][]", "count"),
            ("fields[webhook_endpoints]", "url,events"),
        ]
    )
    assert (parsed.list.offset, parsed.list.count, parsed.total) == (20, 10, True)
    assert parsed.fields == frozenset({"url", "events"})
    (condition,) = parsed.list.conditions
    assert condition.sql.startswith("NOT (strpos(") and condition.value == "x"
    assert booqable_query.parse([]).list.order == booqable_query.DEFAULT_ORDER


KNOWN_SQL = {
    *booqable_query._TEXT.values(),
    *(f"NOT ({sql})" for sql in booqable_query._TEXT.values()),
    *(
        f"{attr} {op} {{p}}"
        for attr in ("id", "created_at", "updated_at")
        for op in booqable_query._COMPARE.values()
    ),
}


@given(st.lists(st.tuples(st.text(max_size=30), st.text(max_size=30)), max_size=6))
def test_booqable_query_takes_anything_without_crashing(pairs: list[tuple[str, str]]) -> None:
    try:
        parsed = booqable_query.parse(pairs)
    except ApiError as exc:
        assert exc.status == 400 and exc.details and "field" in exc.details[0]
        return
    for condition in parsed.list.conditions:  # only our SQL; the values are bound
        assert condition.sql in KNOWN_SQL


@given(st.text(max_size=50))
def test_shareactor_sort_takes_anything_without_crashing(text: str) -> None:
    try:
        order = shareactor.parse_sort(text)
    except BadRequest:
        return
    assert set(order.replace(",", " ").split()) <= {
        *shareactor.SORTABLE.values(),
        "ASC",
        "DESC",
        "id",
    } | set(" ".join(shareactor.SORTABLE.values()).split())


def test_blank_endpoints_and_events_are_the_natives_required() -> None:
    assert common.blanks({"targetUrl": " ", "event": "", "events": None}) == {
        "targetUrl": "targetUrl is required",
        "event": "give 'event' (one event type) or 'events' (a list)",
    }
    assert common.blanks({"targetUrl": "https://x.example/", "event": "order.created"}) == {}
    phrases = [common._problem(k, v).phrase for k, v in common.blanks({"targetUrl": ""}).items()]
    assert phrases == ["can't be blank"]
