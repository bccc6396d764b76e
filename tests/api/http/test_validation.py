"""Tests for hookline.api.http.validation (subscription bodies) and hookline.api.http.present."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookline.api.http import present
from hookline.api.http.errors import Unprocessable
from hookline.api.http.validation import (
    SubscriptionInput,
    TargetPolicy,
    parse_create,
    parse_update,
)
from hookline.core.catalog import default_catalog
from hookline.core.messages import SubscriptionRecord
from support import factories

FAST = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

CATALOG = {e.name for e in default_catalog()}
STRICT = TargetPolicy(allow_http=False, allow_private=False)
LOOSE = TargetPolicy(allow_http=True, allow_private=True)
GOOD: dict[str, Any] = {"event": "order.create", "targetUrl": "https://example.com/hook"}


def _problems(body: Any, *, update: bool = False, policy: TargetPolicy = STRICT) -> dict[str, str]:
    parse = parse_update if update else parse_create
    with pytest.raises(Unprocessable) as info:
        parse(body, CATALOG, policy)
    exc = info.value
    assert exc.status == 422
    assert exc.details, "a 422 lists its problems"
    fields = [d["field"] for d in exc.details]
    assert len(fields) == len(set(fields))
    return {d["field"]: d["message"] for d in exc.details}


# --- create: the happy path -------------------------------------------------------------


def test_minimal_create() -> None:
    got = parse_create(GOOD, CATALOG, STRICT)
    assert got == SubscriptionInput(events=["order.create"], target_url="https://example.com/hook")


def test_full_create() -> None:
    body = {
        "events": ["order.create", "order.update", "order.create"],
        "targetUrl": "https://u:p@example.com:8443/hook?token=abc",
        "fields": "id,customer(name)",
        "format": "batch",
        "authHeaderName": "X-Api-Key",
        "authHeaderValue": "secret",
        "version": 0,
    }
    got = parse_create(body, CATALOG, STRICT)
    assert got.events == ["order.create", "order.update"]  # duplicates dropped, order kept
    assert got.target_url == body["targetUrl"]
    assert got.fields == "id,customer(name)"
    assert got.fields_given
    assert got.format == "batch"
    assert (got.auth_header_name, got.auth_header_value, got.auth_given) == (
        "X-Api-Key",
        "secret",
        True,
    )
    assert got.status is None
    assert got.version == 0


def test_create_ignores_status() -> None:
    assert parse_create({**GOOD, "status": "DISABLED"}, CATALOG, STRICT).status is None


# --- every problem at once -------------------------------------------------------------


def test_create_requires_event_and_target() -> None:
    problems = _problems({})
    assert set(problems) == {"event", "targetUrl"}
    assert "required" in problems["targetUrl"]


def test_every_problem_is_listed_at_once() -> None:
    body = {
        "events": ["order.create", "nosuch.thing"],
        "targetUrl": "http://example.com/",
        "fields": "id,(",
        "format": "xml",
        "version": "3",
        "authHeaderName": "X-Key",
    }
    problems = _problems(body)
    assert set(problems) == {"event", "targetUrl", "fields", "format", "version", "authHeaderName"}
    assert "nosuch.thing" in problems["event"]
    assert "https" in problems["targetUrl"]
    assert "position 3" in problems["fields"]
    assert "default, batch" in problems["format"]
    assert "whole number" in problems["version"]
    with pytest.raises(Unprocessable) as info:
        parse_create(body, CATALOG, STRICT)
    err = info.value
    for field in problems:
        assert field in err.message
    assert err.body()["validationMessages"] == err.details
    assert err.body()["code"] == "validation_failed"


@pytest.mark.parametrize("body", [None, [], "text", 3, [GOOD]])
def test_body_must_be_an_object(body: Any) -> None:
    for update in (False, True):
        assert _problems(body, update=update) == {"": "the body must be a JSON object"}


# --- targetUrl -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com",
        "https://example.com:8443/a/b?c=d#e",
        "HTTPS://EXAMPLE.COM/",
        "https://user:pw@example.com/",
        "https://[2606:4700::1111]/hook",
        "https://8.8.8.8/hook",
    ],
)
def test_good_targets(url: str) -> None:
    assert parse_create({**GOOD, "targetUrl": url}, CATALOG, STRICT).target_url == url


@pytest.mark.parametrize(
    "url", ["http://example.com/", "ftp://example.com/", "example.com/hook", "https:///path", ""]
)
def test_https_is_required(url: str) -> None:
    assert "https" in _problems({**GOOD, "targetUrl": url})["targetUrl"]


def test_http_allowed_by_policy() -> None:
    policy = TargetPolicy(allow_http=True, allow_private=False)
    got = parse_create({**GOOD, "targetUrl": "http://example.com/"}, CATALOG, policy)
    assert got.target_url == "http://example.com/"
    # ... but still not other schemes.
    problems = _problems({**GOOD, "targetUrl": "ftp://example.com/"}, policy=policy)
    assert "targetUrl" in problems


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/",
        "https://localhost/",
        "https://api.localhost:8443/",
        "https://10.1.2.3/",
        "https://192.168.0.10:8443/",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/",
        "https://[fd00::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://u:p@127.0.0.1/",
        "https://127.1/",
        "https://0x7f000001/",
    ],
)
def test_loopback_and_private_literals_are_refused(url: str) -> None:
    assert "not allowed" in _problems({**GOOD, "targetUrl": url})["targetUrl"]
    policy = TargetPolicy(allow_http=False, allow_private=True)
    assert parse_create({**GOOD, "targetUrl": url}, CATALOG, policy).target_url == url


@pytest.mark.parametrize(
    "url", ["https://example.com:99999/", "https://example.com:port/", "https://[::1/"]
)
def test_malformed_urls(url: str) -> None:
    assert "not a valid URL" in _problems({**GOOD, "targetUrl": url}, policy=LOOSE)["targetUrl"]


def test_overlong_url() -> None:
    url = "https://example.com/" + "a" * 2048
    assert "longer than 2048" in _problems({**GOOD, "targetUrl": url})["targetUrl"]


@pytest.mark.parametrize("value", [1, ["https://example.com/"], {"u": 1}, True])
def test_target_must_be_a_string(value: Any) -> None:
    assert "a string" in _problems({**GOOD, "targetUrl": value})["targetUrl"]


# --- events ----------------------------------------------------------------------------


def test_event_or_events_but_not_both() -> None:
    problems = _problems({**GOOD, "events": ["order.create"]})
    assert "not both" in problems["event"]


@pytest.mark.parametrize("value", [[], [1], "", {"a": 1}, 5, ["order.create", None]])
def test_events_must_be_a_nonempty_list_of_names(value: Any) -> None:
    body = {"events": value, "targetUrl": GOOD["targetUrl"]}
    problems = _problems(body)
    assert set(problems) <= {"events", "event"}
    assert problems


def test_unknown_events_are_named() -> None:
    body = {"events": ["order.create", "nosuch.event", "other.thing"], "targetUrl": "https://x.io"}
    message = _problems(body)["event"]
    assert "nosuch.event" in message
    assert "other.thing" in message
    assert "order.create" not in message


@pytest.mark.parametrize("name", ["Order.create", "order", "order.create.now", "order-x.create"])
def test_malformed_event_names(name: str) -> None:
    message = _problems({**GOOD, "event": name})["event"]
    assert name in message
    assert "object.verb" in message


def test_catalog_is_an_argument() -> None:
    got = parse_create({**GOOD, "event": "thing.happened"}, {"thing.happened"}, STRICT)
    assert got.events == ["thing.happened"]


# --- fields ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "position"), [("id,", 3), ("a(b", 1), ("*(x)", 1), ("a b", 2), (")", 0)]
)
def test_fields_syntax_error_names_its_position(fields: str, position: int) -> None:
    message = _problems({**GOOD, "fields": fields})["fields"]
    assert f"position {position}" in message


def test_empty_fields_clears() -> None:
    got = parse_update({"fields": ""}, CATALOG, STRICT)
    assert got.fields is None
    assert got.fields_given
    assert not parse_update({}, CATALOG, STRICT).fields_given


# --- auth header pair ------------------------------------------------------------------


@pytest.mark.parametrize(
    "pair",
    [
        {"authHeaderName": "X-Key"},
        {"authHeaderValue": "v"},
        {"authHeaderName": "X-Key", "authHeaderValue": ""},
        {"authHeaderName": "", "authHeaderValue": "v"},
    ],
)
def test_auth_header_name_and_value_go_together(pair: dict[str, str]) -> None:
    assert "together" in _problems({**GOOD, **pair})["authHeaderName"]


@pytest.mark.parametrize(
    "name",
    [
        "Bad Name",
        "X:Key",
        "Content-Type",
        "content-length",
        "HOST",
        "Webhook-Signature",
        "webhook-id",
        "Webhook-Timestamp",
        "Ключ",
    ],
)
def test_bad_or_reserved_auth_header_names(name: str) -> None:
    body = {**GOOD, "authHeaderName": name, "authHeaderValue": "v"}
    assert "cannot be used" in _problems(body)["authHeaderName"]


@pytest.mark.parametrize("value", ["a\nb", "a\r\nX-Evil: 1", "trailing\r"])
def test_auth_header_value_without_line_breaks(value: str) -> None:
    body = {**GOOD, "authHeaderName": "X-Key", "authHeaderValue": value}
    assert "line breaks" in _problems(body)["authHeaderValue"]


def test_auth_header_name_with_trailing_newline_is_refused() -> None:
    body = {**GOOD, "authHeaderName": "X-Key\n", "authHeaderValue": "v"}
    assert "authHeaderName" in _problems(body)


def test_clearing_auth_on_update() -> None:
    got = parse_update({"authHeaderName": None, "authHeaderValue": None}, CATALOG, STRICT)
    assert got.auth_given
    assert got.auth_header_name is None
    assert got.auth_header_value is None


# --- update ----------------------------------------------------------------------------


def test_update_needs_nothing() -> None:
    assert parse_update({}, CATALOG, STRICT) == SubscriptionInput()


@pytest.mark.parametrize("status", ["ACTIVE", "DISABLED"])
def test_update_status(status: str) -> None:
    assert parse_update({"status": status}, CATALOG, STRICT).status == status


@pytest.mark.parametrize("status", ["DISABLED_GONE", "DISABLED_TOO_MANY_ERRORS", "active", 1])
def test_update_status_choices(status: Any) -> None:
    assert "ACTIVE, DISABLED" in _problems({"status": status}, update=True)["status"]


@pytest.mark.parametrize("version", [True, 1.0, "1"])
def test_version_is_a_whole_number(version: Any) -> None:
    assert "version" in _problems({"version": version}, update=True)


def test_update_checks_like_create() -> None:
    problems = _problems({"targetUrl": "https://127.0.0.1/", "event": "x.y"}, update=True)
    assert set(problems) == {"targetUrl", "event"}


@pytest.mark.parametrize(
    "body",
    [
        {"event": None, "targetUrl": "https://example.com/"},
        {"events": None, "targetUrl": "https://example.com/"},
        {"event": "order.create", "targetUrl": None},
    ],
)
def test_create_refuses_null_required_fields(body: dict[str, Any]) -> None:
    _problems(body)


@FAST
@given(
    body=st.dictionaries(
        st.sampled_from(
            [
                "event",
                "events",
                "targetUrl",
                "fields",
                "format",
                "status",
                "version",
                "authHeaderName",
                "authHeaderValue",
            ]
        ),
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    ),
    update=st.booleans(),
)
def test_parse_returns_input_or_raises_unprocessable(body: dict[str, Any], update: bool) -> None:
    parse = parse_update if update else parse_create
    try:
        got = parse(body, CATALOG, STRICT)
    except Unprocessable as exc:
        assert exc.details
        return
    assert isinstance(got, SubscriptionInput)


# --- present ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("https://example.com/hook?token=abc", "https://example.com/hook?token=abc"),
        ("https://user:s3cret@example.com/hook", "https://user:****@example.com/hook"),
        (
            "https://user:s3cret@example.com:8443/h?q=1#f",
            "https://user:****@example.com:8443/h?q=1#f",
        ),
        ("https://u:p%40ss@[2001:db8::1]:9000/x", "https://u:****@[2001:db8::1]:9000/x"),
        ("https://u:@example.com/", "https://u:****@example.com/"),
        ("https://u:a@b@example.com/", "https://u:****@example.com/"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert present.mask_url(url) == masked


@FAST
@given(password=st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=4))
def test_mask_url_never_shows_the_password(password: str) -> None:
    masked = present.mask_url(f"https://alice:{password}@example.com/x")
    assert masked == "https://alice:****@example.com/x"


def _record(**overrides: Any) -> SubscriptionRecord:
    fields: dict[str, Any] = {
        "id": 42,
        "version": 3,
        "events": ["order.create"],
        "target_url": "https://bob:hunter2@example.com/hook",
        "secret": "whsec_c2VjcmV0LWtleS1tYXRlcmlhbC0xMjM0NTY3OA==",
        "created_at": 0.0,
        "updated_at": 1_700_000_000.5,
        "fields": "id",
        "auth_header_name": "X-Api-Key",
        "auth_header_value": "topsecret",
    }
    fields.update(overrides)
    return factories.subscription(**fields)


def test_subscription_masks_secrets() -> None:
    record = _record()
    body = present.subscription(record, "https://api.example")
    assert body == {
        "id": 42,
        "version": 3,
        "url": "https://api.example/v2/event/subscription/42",
        "event": "order.create",
        "events": ["order.create"],
        "targetUrl": "https://bob:****@example.com/hook",
        "fields": "id",
        "format": "default",
        "dialect": "tripletex",
        "status": "ACTIVE",
        "authHeaderName": "X-Api-Key",
        "authHeaderValue": "****",
        "secret": record.secret[:10] + "****",
        "createdAt": "1970-01-01T00:00:00.000Z",
        "updatedAt": "2023-11-14T22:13:20.500Z",
    }
    text = repr(body)
    for secret in ("hunter2", "topsecret", record.secret):
        assert secret not in text


def test_subscription_reveals_the_secret_only_when_asked() -> None:
    record = _record()
    body = present.subscription(record, "https://api.example", reveal_secret=True)
    assert body["secret"] == record.secret
    assert body["authHeaderValue"] == "****"
    assert body["targetUrl"] == "https://bob:****@example.com/hook"


def test_subscription_without_auth_or_with_many_events() -> None:
    record = _record(
        auth_header_name=None, auth_header_value=None, events=["order.create", "order.update"]
    )
    body = present.subscription(record, "")
    assert body["authHeaderValue"] is None
    assert body["authHeaderName"] is None
    assert body["event"] is None
    assert body["events"] == ["order.create", "order.update"]


def test_mask_url_masks_a_user_name_that_stands_alone() -> None:
    assert present.mask_url("https://s3cret@example.com/hook") == "https://****@example.com/hook"


# --- what reaches the topic and the database must be safe there -------------------------


@pytest.mark.parametrize(
    "host", ["a..b", "x" * 64 + ".com", "\udcff.example", "-" * 300 + ".example"]
)
def test_host_names_that_cannot_be_resolved_are_refused(host: str) -> None:
    problems = _problems({**GOOD, "targetUrl": f"https://{host}/hook"}, policy=LOOSE)
    assert "invalid host name" in problems["targetUrl"] or "longer than" in problems["targetUrl"]


@pytest.mark.parametrize(
    "url",
    [
        "https://exa mple.com/",
        "https://example.com/a b",
        "https://example.com/\x00",
        "https://example.com/\x7f",
    ],
)
def test_spaces_and_control_characters_in_urls_are_refused(url: str) -> None:
    assert "control characters" in _problems({**GOOD, "targetUrl": url}, policy=LOOSE)["targetUrl"]


@pytest.mark.parametrize("value", ["a\x00b", "a\x1bb", "x" * 4097])
def test_auth_header_values_are_bounded_and_printable(value: str) -> None:
    body = {**GOOD, "authHeaderName": "X-Key", "authHeaderValue": value}
    assert "authHeaderValue" in _problems(body)


def test_a_tab_is_allowed_in_a_header_value() -> None:
    body = {**GOOD, "authHeaderName": "X-Key", "authHeaderValue": "a\tb"}
    assert parse_create(body, CATALOG, STRICT).auth_header_value == "a\tb"


def test_sizes_are_bounded() -> None:
    many = [f"order.x{n}" for n in range(201)]
    assert "at most 200" in _problems({**GOOD, "event": None, "events": many})["events"]
    assert "longer than" in _problems({**GOOD, "fields": "a," * 3000 + "a"})["fields"]
    assert (
        "cannot be used"
        in _problems({**GOOD, "authHeaderName": "X" * 257, "authHeaderValue": "v"})[
            "authHeaderName"
        ]
    )


def test_fields_errors_read_once() -> None:
    assert _problems({**GOOD, "fields": "id,"})["fields"] == "expected a field name at position 3"


@pytest.mark.parametrize(
    ("body", "alias", "ours"),
    [
        (
            {"webhook": {"endpoint": "https://x.io/", "events": ["order.created"]}},
            "webhook",
            "top level",
        ),
        ({"endpoint": "https://x.io/", "event_type": "order.created"}, "endpoint", "targetUrl"),
        ({"endpoint": "https://x.io/", "event_type": "order.created"}, "event_type", "event"),
        ({"data": {"attributes": {"url": "https://x.io/"}}}, "data", "data.attributes"),
    ],
)
def test_other_apis_shapes_are_named(body: dict[str, Any], alias: str, ours: str) -> None:
    problems = _problems(body)
    assert ours in problems[alias]
    assert "targetUrl" in problems  # still required


def test_event_names_with_a_trailing_newline_are_not_names() -> None:
    problems = _problems({**GOOD, "event": "order.create\n"})
    assert "object.verb" in problems["event"]


@pytest.mark.parametrize("policy", [STRICT, LOOSE])
def test_a_soft_hyphen_in_the_host_is_refused(policy: TargetPolicy) -> None:
    """U+00AD passes Python's idna codec, but aiohttp can never send to it."""
    problems = _problems({**GOOD, "targetUrl": "https://exa\u00admple.com/hook"}, policy=policy)
    assert "cannot contain '\\xad'" in problems["targetUrl"]
