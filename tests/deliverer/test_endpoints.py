"""Tests for hookline.deliverer.endpoints: per-endpoint concurrency, queue bound, breaker."""

from __future__ import annotations

import asyncio

from hookline.deliverer.breaker import Admission
from hookline.deliverer.endpoints import EndpointGate


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_concurrency_per_endpoint_and_waiting_while_it_answers() -> None:
    clock = Clock()
    gate = EndpointGate(2, breaker_failures=5, breaker_cooldown_s=30, clock=clock, stuck_s=0.05)
    first = await gate.admit("a:443")
    second = await gate.admit("a:443")
    other = await gate.admit("b:443")  # another endpoint is not held up
    assert not (first.deferred or second.deferred or other.deferred)

    waiting = [asyncio.create_task(gate.admit("a:443")) for _ in range(5)]
    await asyncio.sleep(0.12)  # several rounds of stuck_s; the clock says no time passed
    assert not any(t.done() for t in waiting)  # busy, not stuck: they wait their turn

    first.record(down=False)
    first.release()
    third = await waiting[0]
    assert third.admission is Admission.SEND
    for t in (second, other, third):
        t.release()
    for task in waiting[1:]:
        (await task).release()
    assert gate.open_circuits() == []
    assert gate._endpoints == {}


async def test_a_stuck_endpoint_puts_deliveries_off() -> None:
    """Every slot taken and no answer for stuck_s: waiting ones and new ones are put off."""
    clock = Clock()
    gate = EndpointGate(2, breaker_failures=5, breaker_cooldown_s=30, clock=clock, stuck_s=0.05)
    held = [await gate.admit("hang:80") for _ in range(2)]
    waiter = asyncio.create_task(gate.admit("hang:80"))
    await asyncio.sleep(0.01)
    clock.now = 0.05
    ticket = await waiter
    assert ticket.deferred and ticket.reason == "endpoint not answering"
    assert ticket.wait_s == 0
    late = await gate.admit("hang:80")  # no need to wait a round to know
    assert late.deferred and late.reason == "endpoint not answering"

    held[0].record(down=False)  # it answered after all: no longer stuck
    held[0].release()
    assert not (await gate.admit("hang:80")).deferred
    other = await gate.admit("fine:80")
    assert not other.deferred


async def test_an_open_circuit_defers_without_waiting_and_probes_after_the_cooldown() -> None:
    clock = Clock()
    gate = EndpointGate(concurrency=4, breaker_failures=2, breaker_cooldown_s=30, clock=clock)
    for _ in range(2):
        t = await gate.admit("dead:80")
        t.record(down=True)
        t.release()
    assert gate.open_circuits() == ["dead:80"]
    clock.now = 10
    deferred = await gate.admit("dead:80")
    assert deferred.deferred and deferred.reason == "circuit open" and deferred.wait_s == 20

    clock.now = 30
    probe = await gate.admit("dead:80")
    assert probe.admission is Admission.PROBE
    assert (await gate.admit("dead:80")).deferred  # one probe at a time
    probe.record(down=False)
    probe.release()
    assert gate.open_circuits() == []
    assert (await gate.admit("dead:80")).admission is Admission.SEND


async def test_waiters_see_a_circuit_that_opened_while_they_waited() -> None:
    gate = EndpointGate(concurrency=1, breaker_failures=1, breaker_cooldown_s=30, clock=Clock())
    holder = await gate.admit("x:1")
    waiter = asyncio.create_task(gate.admit("x:1"))
    await asyncio.sleep(0)
    holder.record(down=True)
    holder.release()
    ticket = await waiter
    assert ticket.deferred and ticket.reason == "circuit open"
    # Its slot was given back: the endpoint is not stuck.
    assert (await gate.admit("x:1")).deferred


async def test_a_probe_released_without_an_answer_lets_another_probe_go() -> None:
    clock = Clock()
    gate = EndpointGate(concurrency=2, breaker_failures=1, breaker_cooldown_s=5, clock=clock)
    t = await gate.admit("x:1")
    t.record(down=True)
    t.release()
    clock.now = 5
    probe = await gate.admit("x:1")
    assert probe.admission is Admission.PROBE
    probe.release()  # cancelled before it had an answer
    assert (await gate.admit("x:1")).admission is Admission.PROBE


async def test_healthy_endpoints_are_forgotten() -> None:
    gate = EndpointGate(concurrency=2, breaker_failures=3, breaker_cooldown_s=5, clock=Clock())
    for n in range(100):
        t = await gate.admit(f"host{n}:443")
        t.record(down=False)
        t.release()
    assert gate._endpoints == {}
