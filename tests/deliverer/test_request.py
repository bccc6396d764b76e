"""Tests for hookline.deliverer.request: the bytes and headers of one delivery request."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookline.core.messages import Delivery, SubscriptionRecord
from hookline.core.signing import generate_secret, verify
from hookline.deliverer.request import Request, body_of, build, split_credentials
from support import factories

FAST = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

NOW = 1_700_000_000


def _delivery(**overrides: Any) -> Delivery:
    fields: dict[str, Any] = {
        "delivery_id": "msg_abc",
        "subscription_id": 12,
        "tenant": 3,
        "event": "order.create",
        "object_id": 77,
        "payload": {"id": 77, "number": "A-1", "lines": [{"id": 1}]},
        "created_at": 1.5,
    }
    fields.update(overrides)
    return factories.delivery(**fields)


def _sub(**overrides: Any) -> SubscriptionRecord:
    fields: dict[str, Any] = {
        "id": 12,
        "tenant": 3,
        "events": ["order.create"],
        "secret": generate_secret(),
        "created_at": 1.0,
        "updated_at": 1.0,
    }
    fields.update(overrides)
    return factories.subscription(**fields)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --- body ------------------------------------------------------------------------------


def test_body_has_exactly_the_four_keys() -> None:
    delivery = _delivery()
    body = body_of(delivery)
    assert isinstance(body, bytes)
    decoded = orjson.loads(body)
    assert list(decoded) == ["subscriptionId", "event", "id", "value"]
    assert decoded == {
        "subscriptionId": 12,
        "event": "order.create",
        "id": 77,
        "value": {"id": 77, "number": "A-1", "lines": [{"id": 1}]},
    }


def test_body_bytes_are_compact_json() -> None:
    body = body_of(_delivery(object_id="x-1", payload=None))
    assert body == b'{"subscriptionId":12,"event":"order.create","id":"x-1","value":null}'


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)


@FAST
@given(
    sub_id=st.integers(1, 2**31),
    object_id=st.none() | st.integers(0, 2**40) | st.text(max_size=10),
    payload=_JSON,
)
def test_body_round_trips(sub_id: int, object_id: int | str | None, payload: Any) -> None:
    delivery = _delivery(subscription_id=sub_id, object_id=object_id, payload=payload)
    assert orjson.loads(body_of(delivery)) == {
        "subscriptionId": sub_id,
        "event": delivery.event,
        "id": object_id,
        "value": payload,
    }


# --- split_credentials -----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hook",
        "https://example.com:8443/hook?token=s3cret&x=1",
        "https://[2001:db8::1]:8443/hook",
        "https://example.com/path@not-userinfo?mail=a@b.c",
    ],
)
def test_url_without_credentials_is_unchanged(url: str) -> None:
    assert split_credentials(url) == (url, None)


@pytest.mark.parametrize(
    ("url", "clean", "user", "password"),
    [
        ("https://alice:pw@example.com/hook", "https://example.com/hook", "alice", "pw"),
        (
            "https://alice:pw@example.com:8443/h?token=abc#frag",
            "https://example.com:8443/h?token=abc#frag",
            "alice",
            "pw",
        ),
        (
            "https://bob:p%40ss%3Aw%2Frd@example.com/",
            "https://example.com/",
            "bob",
            "p@ss:w/rd",
        ),
        ("https://us%C3%A9r:%E2%82%AC@example.com/", "https://example.com/", "usér", "€"),
        ("https://u:p@[2001:db8::1]/x", "https://[2001:db8::1]/x", "u", "p"),
        ("https://u:p@[2001:db8::1]:9000/x", "https://[2001:db8::1]:9000/x", "u", "p"),
        ("https://u:p@127.0.0.1:8080/x?q=1", "https://127.0.0.1:8080/x?q=1", "u", "p"),
        ("https://token@example.com/x", "https://example.com/x", "token", ""),
        ("https://:only-password@example.com/x", "https://example.com/x", "", "only-password"),
        ("https://u:p@s@example.com/x", "https://example.com/x", "u", "p@s"),
    ],
)
def test_credentials_move_to_a_basic_header(url: str, clean: str, user: str, password: str) -> None:
    got_url, header = split_credentials(url)
    assert got_url == clean
    assert header == _basic(user, password)
    assert "@" not in got_url.split("/")[2]


_USERINFO = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12
)


@FAST
@given(
    user=_USERINFO,
    password=_USERINFO,
    host=st.sampled_from(["example.com", "127.0.0.1", "[2001:db8::5]", "[::1]"]),
    port=st.none() | st.integers(1, 65535),
    query=st.sampled_from(["", "?token=abc", "?a=1&b=%20"]),
)
def test_any_percent_encoded_credentials_are_decoded(
    user: str, password: str, host: str, port: int | None, query: str
) -> None:
    netloc = host + (f":{port}" if port else "")
    url = f"https://{quote(user, safe='')}:{quote(password, safe='')}@{netloc}/p{query}"
    clean, header = split_credentials(url)
    assert clean == f"https://{netloc}/p{query}"
    assert header is not None
    assert base64.b64decode(header.removeprefix("Basic ")).decode() == f"{user}:{password}"


# --- build -----------------------------------------------------------------------------


def test_build_signs_the_body_with_webhook_headers() -> None:
    sub = _sub()
    delivery = _delivery()
    body = body_of(delivery)
    req = build(sub, delivery, body, NOW, [sub.secret])
    assert isinstance(req, Request)
    assert req.url == "https://example.com/hook"
    assert req.body == body
    assert req.headers["content-type"] == "application/json"
    assert req.headers["webhook-id"] == delivery.delivery_id
    assert req.headers["webhook-timestamp"] == str(NOW)
    assert verify(
        sub.secret, delivery.delivery_id, NOW, body, req.headers["webhook-signature"], now=NOW
    )
    assert "authorization" not in {k.lower() for k in req.headers}


def test_signature_does_not_verify_for_another_body_or_secret() -> None:
    sub = _sub()
    delivery = _delivery()
    body = body_of(delivery)
    sig = build(sub, delivery, body, NOW, [sub.secret]).headers["webhook-signature"]
    assert not verify(sub.secret, delivery.delivery_id, NOW, body + b" ", sig, now=NOW)
    assert not verify(generate_secret(), delivery.delivery_id, NOW, body, sig, now=NOW)
    assert not verify(sub.secret, "msg_other", NOW, body, sig, now=NOW)


def test_rotation_signs_with_every_secret() -> None:
    old, new = generate_secret(), generate_secret()
    delivery = _delivery()
    body = body_of(delivery)
    sig = build(_sub(secret=new), delivery, body, NOW, [new, old]).headers["webhook-signature"]
    assert len(sig.split()) == 2
    for secret in (old, new):
        assert verify(secret, delivery.delivery_id, NOW, body, sig, now=NOW)


def test_build_sends_the_auth_header_pair_as_given() -> None:
    sub = _sub(auth_header_name="X-Api-Key", auth_header_value="k3y value")
    delivery = _delivery()
    req = build(sub, delivery, body_of(delivery), NOW, [sub.secret])
    assert req.headers["X-Api-Key"] == "k3y value"


@pytest.mark.parametrize(("name", "value"), [("X-Api-Key", None), (None, "v"), ("", "")])
def test_build_skips_an_incomplete_auth_header_pair(name: str | None, value: str | None) -> None:
    sub = _sub(auth_header_name=name, auth_header_value=value)
    delivery = _delivery()
    req = build(sub, delivery, body_of(delivery), NOW, [sub.secret])
    expected = {"content-type", "user-agent", "webhook-id", "webhook-timestamp"}
    assert set(req.headers) == expected | {"webhook-signature"}


def test_build_moves_url_credentials_to_authorization_and_keeps_query_token() -> None:
    sub = _sub(target_url="https://hook%20user:s%3Acret@example.com:8443/in?token=abc")
    delivery = _delivery()
    body = body_of(delivery)
    req = build(sub, delivery, body, NOW, [sub.secret])
    assert req.url == "https://example.com:8443/in?token=abc"
    assert req.headers["authorization"] == _basic("hook user", "s:cret")
    assert verify(
        sub.secret, delivery.delivery_id, NOW, body, req.headers["webhook-signature"], now=NOW
    )


def test_build_requires_a_secret() -> None:
    delivery = _delivery()
    with pytest.raises(ValueError, match="at least one"):
        build(_sub(), delivery, body_of(delivery), NOW, [])
