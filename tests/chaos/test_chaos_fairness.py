"""Fairness: one tenant's fan-out or dead endpoints delay another tenant's deliveries
only within a stated bound (docs/delivery.md, "Fairness between tenants").

Tenant B publishes one event every ``PROBE_EVERY_S`` to its own receiver and the test
measures, per event, the time from its publish call to the receiver's request. First
alone (the baseline), then while tenant A:

- fans out: one list of ``FANOUT_EVENTS`` events to ``FANOUT_SUBS`` subscriptions
  (10,000 deliveries at once; the issue's 90,000, scaled down to run in CI);
- or has ``DEAD_ENDPOINTS`` endpoints that accept connections and never answer, with
  ``DEAD_EVENTS`` events for each.

B's worst latency may exceed its median alone (the machine's own load is in that) by
``BOUND_S`` or ``FANOUT_SHARE`` of the fan-out's delivery time behind a fan-out, and by
less than one delivery timeout behind dead endpoints.
Run by ``make chaos`` (HOOKLINE_CHAOS=1).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio
from aiohttp import web
from chaoskit import FaultyReceiver, Load, admin_of, chaos_stack, new_tenant, routable

from support.client import Api
from support.scripted import HangingEndpoint
from support.stack import Stack

pytestmark = pytest.mark.skipif(
    not os.environ.get("HOOKLINE_CHAOS"), reason="fault tests: make chaos runs them"
)

FANOUT_SUBS = 100
FANOUT_EVENTS = 100
DEAD_ENDPOINTS = 8
DEAD_EVENTS = 100
PROBE_EVERY_S = 0.25
BOUND_S = 2.0  # extra wait (s) behind a fan-out; docs/delivery.md states it
# ... or this share of the time A's fan-out takes to deliver, if more: on a machine so
# loaded that a deliverer delivers less than A's share of the main lane refills
# (HOOKLINE_TENANT_RATE), B waits behind that share, still not behind the fan-out.
FANOUT_SHARE = 0.15

# The deliverer's timeout as in production (10 s) would make the dead-endpoint case slow;
# 5 s still outlasts two rounds of the old behaviour's wait. The circuit's cooldown is
# the default, so the bound does not lean on the breaker closing quickly.
SETTINGS = {"HOOKLINE_DELIVERY_TIMEOUT": "5", "HOOKLINE_BREAKER_COOLDOWN": "30s"}


@dataclass
class Probe:
    """Tenant B: one subscription, one event at a time, the latency of each."""

    api: Api
    sent_at: dict[int, float] = field(default_factory=dict)
    latencies: dict[int, float] = field(default_factory=dict)
    port: int = 0
    next_id: int = 1
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/probe", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        spec = {"event": "product.create", "targetUrl": f"http://127.0.0.1:{self.port}/probe"}
        status, body = await self.api.call("POST", "/v2/event/subscription", spec)
        assert status == 201, body

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        event = int(orjson.loads(await request.read())["id"])
        if event not in self.latencies:  # a copy (at least once) does not count again
            self.latencies[event] = time.monotonic() - self.sent_at[event]
        return web.Response(status=200)

    async def one(self) -> int:
        event = self.next_id
        self.next_id += 1
        body = {"event": "product.create", "id": event, "value": {"id": event}}
        # From before the call: its delivery may arrive before the 202 is read here.
        self.sent_at[event] = time.monotonic()
        status, answer = await self.api.call("POST", "/v2/event/publish", body)
        assert status == 202, answer
        return event

    async def every(self, seconds: float, until: asyncio.Event) -> list[int]:
        sent = []
        while not until.is_set():
            sent.append(await self.one())
            await asyncio.sleep(seconds)
        return sent

    async def arrived(self, events: list[int], timeout_s: float) -> list[float]:
        """Each event's latency; one that has not arrived counts as ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            if time.monotonic() > deadline or all(e in self.latencies for e in events):
                break
            await asyncio.sleep(0.05)
        return [self.latencies.get(e, timeout_s) for e in events]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fair(infra: dict[str, str]) -> AsyncIterator[Stack]:
    async with chaos_stack(infra, **SETTINGS) as stack:
        yield stack


@pytest_asyncio.fixture(loop_scope="session")
async def probe(fair: Stack, http: aiohttp.ClientSession) -> AsyncIterator[Probe]:
    p = Probe(await new_tenant(admin_of(fair, http)))
    await p.start()
    yield p
    await p.stop()


class Made:
    """Subscriptions made on the module's stack so far, to know when the router has them."""

    count = 0


async def baseline(probe: Probe, fair: Stack, http: aiohttp.ClientSession, made: int) -> float:
    Made.count += made + 1  # the probe's own subscription too
    await routable(fair, http, Made.count)
    events = [await probe.one() for _ in range(4)]
    return statistics.median(await probe.arrived(events, 30))


async def while_loaded(probe: Probe, done: asyncio.Future[Any]) -> list[float]:
    stop = asyncio.Event()
    done.add_done_callback(lambda _: stop.set())
    events = await probe.every(PROBE_EVERY_S, stop)
    return await probe.arrived(events, 60)


def verdict(name: str, alone: float, loaded: list[float], extra: str, bound: float) -> None:
    """B's worst wait may exceed its median alone by ``bound`` seconds."""
    worst = max(loaded)
    print(
        f"\n[fairness: {name}] tenant B alone: median {alone:.3f}s; while tenant A {extra}: "
        f"median {statistics.median(loaded):.3f}s, worst {worst:.3f}s over {len(loaded)} "
        f"events (bound: alone + {bound:.2f}s)"
    )
    if worst > alone + bound:
        print("  latencies in order:", " ".join(f"{x:.2f}" for x in loaded))
    assert worst <= alone + bound, f"tenant B waited {worst:.2f}s behind tenant A ({name})"


async def test_one_tenants_fan_out_does_not_hold_another_tenants_events(
    fair: Stack, http: aiohttp.ClientSession, probe: Probe
) -> None:
    receiver = FaultyReceiver()
    await receiver.start()
    try:
        load = Load(await new_tenant(admin_of(fair, http)))
        for path in range(FANOUT_SUBS):
            await load.subscribe(receiver, path)
        alone = await baseline(probe, fair, http, FANOUT_SUBS)
        started = time.monotonic()
        publish = asyncio.ensure_future(load.publish(FANOUT_EVENTS, per_call=FANOUT_EVENTS))
        drained = asyncio.ensure_future(_drained(load, receiver, started))
        routed = asyncio.ensure_future(_routed(fair, http, FANOUT_SUBS * FANOUT_EVENTS, started))
        loaded = await while_loaded(probe, drained)
        await publish
        took, routing = await drained, await routed
        extra = (
            f"fans out {len(load.expected)} deliveries"
            f" (routed in {routing:.1f}s, delivered in {took:.1f}s)"
        )
        # Before: B waited about as long as A's whole fan-out took to deliver.
        verdict("fan-out", alone, loaded, extra, max(BOUND_S, FANOUT_SHARE * took))
    finally:
        await receiver.stop()


async def _routed(fair: Stack, http: aiohttp.ClientSession, count: int, started: float) -> float:
    """Seconds until the router has planned ``count`` more deliveries than at the start."""
    url = f"http://127.0.0.1:{fair.services['router'].port}/healthz"

    async def planned() -> int:
        async with http.get(url) as rsp:
            counts = (await rsp.json())["routed"]
            return int(counts["deliveries"])

    before = await planned()
    while await planned() < before + count:
        assert time.monotonic() - started < 120, "tenant A's fan-out was never all routed"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def _drained(load: Load, receiver: FaultyReceiver, started: float) -> float:
    while not load.expected or not load.expected <= receiver.received():
        assert time.monotonic() - started < 120, "tenant A's fan-out was never all delivered"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def test_one_tenants_dead_endpoints_do_not_hold_another_tenants_events(
    fair: Stack, http: aiohttp.ClientSession, probe: Probe
) -> None:
    dead = [HangingEndpoint() for _ in range(DEAD_ENDPOINTS)]
    for endpoint in dead:
        await endpoint.start()
    try:
        hostile = await new_tenant(admin_of(fair, http))
        for endpoint in dead:
            spec = {"event": "product.create", "targetUrl": f"{endpoint.url}/hook"}
            status, body = await hostile.call("POST", "/v2/event/subscription", spec)
            assert status == 201, body
        alone = await baseline(probe, fair, http, DEAD_ENDPOINTS)
        events = [
            {"event": "product.create", "id": i, "value": {"id": i}} for i in range(DEAD_EVENTS)
        ]
        status, body = await hostile.call("POST", "/v2/event/publish", events)
        assert status == 202, body
        # Long enough for two rounds of the deliverer's timeout.
        timeout_s = float(SETTINGS["HOOKLINE_DELIVERY_TIMEOUT"])
        window = asyncio.ensure_future(asyncio.sleep(3 * timeout_s))
        loaded = await while_loaded(probe, window)
        connections = sum(e.connections for e in dead)
        verdict(
            "dead endpoints",
            alone,
            loaded,
            f"has {DEAD_ENDPOINTS} endpoints that never answer ({connections} connections)",
            timeout_s,  # before: two rounds of the timeout and more
        )
    finally:
        for endpoint in dead:
            await endpoint.stop()
