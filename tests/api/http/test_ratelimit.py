"""The API's token buckets and whom a failed authentication is charged to (pure)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookline.api.http.auth import plain_key
from hookline.api.http.errors import Unauthorized
from hookline.api.http.ratelimit import TokenBuckets, address_key, retry_after

gaps = st.lists(st.floats(min_value=0, max_value=3, allow_nan=False), min_size=1, max_size=300)


def test_a_burst_is_let_through_then_paced_at_the_rate() -> None:
    buckets = TokenBuckets(burst=3, rate=2.0)
    assert [buckets.take("t", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("t", 0.0) == 0.5  # one token back in half a second at 2/s
    assert buckets.take("t", 0.5) == 0.0
    assert buckets.take("other", 0.5) == 0.0  # another key has its own bucket


@given(gaps, st.integers(1, 50), st.floats(min_value=0.1, max_value=100))
def test_never_more_than_the_burst_and_the_rate_over_any_run(
    gaps: list[float], burst: int, rate: float
) -> None:
    buckets = TokenBuckets(burst=burst, rate=rate)
    now, taken = 0.0, 0
    for gap in gaps:
        now += gap
        taken += buckets.take("t", now) == 0.0
    assert taken <= burst + rate * now + 1e-6


@given(gaps, st.integers(1, 50), st.floats(min_value=0.1, max_value=100))
def test_after_the_wait_it_answers_a_token_is_there(
    gaps: list[float], burst: int, rate: float
) -> None:
    buckets = TokenBuckets(burst=burst, rate=rate)
    now = 0.0
    for gap in gaps:
        now += gap
        wait = buckets.take("t", now)
        if wait:
            assert 0 < wait <= 1 / rate + 1e-9
            assert buckets.take("t", now + wait + 1e-9) == 0.0


def test_the_table_stays_bounded_and_keeps_the_buckets_in_use() -> None:
    buckets = TokenBuckets(burst=2, rate=1.0, max_keys=100)
    for _ in range(2):
        buckets.take("busy", 0.0)
    for n in range(10_000):  # made-up keys, one request each
        buckets.take(f"k{n}", 0.0)
        assert len(buckets) <= 100
    assert buckets.take("busy", 0.0) > 0  # not forgotten: it had not refilled
    assert buckets.take("k9999", 0.0) == 0.0


def test_a_failed_authentication_is_charged_to_the_address_or_its_ipv6_64() -> None:
    assert address_key("203.0.113.7") == "203.0.113.7"
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert address_key(None) == "unknown"
    assert address_key("/tmp/api.sock") == "/tmp/api.sock"


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_retry_after_is_whole_seconds_never_zero_never_early(wait: float) -> None:
    seconds = retry_after(wait)
    assert isinstance(seconds, int) and seconds >= 1 and seconds >= wait
    assert seconds == max(1, math.ceil(wait))


@given(st.text(max_size=40))
def test_a_key_is_printable_ascii_or_refused_before_it_is_hashed(value: str) -> None:
    try:
        assert plain_key(value).encode("ascii") == value.encode("ascii")
    except Unauthorized:
        assert not (value.isascii() and value.isprintable()) or " " in value


def test_the_bytes_aiohttp_passes_on_for_a_header_that_is_not_utf8_are_refused() -> None:
    with pytest.raises(Unauthorized):
        plain_key(b"\xff\xfe".decode("utf-8", "surrogateescape"))
