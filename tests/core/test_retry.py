"""Tests for hookline.core.retry (schedule parsing, classification, next delay)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from hookline.core.retry import (
    DEFAULT_DELAYS,
    Classification,
    Outcome,
    classify,
    delay_name,
    delay_topic_index,
    next_delay,
    parse_delays,
)

NOW = 1_700_000_000.0
MAX = 3600.0
DEFAULT = (5.0, 60.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 43200.0)

# --- parse_delays -------------------------------------------------------------------


def test_default_delays() -> None:
    assert parse_delays(DEFAULT_DELAYS) == DEFAULT


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5s", (5.0,)),
        ("5", (5.0,)),
        ("0.5", (0.5,)),
        ("250ms", (0.25,)),
        ("1ms", (0.001,)),
        ("1.5s", (1.5,)),
        ("1.5m", (90.0,)),
        ("1m", (60.0,)),
        ("2h", (7200.0,)),
        ("1d", (86400.0,)),
        ("100ms,1s,1m,1h,1d", (0.1, 1.0, 60.0, 3600.0, 86400.0)),
        (" 5s , 1m ,\t5m ", (5.0, 60.0, 300.0)),
        ("30,1m", (30.0, 60.0)),
    ],
)
def test_parse_delays(text: str, expected: tuple[float, ...]) -> None:
    assert parse_delays(text) == expected


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("5s,x,1m", "'x'"),
        ("5s,-1s", "'-1s'"),
        ("5s,1y", "'1y'"),
        ("5S", "'5S'"),
        ("5 s", "'5 s'"),
        ("1e3", "'1e3'"),
        (".5s", "'.5s'"),
        ("0s", "'0s'"),
        ("0", "'0'"),
        ("0.0001s", "'0.0001s'"),
        ("0.5ms", "'0.5ms'"),
        ("nan", "'nan'"),
        ("inf", "'inf'"),
        ("1m,30s", "'30s'"),  # decreasing
        ("1m,60s", "'60s'"),  # repeated
        ("5s,,1m", "position 2"),
        ("5s,", "position 2"),
        ("", "empty"),
        ("  ", "empty"),
    ],
)
def test_parse_delays_rejects(text: str, named: str) -> None:
    with pytest.raises(ValueError, match=named.replace(".", r"\.")):
        parse_delays(text)


# --- delay_name ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "name"),
    [
        (5.0, "5s"),
        (5, "5s"),
        (60, "1m"),
        (90, "90s"),
        (300, "5m"),
        (1800, "30m"),
        (7200, "2h"),
        (5400, "90m"),
        (86400, "1d"),
        (129600, "36h"),
        (172800, "2d"),
        (0.5, "500ms"),
        (0.001, "1ms"),
        (1.5, "1500ms"),
        (0.1, "100ms"),
        (1.1, "1100ms"),
    ],
)
def test_delay_name(seconds: float, name: str) -> None:
    assert delay_name(seconds) == name


def test_default_delay_names() -> None:
    assert [delay_name(d) for d in parse_delays(DEFAULT_DELAYS)] == DEFAULT_DELAYS.split(",")


@pytest.mark.parametrize("seconds", [0, 0.0, -1, 0.0004, 1.0005, float("inf"), float("nan")])
def test_delay_name_rejects(seconds: float) -> None:
    with pytest.raises(ValueError):
        delay_name(seconds)


millis = st.integers(min_value=1, max_value=10**11)


@given(millis)
def test_delay_name_round_trips(ms: int) -> None:
    seconds = ms / 1000
    assert parse_delays(delay_name(seconds)) == (seconds,)


@given(st.lists(millis, min_size=1, max_size=12, unique=True))
def test_parse_delays_of_names_round_trips(values: list[int]) -> None:
    delays = tuple(ms / 1000 for ms in sorted(values))
    assert parse_delays(",".join(delay_name(d) for d in delays)) == delays


# --- classify -----------------------------------------------------------------------


def _classify(status: int | None, **kwargs: Any) -> Classification:
    return classify(status, now=NOW, max_retry_after_s=MAX, **kwargs)


@pytest.mark.parametrize(
    ("status", "outcome", "reason"),
    [
        (200, Outcome.SUCCESS, "HTTP 200"),
        (201, Outcome.SUCCESS, "HTTP 201"),
        (202, Outcome.SUCCESS, "HTTP 202"),
        (204, Outcome.SUCCESS, "HTTP 204"),
        (299, Outcome.SUCCESS, "HTTP 299"),
        (300, Outcome.RETRY, "redirect 300 not followed"),
        (301, Outcome.RETRY, "redirect 301 not followed"),
        (302, Outcome.RETRY, "redirect 302 not followed"),
        (304, Outcome.RETRY, "redirect 304 not followed"),
        (307, Outcome.RETRY, "redirect 307 not followed"),
        (308, Outcome.RETRY, "redirect 308 not followed"),
        (400, Outcome.RETRY, "HTTP 400"),
        (401, Outcome.RETRY, "HTTP 401"),
        (403, Outcome.RETRY, "HTTP 403"),
        (404, Outcome.RETRY, "HTTP 404"),
        (408, Outcome.RETRY, "HTTP 408"),
        (409, Outcome.RETRY, "HTTP 409"),
        (410, Outcome.GONE, "HTTP 410"),
        (413, Outcome.RETRY, "HTTP 413"),
        (429, Outcome.RETRY, "HTTP 429"),
        (499, Outcome.RETRY, "HTTP 499"),
        (500, Outcome.RETRY, "HTTP 500"),
        (502, Outcome.RETRY, "HTTP 502"),
        (503, Outcome.RETRY, "HTTP 503"),
        (504, Outcome.RETRY, "HTTP 504"),
        (599, Outcome.RETRY, "HTTP 599"),
        (999, Outcome.RETRY, "HTTP 999"),
        (100, Outcome.RETRY, "unexpected informational HTTP 100"),
    ],
)
def test_classify_status(status: int, outcome: Outcome, reason: str) -> None:
    assert _classify(status) == Classification(outcome, None, reason)


@pytest.mark.parametrize(
    "error",
    ["timeout after 10.0s", "connection refused", "connection reset by peer", "TLS error"],
)
def test_classify_transport_error(error: str) -> None:
    assert _classify(None, error=error) == Classification(Outcome.RETRY, None, error)


def test_a_refused_target_is_not_retried() -> None:
    reason = "target not allowed: 127.0.0.1 is not a public address (loopback)"
    verdict = classify(None, error=reason, now=NOW, max_retry_after_s=MAX, refused=True)
    assert verdict == Classification(Outcome.REFUSED, None, reason)


def test_classify_error_is_stripped() -> None:
    assert _classify(None, error="  timeout  \n").reason == "timeout"


def test_status_wins_over_error() -> None:
    assert _classify(200, error="read timeout").outcome is Outcome.SUCCESS


@pytest.mark.parametrize("error", [None, "", "   "])
def test_classify_needs_status_or_error(error: str | None) -> None:
    with pytest.raises(ValueError, match="status or an error"):
        _classify(None, error=error)


@pytest.mark.parametrize("status", [-1, 0, 99, 1000])
def test_classify_rejects_non_status(status: int) -> None:
    with pytest.raises(ValueError, match="not an HTTP status"):
        _classify(status)


@pytest.mark.parametrize("bad", [-1.0, float("nan")])
def test_classify_rejects_bad_max(bad: float) -> None:
    with pytest.raises(ValueError, match="max_retry_after_s"):
        classify(500, now=NOW, max_retry_after_s=bad)


def _http_date(offset_s: float) -> str:
    return format_datetime(datetime.fromtimestamp(NOW + offset_s, tz=UTC), usegmt=True)


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize(
    ("retry_after", "seconds"),
    [
        ("0", 0.0),
        ("120", 120.0),
        (" 120 ", 120.0),
        ("3600", 3600.0),
        ("3601", MAX),
        ("99999999999999999999999999", MAX),
        ("9" * 5000, MAX),  # beyond int()'s digit limit
        (_http_date(90), 90.0),
        (_http_date(-90), 0.0),  # in the past
        (_http_date(10 * 86400), MAX),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("Tue, 14 Nov 2023 22:15:20 GMT", 120.0),  # NOW is 22:13:20 UTC
        ("Tue, 14 Nov 2023 22:15:20 -0000", 120.0),  # naive: taken as UTC
        ("Tue, 14 Nov 2023 23:15:20 +0100", 120.0),
    ],
)
def test_retry_after_honoured(status: int, retry_after: str, seconds: float) -> None:
    result = _classify(status, retry_after=retry_after)
    assert result.outcome is Outcome.RETRY
    assert result.retry_after_s == pytest.approx(seconds)
    assert result.reason.startswith(f"HTTP {status} (Retry-After ")


@pytest.mark.parametrize(
    "retry_after", ["", "soon", "-5", "1.5", "12abc", "٣", "Mon, 99 Foo 2024 xx:yy:zz GMT"]
)
def test_unparsable_retry_after_ignored(retry_after: str) -> None:
    assert _classify(429, retry_after=retry_after) == Classification(
        Outcome.RETRY, None, "HTTP 429"
    )


@pytest.mark.parametrize("status", [200, 302, 400, 410, 500, 502, 504])
def test_retry_after_only_for_429_and_503(status: int) -> None:
    assert _classify(status, retry_after="120").retry_after_s is None


def test_retry_after_with_zero_max() -> None:
    result = classify(429, retry_after="120", now=NOW, max_retry_after_s=0)
    assert result.retry_after_s == 0.0


@given(
    status=st.sampled_from([429, 503]),
    offset=st.floats(-1e9, 1e9, allow_nan=False),
    max_s=st.floats(0, 1e7, allow_nan=False),
    as_date=st.booleans(),
)
def test_retry_after_clamped(status: int, offset: float, max_s: float, as_date: bool) -> None:
    assume(as_date or offset >= 0)
    header = _http_date(offset) if as_date else str(int(offset))
    result = classify(status, retry_after=header, now=NOW, max_retry_after_s=max_s)
    assert result.retry_after_s is not None
    assert 0.0 <= result.retry_after_s <= max_s


@given(st.integers(100, 999))
def test_every_status_classifies(status: int) -> None:
    result = _classify(status, retry_after="60")
    expected = (
        Outcome.SUCCESS
        if 200 <= status <= 299
        else Outcome.GONE
        if status == 410
        else Outcome.RETRY
    )
    assert result.outcome is expected
    assert (result.retry_after_s is not None) is (status in (429, 503))
    assert result.reason


# --- next_delay ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "retry_after", "expected"),
    [
        (1, None, 5.0),
        (2, None, 60.0),
        (3, None, 300.0),
        (4, None, 1800.0),
        (5, None, 7200.0),
        (6, None, 18000.0),
        (7, None, 36000.0),
        (8, None, 43200.0),
        (9, None, None),
        (10, None, None),
        (1, 120.0, 120.0),  # larger Retry-After wins
        (1, 5.0, 5.0),
        (1, 1.0, 5.0),  # smaller Retry-After does not shorten the schedule
        (1, 0.0, 5.0),
        (8, 50000.0, 50000.0),
        (9, 120.0, None),  # Retry-After never adds attempts
    ],
)
def test_next_delay(attempt: int, retry_after: float | None, expected: float | None) -> None:
    assert next_delay(attempt, DEFAULT, retry_after) == expected


def test_next_delay_empty_schedule() -> None:
    assert next_delay(1, (), None) is None


@pytest.mark.parametrize("attempt", [0, -1])
def test_next_delay_rejects_attempt(attempt: int) -> None:
    with pytest.raises(ValueError, match="attempt"):
        next_delay(attempt, DEFAULT, None)


schedules = st.lists(st.integers(1, 10**9), min_size=1, max_size=12, unique=True).map(
    lambda ms: tuple(m / 1000 for m in sorted(ms))
)
retry_afters = st.none() | st.floats(0, 1e7, allow_nan=False)


@given(schedules, st.integers(1, 30), retry_afters)
def test_next_delay_none_exactly_after_schedule(
    delays: tuple[float, ...], attempt: int, retry_after: float | None
) -> None:
    result = next_delay(attempt, delays, retry_after)
    assert (result is None) is (attempt > len(delays))


@given(schedules)
def test_next_delay_follows_schedule_monotonically(delays: tuple[float, ...]) -> None:
    produced = [next_delay(a, delays, None) for a in range(1, len(delays) + 1)]
    assert produced == list(delays)
    assert produced == sorted(produced)  # type: ignore[type-var]


@given(schedules, st.data(), retry_afters)
def test_next_delay_at_least_schedule_and_retry_after(
    delays: tuple[float, ...], data: st.DataObject, retry_after: float | None
) -> None:
    attempt = data.draw(st.integers(1, len(delays)))
    result = next_delay(attempt, delays, retry_after)
    assert result is not None
    assert result == max(delays[attempt - 1], retry_after or 0.0)


# --- delay_topic_index --------------------------------------------------------------


@pytest.mark.parametrize(
    ("delay", "index"),
    [
        (0.0, 0),
        (1.0, 0),
        (5.0, 0),
        (5.001, 1),
        (60.0, 1),
        (61.0, 2),
        (300.0, 2),
        (3600.0, 4),
        (43200.0, 7),
        (43201.0, 7),  # longer than every topic: the last one
        (10**9, 7),
    ],
)
def test_delay_topic_index(delay: float, index: int) -> None:
    assert delay_topic_index(delay, DEFAULT) == index


@pytest.mark.parametrize("delays", [(), (60.0, 5.0), (5.0, 5.0)])
def test_delay_topic_index_rejects_bad_schedule(delays: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="schedule"):
        delay_topic_index(5.0, delays)


@given(schedules, st.floats(0, 2e6, allow_nan=False))
def test_delay_topic_index_property(delays: tuple[float, ...], wanted: float) -> None:
    index = delay_topic_index(wanted, delays)
    assert 0 <= index < len(delays)
    if wanted <= delays[-1]:
        assert delays[index] >= wanted
        assert index == 0 or delays[index - 1] < wanted
    else:
        assert index == len(delays) - 1


@given(schedules, st.data())
def test_scheduled_delay_uses_its_own_topic(delays: tuple[float, ...], data: st.DataObject) -> None:
    attempt = data.draw(st.integers(1, len(delays)))
    delay = next_delay(attempt, delays, None)
    assert delay is not None
    assert delay_topic_index(delay, delays) == attempt - 1
