"""Tests for hookline.core.sealed: which parts of a subscription are sealed, and how."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from urllib.parse import urlsplit

from hypothesis import given
from hypothesis import strategies as st

from hookline.api.http.present import mask_url
from hookline.core.keyring import Keyring, key_id_of, new_key_entry, parse_keys
from hookline.core.messages import SubscriptionRecord
from hookline.core.sealed import (
    CLEAR,
    key_ids,
    map_url_credential,
    needs_resealing,
    open_record,
    seal_record,
    url_credential,
)

KEYS = Keyring(parse_keys(new_key_entry("k2") + "," + new_key_entry("k1")))
OLD = Keyring(parse_keys(new_key_entry("k0")))

userinfo_text = st.text("abcXYZ019-._~%!$&'()*+,;=@", min_size=1, max_size=20)
hosts = st.sampled_from(["example.com", "hooks.example.org:8443", "[2001:db8::1]", "10.0.0.1"])
rests = st.sampled_from(["", "/", "/hook", "/a/b?token=t&x=1", "/p#frag", "?q=1"])


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["https", "http"]))
    kind = draw(st.sampled_from(["none", "user", "pair"]))
    user = draw(userinfo_text.filter(lambda u: ":" not in u))
    password = draw(st.text("abcXYZ019-._~%!$&'()*+,;=:@", max_size=20))
    userinfo = {"none": "", "user": f"{user}@", "pair": f"{user}:{password}@"}[kind]
    return f"{scheme}://{userinfo}{draw(hosts)}{draw(rests)}"


@st.composite
def records(draw: st.DrawFn) -> SubscriptionRecord:
    previous = draw(st.none() | st.just("whsec_b2xk"))
    return SubscriptionRecord(
        id=draw(st.integers(1, 10**9)),
        tenant=1,
        version=draw(st.integers(0, 100)),
        events=["order.paid"],
        target_url=draw(urls()),
        status="ACTIVE",
        secret="whsec_" + draw(st.text("abcdefXYZ0189+/", min_size=4, max_size=44)),
        created_at=1.0,
        updated_at=2.0,
        auth_header_name=draw(st.none() | st.just("X-Token")),
        auth_header_value=draw(st.none() | st.text(min_size=1, max_size=60)),
        previous_secret=previous,
        previous_secret_expires_at=None if previous is None else 3.0,
    )


@given(records())
def test_a_sealed_record_opens_to_the_record(record: SubscriptionRecord) -> None:
    assert open_record(seal_record(record, KEYS), KEYS) == record


@given(records())
def test_a_sealed_record_holds_none_of_its_secrets_in_clear(record: SubscriptionRecord) -> None:
    sealed = seal_record(record, KEYS)
    stored = " ".join(
        str(v) for v in (sealed.secret, sealed.previous_secret, sealed.auth_header_value)
    )
    for secret in (record.secret, record.previous_secret, record.auth_header_value):
        if secret is not None and len(secret) >= 4:
            assert secret not in stored
    credential = url_credential(record.target_url)
    if credential is not None and len(credential) >= 4:  # the user beside it may match it
        assert credential not in (url_credential(sealed.target_url) or "")
    assert set(key_ids(sealed)) <= {"k2"}


@given(records())
def test_only_the_secrets_change(record: SubscriptionRecord) -> None:
    sealed = seal_record(record, KEYS)
    keep = {"secret", "previous_secret", "auth_header_value", "target_url"}
    assert {k: v for k, v in sealed.__dict__.items() if k not in keep} == {
        k: v for k, v in record.__dict__.items() if k not in keep
    }


@given(urls())
def test_a_sealed_url_keeps_its_host_path_query_and_masked_form(url: str) -> None:
    sealed = map_url_credential(url, lambda c: KEYS.seal(c, "url/1"))
    before, after = urlsplit(url), urlsplit(sealed)
    assert (after.scheme, after.hostname, after.port, after.path, after.query) == (
        before.scheme,
        before.hostname,
        before.port,
        before.path,
        before.query,
    )
    assert mask_url(sealed) == mask_url(url)
    if before.password is not None:
        assert after.username == before.username  # beside a password, the user shows
    assert map_url_credential(sealed, lambda c: KEYS.open(c, "url/1")) == url


@given(records())
def test_resealing_is_needed_for_clear_and_old_keys_only(record: SubscriptionRecord) -> None:
    assert needs_resealing(record, KEYS)  # a secret is always set: in clear here
    assert not needs_resealing(seal_record(record, KEYS), KEYS)
    under_old = seal_record(record, OLD)
    assert needs_resealing(under_old, KEYS)
    assert set(key_ids(under_old)) == {"k0"}
    assert set(key_ids(record)) == {CLEAR}


def test_key_ids_counts_each_secret() -> None:
    record = SubscriptionRecord(
        id=7,
        tenant=1,
        version=0,
        events=["a.b"],
        target_url="https://u:p@h.example/",
        status="ACTIVE",
        secret="whsec_abcd",
        created_at=0.0,
        updated_at=0.0,
        auth_header_value="Bearer t",
        previous_secret="whsec_old0",
    )
    assert key_ids(seal_record(record, KEYS)) == Counter({"k2": 4})
    mixed = replace(seal_record(record, OLD), secret=KEYS.seal("whsec_abcd", "secret/7"))
    assert key_ids(mixed) == Counter({"k0": 3, "k2": 1})


def test_a_tenants_value_that_looks_sealed_is_sealed_as_text() -> None:
    """A hostile tenant's ``enc.v1.…`` header value is theirs, never opened as ours."""
    looks = KEYS.seal("someone else's secret", "auth/1")
    record = SubscriptionRecord(
        id=2,
        tenant=9,
        version=0,
        events=["a.b"],
        target_url="https://h.example/",
        status="ACTIVE",
        secret="whsec_abcd",
        created_at=0.0,
        updated_at=0.0,
        auth_header_value=looks,
    )
    sealed = seal_record(record, KEYS)
    assert open_record(sealed, KEYS).auth_header_value == looks
    assert key_id_of(sealed.auth_header_value or "") == "k2"
