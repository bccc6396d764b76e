"""Per tenant: a limit on the requests one deliverer has open for it.

Every request holds one of the deliverer's ``HOOKLINE_MAX_IN_FLIGHT`` request slots
until its answer or its timeout. Without a limit per tenant, one tenant's endpoints
that never answer (eight of them, at ``HOOKLINE_ENDPOINT_CONCURRENCY`` each, are more
than every slot) hold all the slots for a whole timeout, and again after it, and every
other tenant's deliveries wait. ``TenantGate`` gives a tenant at most ``limit``
requests at once and lets as many more deliveries wait for a turn. A delivery is put
off (to a delay topic, without a request and without using up a retry) when:

- that many deliveries of its tenant are waiting already, or
- the tenant is *stuck*: all of its turns are taken and none of its requests has been
  answered for ``stuck_s``; one already waiting looks again every ``stuck_s``.

So another tenant keeps ``MAX_IN_FLIGHT - limit`` request slots, whatever one tenant
does (with the defaults 128 of 256), and one tenant's deliveries hold at most
``2 * limit`` of the read-ahead at this gate.

The turn is asked for once the endpoint (``endpoints.py``) has given one, just before
the request: a delivery waiting for its endpoint holds no turn of its tenant, so one
dead endpoint (64 requests) leaves the tenant's other endpoints the rest of its share.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

STUCK_S = 1.0
QUEUED_PER_TURN = 1  # as many may wait for a turn as hold one


@dataclass
class _Tenant:
    turns: asyncio.Semaphore
    busy: int = 0
    waiting: int = 0
    progress_at: float = 0.0  # the last answer, or when its first request now out started


@dataclass
class Turn:
    """One delivery's turn for its tenant; ``release()`` it when the request is done."""

    gate: TenantGate
    tenant: int
    held: bool = True

    def answered(self) -> None:
        """The request got an HTTP answer (any status): the tenant is not stuck."""
        self.gate.answered(self.tenant)

    def release(self) -> None:
        if self.held:
            self.held = False
            self.gate.release(self.tenant)


class TenantGate:
    def __init__(
        self, limit: int, clock: Callable[[], float] = time.monotonic, stuck_s: float = STUCK_S
    ) -> None:
        self._limit = limit
        self._clock = clock
        self._stuck_s = stuck_s
        self._tenants: dict[int, _Tenant] = {}

    async def admit(self, tenant: int) -> Turn | None:
        """A turn, or None: put the delivery off (the tenant's queue is full or stuck)."""
        t = self._tenants.get(tenant)
        if t is None:
            t = self._tenants[tenant] = _Tenant(asyncio.Semaphore(self._limit))
        if not await self._turn(t):
            self._forget_if_idle(tenant, t)
            return None
        if t.busy == 0:
            t.progress_at = self._clock()
        t.busy += 1
        return Turn(self, tenant)

    def answered(self, tenant: int) -> None:
        t = self._tenants.get(tenant)
        if t is not None:
            t.progress_at = self._clock()

    def release(self, tenant: int) -> None:
        t = self._tenants[tenant]
        t.busy -= 1
        t.turns.release()
        self._forget_if_idle(tenant, t)

    def in_flight(self, tenant: int) -> int:
        t = self._tenants.get(tenant)
        return t.busy if t is not None else 0

    async def _turn(self, t: _Tenant) -> bool:
        if not t.turns.locked():
            await t.turns.acquire()  # free: taken at once, without wait_for's task
            return True
        if t.waiting >= QUEUED_PER_TURN * self._limit or self._is_stuck(t):
            return False
        t.waiting += 1
        try:
            while True:
                try:
                    await asyncio.wait_for(t.turns.acquire(), self._stuck_s)
                    return True
                except TimeoutError:
                    if self._is_stuck(t):
                        return False
        finally:
            t.waiting -= 1

    def _is_stuck(self, t: _Tenant) -> bool:
        full = t.busy >= self._limit
        return full and self._clock() - t.progress_at >= self._stuck_s

    def _forget_if_idle(self, tenant: int, t: _Tenant) -> None:
        if t.busy == 0 and t.waiting == 0:
            self._tenants.pop(tenant, None)
