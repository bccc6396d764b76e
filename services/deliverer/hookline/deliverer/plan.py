"""Where a delivery goes next: pure, so every path is tested without Kafka.

After an attempt that failed, a delivery goes to the delay topic of its next delay
with ``attempt`` counted up, or to the dead letters when the schedule is used up
(or the target answered 410). A delivery put off without a request (its
endpoint's circuit is open or its queue full) goes to a delay topic with
``attempt`` unchanged, so it does not use up a retry.

A delay topic's partition is held until its head is due, so a message must never
be due later than its topic's delay from now: a longer ``Retry-After`` is cut to
the longest delay of the schedule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from hookline.core.messages import Delivery
from hookline.core.retry import Classification, Outcome, delay_topic_index, next_delay


@dataclass(frozen=True)
class Stop:
    """``delay_index`` is the delay topic (an index into the schedule), None for the
    dead letters."""

    delay_index: int | None
    delivery: Delivery


def after_attempt(
    delivery: Delivery, verdict: Classification, now: float, delays: Sequence[float]
) -> Stop | None:
    """None when the delivery is done (delivered)."""
    if verdict.outcome is Outcome.SUCCESS:
        return None
    number = delivery.attempt + 1
    delay = None
    if verdict.outcome is Outcome.RETRY:
        delay = next_delay(number, delays, verdict.retry_after_s)
    if delay is None:
        return Stop(None, replace(delivery, attempt=number, last_error=verdict.reason))
    delay = min(delay, delays[-1])
    later = replace(delivery, attempt=number, due_at=now + delay, last_error=verdict.reason)
    return Stop(delay_topic_index(delay, delays), later)


def deferral(delivery: Delivery, wait_s: float, now: float, delays: Sequence[float]) -> Stop:
    """Put off for about ``wait_s``: the longest delay of the schedule that is not longer,
    or the shortest one. ``attempt`` and ``last_error`` stay as they are."""
    index = 0
    for i, delay in enumerate(delays):
        if delay <= wait_s:
            index = i
    return Stop(index, replace(delivery, due_at=now + delays[index]))
