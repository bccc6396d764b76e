"""The dialects' ids: each decodes back to the integer id, and nothing else decodes."""

from __future__ import annotations

import re
import uuid

from hypothesis import given
from hypothesis import strategies as st

from hookline.core.dialect_ids import (
    MAX_ORDERSPACE_ID,
    booqable_id,
    decode_booqable_id,
    decode_object_id,
    decode_orderspace_id,
    object_id,
    orderspace_id,
    tenant_object_id,
)

ids = st.integers(min_value=1, max_value=2**40 - 1)
seconds = st.floats(min_value=0, max_value=2**32 - 1, allow_nan=False)


@given(ids)
def test_orderspace_ids_round_trip_and_look_like_orderspace(n: int) -> None:
    text = orderspace_id(n)
    assert re.fullmatch(r"wh_[0-9a-z]{8}", text)
    assert decode_orderspace_id(text) == n


@given(st.text(max_size=20))
def test_any_text_decodes_to_an_orderspace_id_or_none_and_round_trips(text: str) -> None:
    n = decode_orderspace_id(text)
    assert n is None or (0 <= n <= MAX_ORDERSPACE_ID and orderspace_id(n) == text)


def test_neighbouring_orderspace_ids_do_not_look_alike() -> None:
    a, b = orderspace_id(1), orderspace_id(2)
    assert sum(x != y for x, y in zip(a, b, strict=True)) >= 4
    assert decode_orderspace_id("wh_zzzzzzzz") is None  # beyond 40 bits
    assert decode_orderspace_id("WH_1Q4QN43V") is None


@given(st.integers(min_value=1, max_value=2**63 - 1), seconds)
def test_object_ids_round_trip_with_their_second(n: int, created: float) -> None:
    text = object_id(n, created)
    assert re.fullmatch(r"[0-9a-f]{24}", text)
    assert decode_object_id(text) == (n, int(created))


@given(st.text(max_size=30))
def test_any_text_decodes_to_an_object_id_or_none(text: str) -> None:
    found = decode_object_id(text)
    assert found is None or object_id(found[0], found[1]) == text


def test_object_ids_start_with_the_creation_second_as_mongodbs_do() -> None:
    assert object_id(7, 1499767018.36) == "5964a0ea0000000000000007"
    assert decode_object_id("5964a0ead57ba2036750a3b4") is None  # id beyond 63 bits
    assert tenant_object_id(3) == "000000000000000000000003"


@given(st.integers(min_value=1, max_value=2**62 - 1))
def test_booqable_ids_are_version_8_uuids_that_round_trip(n: int) -> None:
    text = booqable_id(n)
    assert uuid.UUID(text).version == 8 and str(uuid.UUID(text)) == text
    assert decode_booqable_id(text) == n
    assert decode_booqable_id(text.upper()) == n


@given(st.uuids())
def test_other_uuids_decode_to_none(value: uuid.UUID) -> None:
    assert decode_booqable_id(str(value)) is None


@given(st.text(max_size=40))
def test_any_text_decodes_to_a_booqable_id_or_none(text: str) -> None:
    n = decode_booqable_id(text)
    assert n is None or booqable_id(n) == text.lower()


def test_each_dialect_refuses_the_others_ids() -> None:
    n = 12345
    ours = {"o": orderspace_id(n), "s": object_id(n, 1.7e9), "b": booqable_id(n)}
    assert decode_orderspace_id(ours["s"]) is None and decode_orderspace_id(ours["b"]) is None
    assert decode_object_id(ours["o"]) is None and decode_object_id(ours["b"]) is None
    assert decode_booqable_id(ours["o"]) is None and decode_booqable_id(ours["s"]) is None
    assert decode_orderspace_id(str(n)) is None
