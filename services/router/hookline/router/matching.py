"""Which deliveries one event makes: the planning lives in ``hookline.core.routing``
(replays plan with it too); this module keeps the router's names for it."""

from __future__ import annotations

from hookline.core.routing import delivery_id, plan_deliveries

__all__ = ["delivery_id", "plan_deliveries"]
