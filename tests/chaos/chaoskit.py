"""What the fault tests share: a stack of their own, a faulty receiver, a load, a check.

Each fault test runs its own services (their own topic prefix and database) so that
killing them disturbs no other test. A delivery counts as received only when the
receiver answered it 200; every event must be received at least once, and copies
(the same subscription and event accepted twice) are printed, not failed: at least
once allows them.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import struct
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
import orjson
from aiohttp import web
from aiokafka.errors import KafkaError
from bench.stack import drop_topics

from support.client import Api
from support.database import own_database
from support.stack import ROOT, Stack, test_settings

# Faults to play at a receiver: what it does with one request.
OK, FAIL, HANG, RESET = "ok", "500", "hang", "reset"
Behaviour = Callable[[float], str]  # seconds since the receiver started -> one of the above

# Retries must outlast the faults; a circuit opened by them must close again quickly.
CHAOS_SETTINGS = {
    "HOOKLINE_RETRY_DELAYS": "1s,2s,3s,5s,8s",
    "HOOKLINE_BREAKER_COOLDOWN": "2s",
    "HOOKLINE_DELIVERY_TIMEOUT": "2",
    # Faust's own setting: a killed router's partitions move after 10s instead of 60s.
    "BROKER_SESSION_TIMEOUT": "10",
}


def always_ok(_: float) -> str:
    return OK


@dataclass
class FaultyReceiver:
    """A target on 127.0.0.1 that plays ``behaviour`` and records what it accepted."""

    behaviour: Behaviour = always_ok
    hang_s: float = 3.0
    accepted: Counter[tuple[int, int]] = field(default_factory=Counter)
    webhook_ids: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    port: int = 0
    _runner: web.AppRunner | None = None
    _started: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{sub:[0-9]+}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._started = time.monotonic()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        what = self.behaviour(time.monotonic() - self._started)
        self.faults[what] += 1
        if what == FAIL:
            return web.Response(status=500, text="down for a while")
        if what == HANG:
            await asyncio.sleep(self.hang_s)  # past the deliverer's timeout
            return web.Response(status=200)
        if what == RESET:
            reset(request)
            return web.Response(status=200)  # never reaches the deliverer
        sub = int(request.match_info["sub"])
        self.accepted[(sub, int(orjson.loads(body)["id"]))] += 1
        self.webhook_ids[request.headers.get("webhook-id", "")] += 1
        return web.Response(status=200)

    def received(self) -> set[tuple[int, int]]:
        return set(self.accepted)

    def duplicates(self) -> dict[tuple[int, int], int]:
        return {k: n for k, n in self.accepted.items() if n > 1}


def reset(request: web.Request) -> None:
    """Close the connection with a TCP RST (SO_LINGER 0), as a crashing server does."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def faulty_for(seconds: float, fault: str) -> Behaviour:
    """``fault`` for the first ``seconds``, then healthy."""
    return lambda t: fault if t < seconds else OK


@asynccontextmanager
async def chaos_stack(infra: dict[str, str], **extra: str) -> AsyncIterator[Stack]:
    """The four services on their own prefix and database, on the broker in ``infra``."""
    async with own_database(infra["HOOKLINE_DATABASE_URL"], "hookline_chaos") as db_url:
        env = {**test_settings(infra, db_url), **CHAOS_SETTINGS, **extra}
        env["HOOKLINE_TOPIC_PREFIX"] = env["HOOKLINE_TOPIC_PREFIX"].replace("hltest", "hlchaos")
        logs = ROOT / ".local" / "test-logs" / env["HOOKLINE_TOPIC_PREFIX"]
        env["APP_DATADIR"] = str(logs / "router-data")  # Faust's, out of the work tree
        stack = Stack(env)
        try:
            await asyncio.to_thread(stack.start, logs)
            yield stack
        finally:
            await asyncio.to_thread(stack.stop)
            with contextlib.suppress(KafkaError, OSError):
                await drop_topics(env, env["HOOKLINE_TOPIC_PREFIX"])


async def restart(stack: Stack, name: str) -> None:
    """SIGKILL one service and start it again (off the loop: the receivers keep answering)."""
    await asyncio.to_thread(stack.services[name].restart)


@dataclass
class Load:
    """Events published through the API, and which subscription must receive which."""

    api: Api
    subs: list[int] = field(default_factory=list)  # subscription path numbers
    expected: set[tuple[int, int]] = field(default_factory=set)
    next_id: int = 1

    async def subscribe(self, receiver: FaultyReceiver, path: int) -> None:
        spec = {"event": "product.create", "targetUrl": f"{receiver.url}/{path}"}
        status, body = await self.api.call("POST", "/v2/event/subscription", spec)
        assert status == 201, body
        self.subs.append(path)

    async def publish(self, count: int, per_call: int = 100) -> None:
        """Publish ``count`` events; only those the API accepted (202) are expected."""
        while count > 0:
            n = min(per_call, count)
            ids = range(self.next_id, self.next_id + n)
            body = [{"event": "product.create", "id": i, "value": {"id": i}} for i in ids]
            status, _ = await self.api.call("POST", "/v2/event/publish", body)
            if status == 202:
                self.expected |= {(s, i) for i in ids for s in self.subs}
                self.next_id += n
                count -= n
            else:
                await asyncio.sleep(0.5)  # the broker may be away: try the same ids again

    async def publish_over(self, count: int, seconds: float, per_call: int = 50) -> None:
        """``count`` events spread evenly over about ``seconds``."""
        calls = max(1, count // per_call)
        for _ in range(calls):
            started = time.monotonic()
            await self.publish(per_call, per_call)
            await asyncio.sleep(max(0.0, seconds / calls - (time.monotonic() - started)))


async def wait_received(
    load: Load, receivers: list[FaultyReceiver], timeout_s: float
) -> set[tuple[int, int]]:
    """Until every expected delivery was accepted, or ``timeout_s``; returns the missing."""
    deadline = time.monotonic() + timeout_s
    while True:
        got: set[tuple[int, int]] = set()
        for r in receivers:
            got |= r.received()
        missing = load.expected - got
        if not missing or time.monotonic() > deadline:
            return missing
        await asyncio.sleep(0.25)


async def wait_progress(receivers: list[FaultyReceiver], at_least: int, timeout_s: float) -> None:
    """Until the receivers accepted ``at_least`` deliveries: the load is flowing."""
    deadline = time.monotonic() + timeout_s
    while sum(len(r.accepted) for r in receivers) < at_least:
        assert time.monotonic() < deadline, "deliveries did not start flowing"
        await asyncio.sleep(0.1)


def missing_text(missing: set[tuple[int, int]], stack: Stack) -> str:
    """What a failed check says: how many, which events, where the services' logs are."""
    events = sorted({event for _, event in missing})
    logs = stack.services["router"].log.parent
    return (
        f"{len(missing)} deliveries never arrived ({len(events)} events, ids {events[:8]}"
        f"{'...' if len(events) > 8 else ''}); the services' logs are in {logs}"
    )


def report(name: str, load: Load, receivers: list[FaultyReceiver]) -> int:
    """Print what arrived and every duplicate; returns the number of extra copies."""
    dups: dict[tuple[int, int], int] = {}
    for r in receivers:
        dups.update(r.duplicates())
    extra = sum(n - 1 for n in dups.values())
    faults = sum((r.faults for r in receivers), Counter())
    print(
        f"\n[{name}] expected {len(load.expected)} deliveries; all received; "
        f"{extra} duplicate copies of {len(dups)} deliveries; receiver answers {dict(faults)}"
    )
    for (sub, event), n in sorted(dups.items())[:20]:
        print(f"  duplicate: subscription path {sub} event {event} accepted {n} times")
    if len(dups) > 20:
        print(f"  ... and {len(dups) - 20} more duplicated deliveries")
    return extra


async def routable(stack: Stack, http: aiohttp.ClientSession, count: int) -> None:
    """Until the router holds ``count`` subscriptions: an event published before the
    router has read its subscription is, rightly, not delivered to it."""
    url = f"http://127.0.0.1:{stack.services['router'].port}/healthz"
    deadline = time.monotonic() + 30
    while True:
        async with http.get(url) as rsp:
            if int((await rsp.json()).get("subscriptions", 0)) >= count:
                return
        assert time.monotonic() < deadline, f"the router never held {count} subscriptions"
        await asyncio.sleep(0.1)


async def new_tenant(admin: Api) -> Api:
    status, body = await admin.call(
        "POST", "/v2/admin/tenants", {"name": f"chaos-{secrets.token_hex(3)}"}
    )
    assert status == 201, body
    return admin.as_key(body["value"]["apiKey"])


def admin_of(stack: Stack, http: aiohttp.ClientSession) -> Api:
    return Api(stack.api_url, http, stack.admin_token)
