"""What the services' metrics say after real deliveries: each test runs once its
service calls ``hookline.core.metrics`` (the call sites live in the services' files)."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.client import Api
from support.receiver import Receiver
from support.stack import ROOT, Stack


def calls(path: str, what: str) -> bool:
    return what in (ROOT / path).read_text()


DELIVERER = calls("services/deliverer/hookline/deliverer/worker.py", "metrics.")
DELIVERER_LAG = calls("services/deliverer/hookline/deliverer/__main__.py", "LagTracker")
SCHEDULER = calls("services/retry-scheduler/hookline/retry_scheduler/scheduler.py", "metrics.")
SCHEDULER_LAG = calls("services/retry-scheduler/hookline/retry_scheduler/__main__.py", "LagTracker")
ROUTER_LAG = calls("services/router/hookline/router/app.py", "LagTracker")
PUBLISHED = calls("services/api/hookline/api/http/events.py", "metrics.")


async def scrape(http: aiohttp.ClientSession, stack: Stack, service: str) -> dict[str, float]:
    """``name{label="value",...}`` -> value, labels sorted."""
    async with http.get(f"http://127.0.0.1:{stack.services[service].port}/metrics") as rsp:
        text = await rsp.text()
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            found[f"{s.name}{{{labels}}}"] = s.value
    return found


async def eventually(
    http: aiohttp.ClientSession, stack: Stack, service: str, want: dict[str, float]
) -> dict[str, float]:
    """Scrape until every metric in ``want`` is at least its value (10 s at most)."""
    deadline = time.monotonic() + 10
    while True:
        got = await scrape(http, stack, service)
        short = {k: got.get(k) for k, v in want.items() if got.get(k, -1) < v}
        if not short:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{service}: {short} (wanted at least {want})")
        await asyncio.sleep(0.3)


async def one_retried_delivery(tenant: Api, receiver: Receiver) -> None:
    receiver.responder = lambda n: 500 if n == 0 else 200
    body = {"event": "product.create", "targetUrl": f"{receiver.url}/m"}
    status, _ = await tenant.call("POST", "/v2/event/subscription", body)
    assert status == 201
    event = {"event": "product.create", "id": 3, "value": {"id": 3}}
    assert (await tenant.call("POST", "/v2/event/publish", event))[0] == 202
    await receiver.wait_for(2, timeout_s=20)


@pytest.mark.skipif(not DELIVERER, reason="the deliverer does not call hookline.core.metrics yet")
async def test_the_deliverer_counts_outcomes_latency_and_retries(
    stack: Stack, tenant: Api, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    before = await scrape(http, stack, "deliverer")
    success = 'hookline_deliveries_total{outcome="success"}'
    retry = 'hookline_deliveries_total{outcome="retry"}'
    latency = 'hookline_delivery_latency_seconds_count{outcome="success"}'
    scheduled = 'hookline_retries_scheduled_total{delay="1s"}'
    await one_retried_delivery(tenant, receiver)
    want = {k: before.get(k, 0) + 1 for k in (success, retry, latency, scheduled)}
    after = await eventually(http, stack, "deliverer", want)
    slow = 'hookline_delivery_latency_seconds_bucket{le="2.5",outcome="success"}'
    assert after[slow] == after[latency]  # a local receiver answers well within 2.5 s


@pytest.mark.skipif(not SCHEDULER, reason="the retry scheduler does not call metrics yet")
async def test_the_retry_scheduler_counts_what_it_puts_back(
    stack: Stack, tenant: Api, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    released = 'hookline_retries_released_total{delay="1s"}'
    before = (await scrape(http, stack, "retry_scheduler")).get(released, 0)
    await one_retried_delivery(tenant, receiver)
    await eventually(http, stack, "retry_scheduler", {released: before + 1})


@pytest.mark.skipif(not PUBLISHED, reason="the API's publish does not call metrics yet")
async def test_the_api_counts_published_events(
    stack: Stack, tenant: Api, http: aiohttp.ClientSession
) -> None:
    published = "hookline_events_published_total{}"
    before = (await scrape(http, stack, "api")).get(published, 0)
    events = [{"event": "product.create", "id": n, "value": {"id": n}} for n in range(3)]
    assert (await tenant.call("POST", "/v2/event/publish", events))[0] == 202
    await eventually(http, stack, "api", {published: before + 3})


LAG_CASES = {
    "deliverer": ("deliverer", "deliveries", DELIVERER_LAG),
    "retry_scheduler": ("retry-scheduler", "retry.1s", SCHEDULER_LAG),
    "router": ("router", "events", ROUTER_LAG),
}


@pytest.mark.parametrize("service", sorted(LAG_CASES))
async def test_each_consumer_group_reports_its_lag(
    stack: Stack, http: aiohttp.ClientSession, service: str
) -> None:
    group, topic, wired = LAG_CASES[service]
    if not wired:
        pytest.skip(f"the {service} does not run a LagTracker yet")
    prefix = stack.env["HOOKLINE_TOPIC_PREFIX"]
    labels = f'group="{prefix}-{group}",partition="%d",topic="{prefix}.{topic}"'
    # One process of each service owns every partition in the test stack.
    partitions = range(int(stack.env["HOOKLINE_PARTITIONS"]))
    want: dict[str, float] = {"hookline_consumer_lag{" + labels % p + "}": 0 for p in partitions}
    await eventually(http, stack, service, want)
    async with http.get(f"http://127.0.0.1:{stack.services[service].port}/readyz") as rsp:
        assert rsp.status == 200
