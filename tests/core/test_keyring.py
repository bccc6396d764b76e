"""Tests for hookline.core.keyring: the key setting, the sealed-value codec, AES-GCM."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookline.core.keyring import (
    Keyring,
    KeyringError,
    NoKey,
    Tampered,
    UnknownKeyId,
    format_token,
    key_id_of,
    new_key_entry,
    parse_keys,
    parse_token,
)

KEY_IDS = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1, max_size=32
)
CLEAR = st.text(max_size=300)
CONTEXTS = st.text(min_size=1, max_size=40)


def ring(*ids: str) -> Keyring:
    return Keyring(parse_keys(",".join(new_key_entry(i) for i in ids)))


@given(CLEAR, CONTEXTS)
def test_a_sealed_value_opens_to_what_was_sealed(clear: str, context: str) -> None:
    keys = ring("k1")
    sealed = keys.seal(clear, context)
    assert keys.open(sealed, context) == clear
    assert key_id_of(sealed) == "k1"
    assert keys.is_current(sealed)


@given(st.text(min_size=4, max_size=100))
def test_a_sealed_value_holds_no_clear_text_and_only_url_safe_characters(clear: str) -> None:
    sealed = ring("k1").seal(clear, "secret/1")
    assert clear not in sealed
    assert set(sealed) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_the_same_value_seals_differently_each_time() -> None:
    keys = ring("k1")
    assert keys.seal("whsec_x", "secret/1") != keys.seal("whsec_x", "secret/1")


@given(CLEAR, KEY_IDS)
def test_the_codec_round_trips(clear: str, kid: str) -> None:
    keys = Keyring([(kid, bytes(32))])
    sealed = keys.seal(clear, "c", nonce=bytes(12))
    assert format_token(parse_token(sealed)) == sealed
    assert keys.seal(clear, "c", nonce=bytes(12)) == sealed  # deterministic given a nonce


@given(CLEAR)
def test_old_keys_keep_opening_and_the_first_seals(clear: str) -> None:
    entry_old = new_key_entry("k1")
    sealed_old = Keyring(parse_keys(entry_old)).seal(clear, "auth/3")
    both = Keyring(parse_keys(new_key_entry("k2") + "\n" + entry_old))
    assert both.open(sealed_old, "auth/3") == clear
    assert not both.is_current(sealed_old)
    assert key_id_of(both.seal(clear, "auth/3")) == "k2"


@given(CLEAR)
def test_a_key_id_the_ring_lacks_is_a_clear_error(clear: str) -> None:
    sealed = ring("gone").seal(clear, "secret/1")
    with pytest.raises(UnknownKeyId, match=r"'gone'.*HOOKLINE_SECRETS_KEYS"):
        ring("k1").open(sealed, "secret/1")


@given(CLEAR, st.data())
def test_any_change_to_a_sealed_value_is_refused(clear: str, data: st.DataObject) -> None:
    keys = ring("k1")
    sealed = keys.seal(clear, "secret/1")
    at = data.draw(st.integers(len("enc.v1.k1."), len(sealed) - 1))
    other = data.draw(st.sampled_from("AQgw_-").filter(lambda c: c != sealed[at]))
    tampered = sealed[:at] + other + sealed[at + 1 :]
    with pytest.raises(Tampered):
        keys.open(tampered, "secret/1")


@given(CLEAR, st.integers(1, 30))
def test_a_truncated_value_is_refused(clear: str, cut: int) -> None:
    keys = ring("k1")
    sealed = keys.seal(clear, "secret/1")
    with pytest.raises(Tampered):
        keys.open(sealed[:-cut], "secret/1")


@given(CLEAR)
def test_a_value_moved_to_another_field_or_subscription_does_not_open(clear: str) -> None:
    keys = ring("k1")
    sealed = keys.seal(clear, "secret/1")
    for elsewhere in ("secret/2", "auth/1", "url/1"):
        with pytest.raises(Tampered, match="moved from another field"):
            keys.open(sealed, elsewhere)


def test_the_same_id_with_another_key_does_not_open() -> None:
    sealed = ring("k1").seal("whsec_abc", "secret/1")
    with pytest.raises(Tampered):
        ring("k1").open(sealed, "secret/1")


@given(CLEAR.filter(lambda v: not v.startswith("enc.v1.")))
def test_a_value_in_clear_reads_as_it_is(clear: str) -> None:
    """Records written before sealing existed (the upgrade path)."""
    assert ring("k1").open(clear, "secret/1") == clear
    assert key_id_of(clear) is None


def test_sealing_without_a_key_says_what_to_set() -> None:
    with pytest.raises(NoKey, match="HOOKLINE_SECRETS_KEYS"):
        Keyring().seal("x", "secret/1")
    assert not Keyring()


@given(
    st.lists(KEY_IDS, min_size=1, max_size=5, unique=True),
    st.sampled_from([",", "\n", ", ", " \n"]),
)
def test_the_key_setting_round_trips(ids: list[str], separator: str) -> None:
    entries = [new_key_entry(i) for i in ids]
    parsed = parse_keys(separator.join(entries) + "\n")
    assert parsed.ids == tuple(ids)
    assert [f"{k}:{base64.b64encode(v).decode()}" for k, v in parsed.keys] == entries


def test_url_safe_base64_keys_are_accepted() -> None:
    raw = bytes(range(250, 256)) * 5 + b"\xfb\xff"
    entry = "k:" + base64.urlsafe_b64encode(raw).decode()
    assert parse_keys(entry).keys == (("k", raw),)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("k1", "entry 1 is not id:base64"),
        ("bad id:AAAA", "entry 1 is not id:base64"),
        ("k.1:" + base64.b64encode(bytes(32)).decode(), "entry 1 is not id:base64"),
        ("k1:not*base64", "key 'k1' is not valid base64"),
        ("k1:" + base64.b64encode(bytes(16)).decode(), "key 'k1' is 16 bytes, not 32"),
        (
            f"k1:{base64.b64encode(bytes(32)).decode()},k1:{base64.b64encode(bytes(32)).decode()}",
            "key id 'k1' is given twice",
        ),
    ],
)
def test_a_bad_key_setting_says_what_is_wrong_without_the_key(raw: str, message: str) -> None:
    with pytest.raises(KeyringError, match=message) as caught:
        parse_keys(raw)
    assert "AAAAAAAAAAAA" not in str(caught.value)


def test_the_parsed_setting_never_shows_a_key() -> None:
    entry = new_key_entry("k1")
    assert entry.split(":", 1)[1] not in repr(parse_keys(entry))
