"""Retry schedule and classification of delivery attempts.

Pure functions: the caller passes the current time (``now``, epoch seconds) in.
Delays are float seconds that are always whole milliseconds when they come from
:func:`parse_delays`, so :func:`delay_name` can name them exactly.
"""

from __future__ import annotations

import bisect
import enum
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime

__all__ = [
    "DEFAULT_DELAYS",
    "Classification",
    "Outcome",
    "classify",
    "delay_name",
    "delay_topic_index",
    "next_delay",
    "parse_delays",
    "parse_duration",
]

DEFAULT_DELAYS = "5s,1m,5m,30m,2h,5h,10h,12h"

# Unit -> milliseconds, largest first (delay_name picks the first that divides exactly).
_UNIT_MS: dict[str, int] = {
    "d": 86_400_000,
    "h": 3_600_000,
    "m": 60_000,
    "s": 1_000,
    "ms": 1,
}
_ITEM_RE = re.compile(r"(?P<num>[0-9]+(?:\.[0-9]+)?)(?P<unit>ms|s|m|h|d)?")


def _parse_item(item: str, what: str = "retry delay") -> float:
    match = _ITEM_RE.fullmatch(item)
    if match is None:
        raise ValueError(
            f"invalid {what} {item!r}: expected a number with an optional unit "
            "ms, s, m, h or d (e.g. '5s', '30m', '2h')"
        )
    try:
        millis = Decimal(match["num"]) * _UNIT_MS[match["unit"] or "s"]
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"invalid {what} {item!r}") from exc
    if millis != millis.to_integral_value():
        raise ValueError(f"invalid {what} {item!r}: must be a whole number of milliseconds")
    if millis <= 0:
        raise ValueError(f"invalid {what} {item!r}: must be greater than zero")
    return int(millis) / 1000


def parse_delays(text: str) -> tuple[float, ...]:
    """Parse a comma-separated retry schedule such as ``"5s,1m,5m,30m,2h"`` into seconds.

    Units are ``ms``, ``s``, ``m``, ``h`` and ``d``; a bare number means seconds.
    Whitespace around items is ignored. Every delay must be a positive whole number
    of milliseconds and the schedule must strictly increase (each delay gets its own
    delay topic, looked up by bisection). Raises ``ValueError`` naming the bad item.
    """
    items = [item.strip() for item in text.split(",")]
    if items == [""]:
        raise ValueError("retry schedule is empty")
    delays: list[float] = []
    for position, item in enumerate(items, start=1):
        if not item:
            raise ValueError(f"retry schedule {text!r} has an empty item at position {position}")
        delay = _parse_item(item)
        if delays and delay <= delays[-1]:
            raise ValueError(
                f"invalid retry delay {item!r}: each delay must be longer than the one "
                f"before it ({delay_name(delays[-1])})"
            )
        delays.append(delay)
    return tuple(delays)


def parse_duration(text: str) -> float:
    """Parse one duration such as ``"30s"``, ``"24h"`` or ``"7d"`` into seconds.

    The same units as :func:`parse_delays`; a bare number means seconds. Raises
    ``ValueError`` naming the bad value.
    """
    text = text.strip()
    if not text:
        raise ValueError("duration is empty")
    return _parse_item(text, what="duration")


def delay_name(seconds: float) -> str:
    """Return the canonical short name of a delay, for topic names.

    Uses the largest unit that divides the delay exactly: 5.0 -> "5s", 60 -> "1m",
    7200 -> "2h", 0.5 -> "500ms", 90 -> "90s". Raises ``ValueError`` unless the delay is
    a positive, finite whole number of milliseconds.
    """
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"delay must be positive and finite, got {seconds!r}")
    millis = round(seconds * 1000)
    if millis <= 0 or not math.isclose(millis, seconds * 1000, rel_tol=1e-12, abs_tol=1e-6):
        raise ValueError(f"delay {seconds!r}s is not a whole number of milliseconds")
    for unit, size in _UNIT_MS.items():
        if millis % size == 0:
            return f"{millis // size}{unit}"
    raise AssertionError("unreachable: 'ms' divides every integer")  # pragma: no cover


class Outcome(enum.Enum):
    """What the deliverer does after one attempt."""

    SUCCESS = "success"
    """2xx: delivered; done."""
    RETRY = "retry"
    """Any other failure: schedule another attempt (or dead-letter when exhausted)."""
    GONE = "gone"
    """410 Gone: the receiver asked us to stop; disable the subscription, no retry."""
    REFUSED = "refused"
    """No request made: the target is not allowed (SSRF policy, scheme) or its URL cannot
    be sent to. Retrying cannot help, so no retry: the dead letters at once."""


@dataclass(frozen=True)
class Classification:
    """The outcome of one attempt, an optional server-requested delay and a short reason."""

    outcome: Outcome
    retry_after_s: float | None
    reason: str


_RETRY_AFTER_STATUSES = frozenset({429, 503})


def _parse_retry_after(value: str, *, now: float, max_retry_after_s: float) -> float | None:
    """Seconds to wait per a Retry-After value, clamped to [0, max]; None if unparsable."""
    value = value.strip()
    if value.isascii() and value.isdigit():
        try:
            seconds = int(value)
        except ValueError:  # more digits than int() accepts: effectively infinite
            return max_retry_after_s
        return float(min(seconds, max_retry_after_s))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" yields a naive datetime; HTTP-dates are UTC
        when = when.replace(tzinfo=UTC)
    return min(max(when.timestamp() - now, 0.0), max_retry_after_s)


def _format_seconds(seconds: float) -> str:
    return f"{seconds:g}s"


def _classify_status(
    status: int, retry_after: str | None, *, now: float, max_retry_after_s: float
) -> Classification:
    reason = f"HTTP {status}"
    if 200 <= status <= 299:
        return Classification(Outcome.SUCCESS, None, reason)
    if 300 <= status <= 399:
        return Classification(Outcome.RETRY, None, f"redirect {status} not followed")
    if status == 410:
        return Classification(Outcome.GONE, None, reason)
    delay: float | None = None
    if status in _RETRY_AFTER_STATUSES and retry_after is not None:
        delay = _parse_retry_after(retry_after, now=now, max_retry_after_s=max_retry_after_s)
        if delay is not None:
            reason = f"{reason} (Retry-After {_format_seconds(delay)})"
    if status < 200:
        reason = f"unexpected informational {reason}"
    return Classification(Outcome.RETRY, delay, reason)


def classify(
    status: int | None,
    *,
    error: str | None = None,
    retry_after: str | None = None,
    now: float,
    max_retry_after_s: float,
    refused: bool = False,
) -> Classification:
    """Classify one delivery attempt.

    - 2xx: SUCCESS.
    - 3xx: RETRY, reason "redirect 302 not followed" (redirects are never followed).
    - 410: GONE (disable the subscription).
    - 429, 503: RETRY honouring ``Retry-After`` (delta-seconds or HTTP-date), clamped
      to ``[0, max_retry_after_s]``; an unparsable value is ignored.
    - any other status (4xx, 5xx, and odd ones such as 1xx or 999): RETRY.
    - ``status`` None: the request failed without a response (timeout, connection
      refused or reset); RETRY with ``error`` as the reason, or REFUSED when
      ``refused`` says the deliverer would not send it (no request was made).

    When a status is present it wins over ``error``. Raises ``ValueError`` if both are
    missing, the status is not a three-digit number, or ``max_retry_after_s`` < 0.
    """
    if not max_retry_after_s >= 0:
        raise ValueError(f"max_retry_after_s must be >= 0, got {max_retry_after_s!r}")
    if status is None:
        if error is None or not error.strip():
            raise ValueError("classify() needs a status or an error")
        return Classification(Outcome.REFUSED if refused else Outcome.RETRY, None, error.strip())
    if not 100 <= status <= 999:
        raise ValueError(f"not an HTTP status code: {status!r}")
    return _classify_status(status, retry_after, now=now, max_retry_after_s=max_retry_after_s)


def next_delay(attempt: int, delays: Sequence[float], retry_after_s: float | None) -> float | None:
    """Delay in seconds before the next attempt, or None when retries are exhausted.

    ``attempt`` is the number of attempts made so far (1 after the first try), so the
    wait before attempt ``n + 1`` is ``delays[n - 1]`` and there are at most
    ``len(delays) + 1`` attempts in total. A larger ``retry_after_s`` replaces the
    scheduled delay; it never extends the number of attempts.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    if attempt > len(delays):
        return None
    scheduled = delays[attempt - 1]
    if retry_after_s is not None and retry_after_s > scheduled:
        return retry_after_s
    return scheduled


def delay_topic_index(delay: float, delays: Sequence[float]) -> int:
    """Index of the delay topic for a wanted delay.

    That is the smallest configured delay >= ``delay``, or the last, largest one if
    ``delay`` exceeds them all. ``delays`` must be non-empty and strictly increasing,
    as :func:`parse_delays` returns.
    """
    if not delays:
        raise ValueError("the retry schedule is empty")
    if any(later <= earlier for earlier, later in itertools.pairwise(delays)):
        raise ValueError("the retry schedule must strictly increase")
    return min(bisect.bisect_left(delays, delay), len(delays) - 1)
