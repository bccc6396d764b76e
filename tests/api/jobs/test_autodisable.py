"""Tests for hookline.api.jobs.autodisable: the health fold and the decision to disable."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from hookline.api.jobs.autodisable import Candidate, Health, decide, failing_for, fold
from hookline.core.messages import SubscriptionRecord
from support import factories

DAY = 86400.0


def _fold_all(events: list[tuple[float, bool]]) -> Health:
    h = Health()
    for at, ok in events:
        h = fold(h, at, ok)
    return h


def test_failing_since_is_the_first_failure_after_the_last_success() -> None:
    h = _fold_all([(0, False), (10, False), (20, True), (30, False), (40, False)])
    assert h.failing_since == 30 and h.last_failure_at == 40 and h.last_success_at == 20
    assert failing_for(h, 0) == 10


def test_a_success_resets_the_clock() -> None:
    h = _fold_all([(0, False), (6 * DAY, False), (6 * DAY + 1, True)])
    assert h.failing_since is None and failing_for(h, 0) == 0
    h = fold(h, 8 * DAY, False)
    assert failing_for(h, 0) == 0  # one failure, just now


def test_a_change_to_the_subscription_restarts_the_clock() -> None:
    h = _fold_all([(0, False), (8 * DAY, False)])
    assert failing_for(h, 0) == 8 * DAY
    assert failing_for(h, 7 * DAY) == DAY
    assert failing_for(h, 9 * DAY) == 0


@given(st.lists(st.tuples(st.floats(0, 1000), st.booleans()), max_size=30), st.randoms())
def test_order_of_arrival_never_makes_the_clock_older(
    events: list[tuple[float, bool]], rnd: object
) -> None:
    """Attempts reach the projector out of time order; the clock it keeps may start later
    than the truth but never earlier, so nothing is disabled too soon."""
    shuffled = list(events)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    h = _fold_all(shuffled)
    successes = [at for at, ok in events if ok]
    failures = [at for at, ok in events if not ok]
    last_success = max(successes, default=None)
    after = [f for f in failures if last_success is None or f > last_success]
    truth = min(after) if after else None
    if truth is None:
        assert h.failing_since is None or h.failing_since in failures
    else:
        assert h.failing_since is not None and h.failing_since >= truth
    assert h.last_failure_at == max(failures, default=None)
    assert h.last_success_at == last_success


def _sub(status: str = "ACTIVE", updated_at: float = 0.0) -> SubscriptionRecord:
    return factories.subscription(
        id=5,
        version=3,
        target_url="https://example.com",
        status=status,
        secret="whsec_x",
        created_at=0.0,
        updated_at=updated_at,
    )


def test_decide() -> None:
    failing = Candidate(5, 1, Health(failing_since=0, last_failure_at=7 * DAY))
    assert decide(failing, _sub(), 7 * DAY) == "DISABLED_TOO_MANY_ERRORS"
    assert decide(failing, _sub(), 8 * DAY) is None
    assert decide(failing, _sub(updated_at=DAY), 7 * DAY) is None  # re-enabled a day in
    assert decide(failing, _sub("DISABLED"), 7 * DAY) is None
    gone = replace(failing, health=Health(0, 0, None), gone_at=100.0)
    assert decide(gone, _sub(), 7 * DAY) == "DISABLED_GONE"
    # A 410 from before the subscription changed (a new targetUrl, say) does not count.
    assert decide(gone, _sub(updated_at=200.0), 7 * DAY) is None
