"""The subscription fold: how every reader of ``hookline.subscriptions`` applies a record.

One rule for all of them (API projector, router, deliverer, retry scheduler): a
record whose ``version`` is not newer than the one held is ignored, and a
``deleted`` record removes the subscription. ``SubscriptionIndex`` adds a lookup
by tenant and event type, so matching one event costs only the subscriptions
that match it.
"""

from __future__ import annotations

from collections import defaultdict

from hookline.core.messages import SubscriptionRecord

ACTIVE = "ACTIVE"
DISABLED = "DISABLED"
DISABLED_TOO_MANY_ERRORS = "DISABLED_TOO_MANY_ERRORS"
DISABLED_GONE = "DISABLED_GONE"
STATUSES = (ACTIVE, DISABLED, DISABLED_TOO_MANY_ERRORS, DISABLED_GONE)


def is_newer(current: SubscriptionRecord | None, incoming: SubscriptionRecord) -> bool:
    return current is None or incoming.version > current.version


class SubscriptionTable:
    """Every subscription by id, folded by version. Deleted ids are remembered with
    their last version so that an older record arriving late cannot resurrect them."""

    def __init__(self) -> None:
        self._by_id: dict[int, SubscriptionRecord] = {}

    def __len__(self) -> int:
        return sum(1 for r in self._by_id.values() if not r.deleted)

    def get(self, subscription_id: int) -> SubscriptionRecord | None:
        record = self._by_id.get(subscription_id)
        return None if record is None or record.deleted else record

    def apply(self, record: SubscriptionRecord) -> SubscriptionRecord | None:
        """Fold one record in; returns the record it replaced, or None if it was ignored
        or new."""
        current = self._by_id.get(record.id)
        if not is_newer(current, record):
            return None
        self._by_id[record.id] = record
        self._on_change(current, record)
        return current

    def _on_change(self, old: SubscriptionRecord | None, new: SubscriptionRecord) -> None:
        """Hook for subclasses that keep indexes."""


class SubscriptionIndex(SubscriptionTable):
    """A ``SubscriptionTable`` that also finds the active subscriptions of a tenant for
    one event type in O(matches)."""

    def __init__(self) -> None:
        super().__init__()
        self._by_route: defaultdict[tuple[int, str], dict[int, SubscriptionRecord]] = defaultdict(
            dict
        )

    def matching(self, tenant: int, event: str) -> list[SubscriptionRecord]:
        found = self._by_route.get((tenant, event))
        return list(found.values()) if found else []

    def _on_change(self, old: SubscriptionRecord | None, new: SubscriptionRecord) -> None:
        if old is not None:
            for event in old.events:
                routes = self._by_route.get((old.tenant, event))
                if routes is not None:
                    routes.pop(old.id, None)
                    if not routes:
                        del self._by_route[(old.tenant, event)]
        if not new.deleted and new.status == ACTIVE:
            for event in new.events:
                self._by_route[(new.tenant, event)][new.id] = new
