"""Tests for hookline.deliverer.plan (where a delivery goes next), the signing secrets
during a rotation, and the settings' durations."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookline.core.messages import Delivery, SubscriptionRecord
from hookline.core.retry import Classification, Outcome, parse_duration
from hookline.deliverer.plan import after_attempt, deferral
from hookline.deliverer.request import signing_secrets
from hookline.deliverer.transport import printable
from support import factories

DELAYS = (5.0, 60.0, 300.0)
NOW = 1_700_000_000.0


def _delivery(attempt: int = 0) -> Delivery:
    return factories.delivery(
        subscription_id=3,
        event_id="e1",
        object_id=42,
        payload={"id": 42},
        created_at=NOW,
        attempt=attempt,
    )


def _verdict(outcome: Outcome, retry_after: float | None = None) -> Classification:
    return Classification(outcome, retry_after, "HTTP 500")


def test_success_goes_nowhere() -> None:
    assert after_attempt(_delivery(), _verdict(Outcome.SUCCESS), NOW, DELAYS) is None


def test_each_failure_goes_to_its_delay_topic_counting_the_attempt() -> None:
    for attempt, index in [(0, 0), (1, 1), (2, 2)]:
        stop = after_attempt(_delivery(attempt), _verdict(Outcome.RETRY), NOW, DELAYS)
        assert stop is not None and stop.delay_index == index
        assert stop.delivery.attempt == attempt + 1
        assert stop.delivery.due_at == NOW + DELAYS[index]
        assert stop.delivery.last_error == "HTTP 500"
        assert stop.delivery.delivery_id == "msg_1"


def test_after_the_last_delay_and_after_410_the_dead_letters() -> None:
    last = after_attempt(_delivery(3), _verdict(Outcome.RETRY), NOW, DELAYS)
    assert last is not None and last.delay_index is None and last.delivery.attempt == 4
    gone = after_attempt(_delivery(0), _verdict(Outcome.GONE), NOW, DELAYS)
    assert gone is not None and gone.delay_index is None and gone.delivery.attempt == 1
    refused = after_attempt(_delivery(0), _verdict(Outcome.REFUSED), NOW, DELAYS)
    assert refused is not None and refused.delay_index is None


def test_retry_after_is_honoured_but_never_past_the_longest_delay() -> None:
    stop = after_attempt(_delivery(), _verdict(Outcome.RETRY, 30.0), NOW, DELAYS)
    assert stop is not None and stop.delay_index == 1 and stop.delivery.due_at == NOW + 30
    far = after_attempt(_delivery(), _verdict(Outcome.RETRY, 3600.0), NOW, DELAYS)
    assert far is not None and far.delay_index == 2 and far.delivery.due_at == NOW + 300


@given(
    attempt=st.integers(0, 3),
    retry_after=st.none() | st.floats(0, 10_000),
)
def test_a_delayed_delivery_is_never_due_after_its_topics_delay(
    attempt: int, retry_after: float | None
) -> None:
    """A delay topic's partition is held until its head is due: nothing may be due later
    than the topic's own delay from now, or it would hold up the others."""
    stop = after_attempt(_delivery(attempt), _verdict(Outcome.RETRY, retry_after), NOW, DELAYS)
    if stop is not None and stop.delay_index is not None:
        assert NOW < stop.delivery.due_at <= NOW + DELAYS[stop.delay_index]


@pytest.mark.parametrize(("wait", "index"), [(0, 0), (4.9, 0), (5, 0), (59, 0), (60, 1), (1e6, 2)])
def test_a_deferral_keeps_the_attempt_and_waits_a_delay_of_the_schedule(
    wait: float, index: int
) -> None:
    stop = deferral(_delivery(2), wait, NOW, DELAYS)
    assert stop.delay_index == index
    assert stop.delivery.attempt == 2
    assert stop.delivery.due_at == NOW + DELAYS[index]


def _sub(previous: str | None, expires: float | None) -> SubscriptionRecord:
    return factories.subscription(
        target_url="https://example.com",
        secret="whsec_new",
        created_at=NOW,
        updated_at=NOW,
        previous_secret=previous,
        previous_secret_expires_at=expires,
    )


def test_the_previous_secret_signs_until_the_overlap_ends() -> None:
    assert signing_secrets(_sub(None, None), NOW) == ["whsec_new"]
    assert signing_secrets(_sub("whsec_old", NOW + 1), NOW) == ["whsec_new", "whsec_old"]
    assert signing_secrets(_sub("whsec_old", NOW), NOW) == ["whsec_new"]


def test_a_response_body_is_kept_as_text_postgres_can_store() -> None:
    assert printable(b"ok \x00 \xff") == "ok \ufffd \ufffd"


@pytest.mark.parametrize(
    ("text", "seconds"), [("30", 30), ("30s", 30), ("24h", 86400), ("7d", 604800), ("500ms", 0.5)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "7x", "1s,2s", "-1"])
def test_bad_durations_say_so(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
