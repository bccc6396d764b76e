"""Lanes: how one tenant's fan-out is kept from holding another tenant's deliveries.

Deliveries take one of two lanes, each a topic of its own that the deliverers consume
with a read-ahead budget of its own (docs/delivery.md, "Fairness between tenants"):

- ``hookline.deliveries``, the main lane: every tenant's deliveries within its share;
- ``hookline.deliveries.bulk``, the bulk lane: a tenant's fan-out beyond its share.

The share is a token bucket per tenant (``FanoutBudget``): a tenant may put
``HOOKLINE_TENANT_BURST`` deliveries on the main lane at once, and that many more
every ``burst / HOOKLINE_TENANT_RATE`` seconds. The router asks it once per event, for
the event's whole fan-out: an event that does not fit is not planned by the router's
main agent at all but handed, as a ``FanOut`` (the event, its position and the ids of
the subscriptions it matched), to the router's fan-out agent, which plans it onto the
bulk lane. So the main lane, and the router's main agent, hold at most a burst of one
tenant's deliveries ahead of another's.

The order of one object's versions does not depend on the lane: the deliverer drops a
delivery older than one already tried (docs/ordering.md), whichever lane it came by.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson

from hookline.core.messages import Event

__all__ = ["FanOut", "FanOutError", "FanoutBudget"]

_MAX_SUBSCRIPTIONS = 1_000_000  # far above any tenant's subscriptions to one event type


class FanOutError(ValueError):
    """A ``FanOut`` record that cannot be read."""


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class FanoutBudget:
    """Per tenant, how many deliveries it may still put on the main lane (pure: the
    caller passes the time). ``burst`` tokens at most, ``rate`` tokens a second back."""

    burst: int
    rate: float
    _buckets: dict[int, _Bucket] = field(default_factory=dict)

    def take(self, tenant: int, deliveries: int, now: float) -> bool:
        """True (and the tokens taken) if ``deliveries`` fit the tenant's share now;
        False if they go to the bulk lane (nothing is taken: a tenant's small events
        keep their place on the main lane while its large ones take the bulk lane)."""
        bucket = self._buckets.get(tenant)
        if bucket is None:
            bucket = self._buckets[tenant] = _Bucket(float(self.burst), now)
        elapsed = max(0.0, now - bucket.at)
        bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
        bucket.at = now
        if deliveries > bucket.tokens:
            return False
        bucket.tokens -= deliveries
        if len(self._buckets) > 10_000:
            self._forget_full(now)
        return True

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have refilled: they would start full again anyway."""
        for tenant, b in list(self._buckets.items()):
            if b.tokens + (now - b.at) * self.rate >= self.burst:
                del self._buckets[tenant]


@dataclass(frozen=True)
class FanOut:
    """An event whose fan-out goes to the bulk lane, on the router's fan-out topic.

    ``event`` is the event's message as it was read (``Event.encode()``), ``order`` its
    offset in ``hookline.events`` (the deliveries' version order), ``subscriptions`` the
    ids it matched when the router's main agent read it, after the subscription fence:
    the fan-out agent delivers to those that still exist and still match."""

    SCHEMA: ClassVar[int] = 1

    event: str
    order: int
    subscriptions: list[int]

    def key(self) -> bytes:
        """The event's own key: one object's fan-outs stay in order on one partition."""
        return Event.decode(self.event.encode()).key()

    def encode(self) -> bytes:
        body = {"event": self.event, "order": self.order, "subscriptions": self.subscriptions}
        return orjson.dumps({"v": self.SCHEMA, **body})

    @classmethod
    def decode(cls, raw: bytes) -> FanOut:
        try:
            data: Any = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise FanOutError(f"FanOut: not JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("v") != cls.SCHEMA:
            raise FanOutError("FanOut: not a version 1 record")
        event, order, subs = data.get("event"), data.get("order"), data.get("subscriptions")
        if not isinstance(event, str) or type(order) is not int or not isinstance(subs, list):
            raise FanOutError("FanOut: event must be text, order a number, subscriptions a list")
        if len(subs) > _MAX_SUBSCRIPTIONS or not all(type(s) is int for s in subs):
            raise FanOutError("FanOut: subscriptions must be a list of ids")
        return cls(event, order, subs)
