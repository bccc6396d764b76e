"""Tests for hookline.router.recent.Recent: what the router remembers it routed."""

from __future__ import annotations

from hookline.core.messages import Event, Routed
from hookline.router.recent import Recent
from support import factories

DAY = 86400.0
T0 = 1_800_000_000.0


def event(event_id: str = "e1", n: int = 5, version: int | None = None, tenant: int = 1) -> Event:
    return factories.event(
        event_id=event_id,
        tenant=tenant,
        event="product.update",
        id=n,
        occurred_at=T0,
        value={"id": n},
        version=version,
    )


def test_an_event_is_seen_for_the_window_then_forgotten() -> None:
    recent = Recent(DAY)
    assert not recent.seen(event(), T0)
    record = recent.remember(event(), T0)
    assert record == Routed(tenant=1, event_id="e1", at=T0, object_key="1:product:5")
    assert recent.seen(event(), T0 + DAY)
    assert not recent.seen(event(), T0 + DAY + 1)
    assert not recent.seen(event(tenant=2), T0)  # ids are per tenant


def test_the_newest_version_of_an_object_wins_and_expires() -> None:
    recent = Recent(DAY)
    recent.remember(event("a", version=3), T0)
    recent.remember(event("b", version=2), T0 + 1)  # routed late: does not lower it
    assert recent.newest_version(event(version=1), T0 + 2) == 3
    assert recent.newest_version(event(n=6), T0 + 2) is None
    assert recent.newest_version(event(), T0 + DAY + 2) is None


def test_records_from_the_topic_teach_another_worker() -> None:
    first, other = Recent(DAY), Recent(DAY)
    other.apply(first.remember(event("x", version=9), T0))
    assert other.seen(event("x"), T0 + 5) and other.newest_version(event(), T0 + 5) == 9


def test_old_entries_are_dropped_as_new_ones_come() -> None:
    recent = Recent(10.0)
    for n in range(100):
        recent.remember(event(f"e{n}", n=n, version=1), T0 + n)
    assert len(recent) <= 12  # about one window of ids is kept
    assert recent.seen(event("e99"), T0 + 99) and not recent.seen(event("e0"), T0 + 99)
