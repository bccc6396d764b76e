"""Sources: records of a producer's own topic mapped to events (pure; no broker)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hookline.core.limits import MAX_EVENT_BYTES, find_problem
from hookline.core.messages import Event, SourceRecord
from hookline.core.sources import (
    Record,
    Refusal,
    Refused,
    Source,
    map_record,
    parse_path,
    problems,
    source_of,
)

PREFIX = "hookline"
CE = Source(name="orders", topic="orders", format="cloudevents", version=0)
JSON_SOURCE = source_of(
    SourceRecord(
        name="shop",
        topic="shop.events",
        format="json",
        version=0,
        created_at=0.0,
        updated_at=0.0,
        paths={
            "event": "$.kind",
            "id": "$.order.id",
            "tenant": "meta.tenant",
            "version": "$.order.rev",
            "eventId": "$.meta.uuid",
            "value": "$.order",
        },
    ),
    prefix=PREFIX,
)
STRUCTURED = [("content-type", b"application/cloudevents+json; charset=UTF-8")]


def cloudevent(**extra: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "ev-1",
        "source": "/orders",
        "type": "order.update",
        "subject": "42",
        "hooklinetenant": "7",
        "time": "2026-12-01T12:00:00Z",
        "data": {"id": 42, "total": 9.5},
        **extra,
    }


def binary_headers(**attributes: str) -> list[tuple[str, bytes | None]]:
    base = {"specversion": "1.0", "id": "ev-2", "source": "/o", "type": "order.create"}
    merged = {**base, "subject": "42", "hooklinetenant": "7", **attributes}
    headers = [(f"ce_{k}", v.encode()) for k, v in merged.items()]
    return [*headers, ("content-type", b"application/json")]


def test_a_structured_cloudevent_maps_type_id_subject_tenant_time_and_data() -> None:
    record = Record(None, orjson.dumps(cloudevent(hooklineversion=3)), STRUCTURED)
    event = map_record(CE, record)
    assert event == Event(
        event_id="/orders:ev-1",
        tenant=7,
        event="order.update",
        id=42,
        occurred_at=1796126400.0,
        value={"id": 42, "total": 9.5},
        version=3,
    )


def test_a_binary_cloudevent_maps_its_ce_headers_and_the_value_as_data() -> None:
    record = Record(b"k", b'{"id": 42}', binary_headers(hooklineversion="5"), timestamp_ms=1500)
    event = map_record(CE, record)
    assert isinstance(event, Event)
    assert (event.event_id, event.tenant, event.event, event.id) == (
        "/o:ev-2",
        7,
        "order.create",
        42,
    )
    assert (event.version, event.value, event.occurred_at) == (5, {"id": 42}, 1.5)


def test_a_binary_tombstone_is_an_event_without_a_value() -> None:
    event = map_record(CE, Record(None, None, binary_headers(type="order.delete")))
    assert isinstance(event, Event) and event.value is None and event.event == "order.delete"


def test_a_subject_that_is_not_a_canonical_number_stays_a_string() -> None:
    for subject in ("007", "A-42", "1.5"):
        record = Record(None, orjson.dumps(cloudevent(subject=subject)), STRUCTURED)
        event = map_record(CE, record)
        assert isinstance(event, Event) and event.id == subject


def test_the_type_prefix_is_taken_off_and_a_type_without_it_is_refused() -> None:
    source = Source(
        name="o", topic="o", format="cloudevents", version=0, type_prefix="com.example."
    )
    good = Record(None, orjson.dumps(cloudevent(type="com.example.order.update")), STRUCTURED)
    event = map_record(source, good)
    assert isinstance(event, Event) and event.event == "order.update"
    bad = map_record(source, Record(None, orjson.dumps(cloudevent()), STRUCTURED))
    assert isinstance(bad, Refused) and "does not start with 'com.example.'" in bad.reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"specversion": "0.3"}, "only CloudEvents 1.0"),
        ({"id": ""}, "id: a CloudEvent's id is a required"),
        ({"hooklinetenant": None}, "hooklinetenant: the tenant extension attribute is missing"),
        ({"hooklinetenant": "seven"}, "the tenant must be a tenant id"),
        ({"hooklinetenant": True}, "the tenant must be a tenant id"),
        ({"subject": None}, "subject: the object id (subject) is missing"),
        ({"type": "OrderCreated"}, "event types are 'object.verb'"),
        ({"data": [1, 2]}, "the value must be a JSON object"),
        ({"data": {"a": "x\u0000"}}, "value.a holds a NUL character"),
        ({"datacontenttype": "text/xml"}, "the data must be JSON"),
        ({"data_base64": "AAAA"}, "data_base64: the data must be JSON"),
        ({"time": "yesterday"}, "time: an RFC 3339 timestamp"),
        ({"time": "2026-12-01T12:00:00"}, "time: an RFC 3339 timestamp"),
        ({"hooklineversion": "3.5"}, "hooklineversion: the version must be a whole number"),
    ],
)
def test_a_structured_cloudevent_that_breaks_a_rule_is_refused_with_why(
    change: dict[str, Any], reason: str
) -> None:
    event = {k: v for k, v in {**cloudevent(), **change}.items() if v is not None}
    refused = map_record(CE, Record(None, orjson.dumps(event), STRUCTURED))
    assert isinstance(refused, Refused), refused
    assert reason in refused.reason


def test_the_refusal_names_the_tenant_once_it_was_read() -> None:
    refused = map_record(CE, Record(None, orjson.dumps(cloudevent(type="x")), STRUCTURED))
    assert isinstance(refused, Refused) and refused.tenant == "7"


def test_a_record_that_is_no_cloudevent_in_either_mode_is_refused() -> None:
    refused = map_record(CE, Record(None, b'{"id": 1}', [("content-type", b"application/json")]))
    assert isinstance(refused, Refused)
    assert "no ce_specversion header (binary mode)" in refused.reason


def test_a_repeated_or_non_utf8_ce_header_is_refused() -> None:
    repeated = Record(None, b"{}", [*binary_headers(), ("ce_type", b"order.delete")])
    refused = map_record(CE, repeated)
    assert isinstance(refused, Refused) and "'ce_type' appears more than once" in refused.reason
    garbled = Record(None, b"{}", [*binary_headers()[1:], ("ce_specversion", b"\xff")])
    refused = map_record(CE, garbled)
    assert isinstance(refused, Refused) and "'ce_specversion' is not UTF-8" in refused.reason


def test_an_event_type_outside_the_catalog_is_refused() -> None:
    record = Record(None, orjson.dumps(cloudevent()), STRUCTURED)
    refused = map_record(CE, record, known=lambda name: name == "order.create")
    assert isinstance(refused, Refused) and "is not in the catalog" in refused.reason


def test_a_value_over_the_size_limit_is_refused_before_it_is_read() -> None:
    refused = map_record(CE, Record(None, b" " * (MAX_EVENT_BYTES + 1), STRUCTURED))
    assert isinstance(refused, Refused) and "at most 1000000" in refused.reason


def shop(**order: Any) -> bytes:
    body = {"kind": "order.update", "order": {"id": 9, "rev": 2, **order}}
    return orjson.dumps({**body, "meta": {"tenant": 3, "uuid": "u-1"}})


def test_a_json_record_maps_through_its_paths() -> None:
    event = map_record(JSON_SOURCE, Record(None, shop(), timestamp_ms=2000))
    assert event == Event(
        event_id="u-1",
        tenant=3,
        event="order.update",
        id=9,
        occurred_at=2.0,
        value={"id": 9, "rev": 2},
        version=2,
    )


def test_a_json_record_without_an_event_id_takes_its_place_in_the_topic() -> None:
    source = source_of(
        SourceRecord(
            name="bare",
            topic="bare",
            format="json",
            version=0,
            created_at=0.0,
            updated_at=0.0,
            paths={"event": "e", "id": "o[0]", "tenant": "t"},
        ),
        prefix=PREFIX,
    )
    body = orjson.dumps({"e": "order.create", "o": ["A1"], "t": 1})
    event = map_record(source, Record(None, body, partition=1, offset=77), now=5.0)
    assert isinstance(event, Event)
    assert (event.event_id, event.id, event.occurred_at) == ("bare:bare:1:77", "A1", 5.0)
    assert event.value == {"e": "order.create", "o": ["A1"], "t": 1}  # the whole record
    stamped = map_record(source, Record(None, body, partition=1, offset=77, timestamp_ms=1234))
    assert isinstance(stamped, Event) and stamped.event_id == "bare:bare:1:77:1234"


def test_the_same_place_in_another_topic_or_a_topic_made_again_is_another_event() -> None:
    """The router remembers eventIds for a day: a source moved to another topic, or a
    topic deleted and made again, starts at offset 0 again, and its records must not be
    taken for the ones read before."""
    first, moved = (
        source_of(
            SourceRecord(
                name="bare",
                topic=topic,
                format="json",
                version=0,
                created_at=0.0,
                updated_at=0.0,
                paths={"event": "e", "id": "o", "tenant": "t"},
            ),
            prefix=PREFIX,
        )
        for topic in ("shop.v1", "shop.v2")
    )
    body = orjson.dumps({"e": "order.create", "o": 1, "t": 1})
    found = [
        map_record(source, Record(None, body, offset=0, timestamp_ms=stamp))
        for source, stamp in ((first, 1000), (moved, 1000), (first, 2000))
    ]
    ids = {e.event_id for e in found if isinstance(e, Event)}
    assert len(ids) == 3, found
    again = map_record(first, Record(None, body, offset=0, timestamp_ms=1000))
    assert isinstance(again, Event) and again.event_id in ids  # read again: the same


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "the value is missing (a null value)"),
        (b"[1]", "the value must be a JSON object"),
        (b"{", "the value is not JSON"),
        (b'{"kind": "order.update"}', "id: nothing at $.order.id"),
        (b'{"kind": 5, "order": {"id": 1}, "meta": {"tenant": 1}}', "event type: must be a"),
        (b'{"kind": "order.update", "order": {"id": 1}, "meta": {"tenant": "1"}}', None),
        (b'{"kind": "order.update", "order": {"id": 1}, "meta": {"tenant": 0}}', "tenant id"),
        (b'{"kind": "order.update", "order": {"id": true}, "meta": {"tenant": 1}}', "object id"),
    ],
)
def test_a_json_record_that_breaks_a_rule_is_refused_with_why(
    value: bytes | None, reason: str | None
) -> None:
    mapped = map_record(JSON_SOURCE, Record(None, value))
    if reason is None:
        assert isinstance(mapped, Event) and mapped.tenant == 1
    else:
        assert isinstance(mapped, Refused), mapped
        assert reason in mapped.reason


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("$", ()),
        ("$.a.b", ("a", "b")),
        ("a.b[0]", ("a", "b", 0)),
        ("$[2].x-y", (2, "x-y")),
        ("_id", ("_id",)),
    ],
)
def test_paths_parse(text: str, steps: tuple[str | int, ...]) -> None:
    assert parse_path(text).steps == steps


@pytest.mark.parametrize("text", ["", "$a", "a..b", "a[x]", "a[-1]", "1a", "a.", "$.a b", "a[0"])
def test_paths_outside_the_grammar_are_refused(text: str) -> None:
    with pytest.raises(Refusal):
        parse_path(text)


def test_a_definition_is_checked_field_by_field() -> None:
    record = SourceRecord(
        name="Bad Name",
        topic="hookline.events",
        format="avro",
        version=0,
        created_at=0.0,
        updated_at=0.0,
        tenant_attribute="hookline_tenant",
        paths={"event": "$.e"},
    )
    found = problems(record, prefix=PREFIX)
    assert set(found) == {"name", "topic", "format", "tenantAttribute", "paths"}
    assert "one of Hookline's own" in found["topic"]
    json_record = SourceRecord(
        name="j",
        topic="t",
        format="json",
        version=0,
        created_at=0.0,
        updated_at=0.0,
        paths={"event": "$.e", "id": "a..b", "colour": "$.c"},
    )
    found = problems(json_record, prefix=PREFIX)
    assert set(found) == {"paths.id", "paths.tenant", "paths.colour"}
    with pytest.raises(Refusal, match=r"paths\.tenant"):
        source_of(json_record, prefix=PREFIX)


# --- properties: any record maps to a valid event or a reason, and never raises ----------

INTS = st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what orjson reads
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | INTS
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
ATTRIBUTE_TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["1.0", "7", "42", "order.create", "order.delete", "2026-12-01T00:00:00Z"]),
)
CE_NAMES = st.sampled_from(
    ["specversion", "id", "source", "type", "subject", "hooklinetenant", "hooklineversion", "time"]
)
CE_HEADERS = st.lists(
    st.tuples(
        st.one_of(CE_NAMES.map(lambda n: f"ce_{n}"), st.just("content-type"), st.text(max_size=8)),
        st.one_of(st.none(), st.binary(max_size=20), ATTRIBUTE_TEXT.map(str.encode)),
    ),
    max_size=10,
)
CE_OBJECTS = st.dictionaries(
    st.one_of(CE_NAMES, st.sampled_from(["data", "data_base64", "datacontenttype"])),
    st.one_of(ATTRIBUTE_TEXT, JSON_VALUES),
)
VALUES = st.one_of(
    st.none(),
    st.binary(max_size=60),
    JSON_VALUES.map(orjson.dumps),
    CE_OBJECTS.map(orjson.dumps),
)


def assert_valid(mapped: Event | Refused) -> None:
    """What every later step relies on: an event that decodes back to itself within the
    limits, or a refusal that says something."""
    if isinstance(mapped, Refused):
        assert mapped.reason
        return
    assert Event.decode(mapped.encode()) == mapped
    assert 0 < mapped.tenant < 2**63
    assert find_problem(mapped.value, "value") is None
    assert mapped.value is None or isinstance(mapped.value, dict)
    assert len(mapped.encode()) <= MAX_EVENT_BYTES


@settings(max_examples=200, deadline=None)
@given(
    value=VALUES,
    headers=CE_HEADERS,
    structured=st.booleans(),
    offset=st.integers(min_value=0, max_value=2**40),
    timestamp=st.one_of(st.none(), st.integers(min_value=-(2**40), max_value=2**45)),
)
def test_any_record_of_a_cloudevents_source_maps_or_is_refused(
    value: bytes | None,
    headers: list[tuple[str, bytes | None]],
    structured: bool,
    offset: int,
    timestamp: int | None,
) -> None:
    if structured:
        headers = [*STRUCTURED, *headers]
    record = Record(None, value, headers, offset=offset, timestamp_ms=timestamp)
    assert_valid(map_record(CE, record, now=1.0))


@settings(max_examples=200, deadline=None)
@given(
    record=st.dictionaries(
        st.sampled_from(["kind", "order", "meta", "x"]),
        st.one_of(
            JSON_VALUES,
            st.fixed_dictionaries(
                {"tenant": JSON_VALUES | INTS, "uuid": JSON_VALUES},
            ),
            st.fixed_dictionaries({"id": JSON_VALUES, "rev": JSON_VALUES | INTS}),
            st.sampled_from(["order.update", "order.delete"]),
        ),
    ),
)
def test_any_record_of_a_json_source_maps_or_is_refused(record: dict[str, Any]) -> None:
    assert_valid(map_record(JSON_SOURCE, Record(None, orjson.dumps(record)), now=1.0))


@settings(deadline=None)
@given(st.text(max_size=40))
def test_any_text_parses_as_a_path_or_is_refused(text: str) -> None:
    try:
        path = parse_path(text)
    except Refusal as exc:
        assert exc.reason
    else:
        assert path.text == text
        assert path.get({"a": [1]}) is not None


OBJECTS = st.dictionaries(st.text(max_size=10).filter(lambda k: "\x00" not in k), JSON_VALUES)


@settings(max_examples=200, deadline=None)
@given(
    tenant=st.integers(min_value=1, max_value=2**63 - 1),
    object_id=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    event_id=st.text(min_size=1, max_size=50).filter(lambda t: t.isprintable()),
    data=OBJECTS,
    binary=st.booleans(),
)
def test_a_well_formed_cloudevent_maps_to_exactly_its_fields(
    tenant: int, object_id: int, event_id: str, data: dict[str, Any], binary: bool
) -> None:
    if find_problem(data, "value") is not None:
        return  # refused, as tested above; here the fields that must come through
    attributes = {"id": event_id, "subject": str(object_id), "hooklinetenant": str(tenant)}
    if binary:
        record = Record(None, orjson.dumps(data), binary_headers(**attributes))
    else:
        record = Record(None, orjson.dumps(cloudevent(**attributes, data=data)), STRUCTURED)
    event = map_record(CE, record)
    assert isinstance(event, Event), event
    assert (event.tenant, event.id, event.event_id, event.value) == (
        tenant,
        object_id,
        f"{'/o' if binary else '/orders'}:{event_id}",
        data,
    )


def test_a_cloudevents_eventid_is_its_source_and_id() -> None:
    """CloudEvents are unique by source and id together: two producers' id 1 are two
    events (the router dedupes, and receivers tell deliveries apart, by eventId)."""

    def event_id(**attributes: str) -> str:
        record = Record(None, orjson.dumps(cloudevent(**attributes)), STRUCTURED)
        event = map_record(CE, record)
        assert isinstance(event, Event), event
        return event.event_id

    assert event_id(source="/billing", id="1") != event_id(source="/shipping", id="1")
    assert event_id(source="/billing", id="1") == event_id(source="/billing", id="1")
    assert event_id(source="urn:a", id="b:c") == "urn%3Aa:b:c"
    assert event_id(source="urn:a:b", id="c") == "urn%3Aa%3Ab:c"  # not the pair above
    too_long = map_record(CE, Record(None, orjson.dumps(cloudevent(source="s" * 201)), STRUCTURED))
    assert too_long == Refused("source: a string of 1 to 200 characters, without control ones")


# --- a source limited to tenants ---------------------------------------------------------

FIXED = Source(name="orders", topic="orders", format="cloudevents", version=0, tenant=7)
LISTED = Source(
    name="orders", topic="orders", format="cloudevents", version=0, tenants=frozenset({7, 9})
)


def structured(**extra: Any) -> Record:
    return Record(None, orjson.dumps(cloudevent(**extra)), STRUCTURED)


def test_a_fixed_tenant_is_every_record_s_that_names_none_or_itself() -> None:
    event = cloudevent()
    del event["hooklinetenant"]
    unnamed = map_record(FIXED, Record(None, orjson.dumps(event), STRUCTURED))
    assert isinstance(unnamed, Event) and unnamed.tenant == 7
    same = map_record(FIXED, structured(hooklinetenant="7"))
    assert isinstance(same, Event) and same.tenant == 7
    headers = [h for h in binary_headers() if h[0] != "ce_hooklinetenant"]
    binary = map_record(FIXED, Record(None, b"{}", headers))
    assert isinstance(binary, Event) and binary.tenant == 7


def test_a_record_naming_a_tenant_its_source_does_not_allow_is_refused_on_no_tenant() -> None:
    assert map_record(FIXED, structured(hooklinetenant="8")) == Refused(
        "hooklinetenant: tenant 8 is not this source's (it is for tenant 7 only)"
    )
    assert map_record(LISTED, structured(hooklinetenant="8")) == Refused(
        "hooklinetenant: tenant 8 is not this source's (it is for tenants 7, 9 only)"
    )
    allowed = map_record(LISTED, structured(hooklinetenant="9"))
    assert isinstance(allowed, Event) and allowed.tenant == 9
    # A list needs each record to name its tenant, as a source without limit does.
    event = cloudevent()
    del event["hooklinetenant"]
    missing = map_record(LISTED, Record(None, orjson.dumps(event), STRUCTURED))
    assert isinstance(missing, Refused) and "extension attribute is missing" in missing.reason


def shop_source(**limit: Any) -> Source:
    paths = {"event": "$.kind", "id": "$.order.id", "value": "$.order"}
    record = SourceRecord("shop", "shop", "json", 0, 0.0, 0.0, paths=paths, **limit)
    return source_of(record, prefix=PREFIX)


def test_a_json_source_with_a_fixed_tenant_needs_no_tenant_path() -> None:
    source = shop_source(tenant=7)
    mapped = map_record(source, Record(None, shop(id=1)))
    assert isinstance(mapped, Event) and (mapped.tenant, mapped.id) == (7, 1)
    with_path = source_of(
        SourceRecord(
            "shop",
            "shop",
            "json",
            0,
            0.0,
            0.0,
            paths={"event": "$.kind", "id": "$.order.id", "tenant": "meta.tenant"},
            tenant=7,
        ),
        prefix=PREFIX,
    )
    unnamed = {"kind": "order.update", "order": {"id": 1}}
    assert isinstance(map_record(with_path, Record(None, orjson.dumps(unnamed))), Event)
    named = orjson.dumps({**unnamed, "meta": {"tenant": 8}})
    refused = map_record(with_path, Record(None, named))
    assert refused == Refused("tenant: tenant 8 is not this source's (it is for tenant 7 only)")
    with pytest.raises(Refusal, match=r"paths\.tenant: paths\.tenant is required"):
        shop_source()  # without a fixed tenant, the path is required


@pytest.mark.parametrize(
    ("limit", "field", "says"),
    [
        ({"tenant": 7, "tenants": [7]}, "tenants", "not both"),
        ({"tenant": 0}, "tenant", "positive whole number"),
        ({"tenant": True}, "tenant", "positive whole number"),
        ({"tenant": 2**63}, "tenant", "positive whole number"),
        ({"tenants": [1, -2]}, "tenants", "positive whole numbers"),
        ({"tenants": [1, "2"]}, "tenants", "positive whole numbers"),
        ({"tenants": [3, 3]}, "tenants", "each tenant once"),
        ({"tenants": list(range(1, 1002))}, "tenants", "at most 1000"),
    ],
)
def test_a_tenant_limit_is_checked(limit: dict[str, Any], field: str, says: str) -> None:
    record = SourceRecord("s", "t", "cloudevents", 0, 0.0, 0.0, **limit)
    found = problems(record, prefix=PREFIX)
    assert set(found) == {field} and says in found[field], found


def test_a_source_without_a_limit_is_encoded_as_before_it_existed() -> None:
    record = SourceRecord("s", "t", "cloudevents", 0, 0.0, 0.0)
    assert not {"tenant", "tenants"} & set(orjson.loads(record.encode()))
    assert SourceRecord.decode(record.encode()) == record
    limited = SourceRecord("s", "t", "cloudevents", 0, 0.0, 0.0, tenants=[3, 4])
    assert SourceRecord.decode(limited.encode()) == limited


@settings(max_examples=200, deadline=None)
@given(
    fixed=st.one_of(st.none(), st.integers(1, 20)),
    allowed=st.frozensets(st.integers(1, 20), max_size=4),
    named=st.one_of(st.none(), st.integers(-3, 25).map(str), st.text(max_size=4)),
)
def test_a_limited_source_maps_only_to_its_tenants(
    fixed: int | None, allowed: frozenset[int], named: str | None
) -> None:
    if fixed is not None:
        allowed = frozenset()
    source = Source(
        name="o", topic="o", format="cloudevents", version=0, tenant=fixed, tenants=allowed
    )
    event = cloudevent(hooklinetenant=named)
    if named is None:
        del event["hooklinetenant"]
    mapped = map_record(source, Record(None, orjson.dumps(event), STRUCTURED))
    assert_valid(mapped)
    if isinstance(mapped, Event):
        assert source.allows(mapped.tenant)
        assert mapped.tenant == (fixed if named is None else int(named))
    elif named is not None and named.isdigit() and int(named) > 0:
        assert not source.allows(int(named)) and mapped.tenant is None
