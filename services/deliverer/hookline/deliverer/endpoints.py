"""Per endpoint (host:port): a concurrency limit, and the circuit breaker.

A delivery asks ``EndpointGate.admit`` before its request. The ticket it gets
either lets it send (at most ``concurrency`` requests at once per endpoint; more
wait for a turn) or tells it to put the delivery off without a request:

- when the endpoint's circuit is open (``breaker``);
- when the endpoint is *stuck*: every slot is taken and nothing it was sent has
  been answered for ``stuck_s``. A delivery already waiting for a turn looks again
  every ``stuck_s`` and is put off too once the endpoint is stuck.

Putting a delivery off does not use up one of its retries.

Why the second rule: every delivery holds one of the deliverer's in-flight slots
(``HOOKLINE_MAX_IN_FLIGHT``) while it waits. An endpoint that hangs until the
timeout, before its circuit has seen enough failures to open, would otherwise
gather those slots and stall the deliveries to every other endpoint; a healthy
endpoint, even a busy one, answers all the time and is never put off.

How many may wait for a turn has no bound of its own: each waiting delivery holds
one of the deliverer's read-ahead slots (``4 * HOOKLINE_MAX_IN_FLIGHT``, worker.py)
from the moment it is read, so all endpoints' waiting lists together stay within
that. A bound per endpoint would put off, through a delay topic (5 s at least), the
deliveries of an endpoint that is busy but healthy, such as one receiver taking all
of a tenant's events (the benchmark's shape). What it leaves open: an endpoint that
answers slowly but keeps answering is never stuck, and its waiting deliveries can
take most of the read-ahead, so other tenants' deliveries are read at its pace until
the router's lanes (a tenant's share of the main lane) run it dry.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hookline.core import metrics
from hookline.deliverer.breaker import Admission, Breaker

STUCK_S = 1.0


@dataclass
class _Endpoint:
    slots: asyncio.Semaphore
    breaker: Breaker
    waiting: int = 0
    busy: int = 0
    progress_at: float = 0.0  # the last answer, or when its first request now out started


@dataclass
class Ticket:
    """One delivery's turn at an endpoint. ``release()`` it when the request is done."""

    admission: Admission
    wait_s: float = 0.0
    reason: str = ""
    _gate: EndpointGate | None = None
    _endpoint: str = ""
    _held: bool = False
    _recorded: bool = field(default=False, repr=False)

    @property
    def deferred(self) -> bool:
        return self.admission is Admission.DEFER

    def record(self, *, down: bool, answered: bool = True) -> None:
        """The request's result: ``down`` counts against the circuit; ``answered`` is
        False when no HTTP answer came back (timeout, refused, reset)."""
        if self._gate is not None and not self._recorded:
            self._recorded = True
            probe = self.admission is Admission.PROBE
            self._gate.record(self._endpoint, down=down, answered=answered, probe=probe)

    def release(self) -> None:
        if self._gate is not None and self._held:
            self._held = False
            probe_lost = self.admission is Admission.PROBE and not self._recorded
            self._gate.release(self._endpoint, probe_lost=probe_lost)


class EndpointGate:
    def __init__(
        self,
        concurrency: int,
        breaker_failures: int,
        breaker_cooldown_s: float,
        clock: Callable[[], float] = time.monotonic,
        stuck_s: float = STUCK_S,
    ) -> None:
        self._concurrency = concurrency
        self._failures = breaker_failures
        self._cooldown_s = breaker_cooldown_s
        self._clock = clock
        self._stuck_s = stuck_s
        self._endpoints: dict[str, _Endpoint] = {}

    def open_circuits(self) -> list[str]:
        return sorted(k for k, e in self._endpoints.items() if e.breaker.is_open)

    async def admit(self, endpoint: str) -> Ticket:
        ep = self._endpoint(endpoint)
        admission = ep.breaker.admit(self._clock())
        if admission is Admission.DEFER:
            return self._deferred(ep, "circuit open")
        if not await self._turn(ep):
            if admission is Admission.PROBE:
                ep.breaker.abandon_probe()
            return Ticket(Admission.DEFER, reason="endpoint not answering")
        if ep.busy == 0:
            ep.progress_at = self._clock()
        ep.busy += 1
        if admission is Admission.SEND:
            # The circuit may have opened while this delivery waited for its turn.
            admission = ep.breaker.admit(self._clock())
        ticket = Ticket(admission, _gate=self, _endpoint=endpoint, _held=True)
        if ticket.deferred:
            ticket.release()
            return self._deferred(ep, "circuit open")
        return ticket

    def record(self, endpoint: str, *, down: bool, answered: bool, probe: bool) -> None:
        ep = self._endpoints.get(endpoint)
        if ep is not None:
            now = self._clock()
            was_open = ep.breaker.is_open
            ep.breaker.record(now, down=down, probe=probe)
            if ep.breaker.is_open and not was_open:
                metrics.circuit_opened()
            if answered:
                ep.progress_at = now

    def release(self, endpoint: str, *, probe_lost: bool) -> None:
        ep = self._endpoints[endpoint]
        if probe_lost:
            ep.breaker.abandon_probe()
        ep.busy -= 1
        ep.slots.release()
        if ep.busy == 0 and ep.waiting == 0 and ep.breaker.idle:
            del self._endpoints[endpoint]  # keep only endpoints with something to remember

    async def _turn(self, ep: _Endpoint) -> bool:
        """Wait for a free slot; False (no slot taken) once the endpoint is stuck."""
        if not ep.slots.locked():
            await ep.slots.acquire()  # free: taken at once, without wait_for's task
            return True
        if self._is_stuck(ep):
            return False
        ep.waiting += 1
        try:
            while True:
                try:
                    async with asyncio.timeout(self._stuck_s):  # no task, unlike wait_for
                        await ep.slots.acquire()
                    return True
                except TimeoutError:
                    if self._is_stuck(ep):
                        return False
        finally:
            ep.waiting -= 1

    def _is_stuck(self, ep: _Endpoint) -> bool:
        full = ep.busy >= self._concurrency
        return full and self._clock() - ep.progress_at >= self._stuck_s

    def _endpoint(self, endpoint: str) -> _Endpoint:
        ep = self._endpoints.get(endpoint)
        if ep is None:
            ep = _Endpoint(
                asyncio.Semaphore(self._concurrency), Breaker(self._failures, self._cooldown_s)
            )
            self._endpoints[endpoint] = ep
        return ep

    def _deferred(self, ep: _Endpoint, reason: str) -> Ticket:
        return Ticket(Admission.DEFER, wait_s=ep.breaker.wait_s(self._clock()), reason=reason)
