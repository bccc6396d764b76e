"""Every running service answers /healthz, /readyz and /metrics (Prometheus text)."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from support.client import Api
from support.stack import SERVICES, Stack


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_each_service_is_ready_and_exports_metrics(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    for name in SERVICES:
        base = f"http://127.0.0.1:{stack.services[name].port}"
        async with http.get(base + "/readyz") as rsp:
            body = await rsp.json()
            assert rsp.status == 200, (name, body)
            assert body["ready"] is True and all(body["checks"].values()), (name, body)
        async with http.get(base + "/metrics") as rsp:
            assert rsp.status == 200, name
            text = await rsp.text()
        names = {f.name for f in text_string_to_metric_families(text)}
        assert {
            "hookline_deliveries",
            "hookline_consumer_lag",
            "hookline_router_match_seconds",
        } <= (names), name


async def test_api_readiness_names_its_checks_and_requests_are_counted_by_route(
    stack: Stack, tenant: Api, http: aiohttp.ClientSession
) -> None:
    async with http.get(stack.api_url + "/readyz") as rsp:
        assert await rsp.json() == {
            "ready": True,
            "checks": {"database": True, "kafka": True, "projectors": True},
        }

    async def count() -> float:
        async with http.get(stack.api_url + "/metrics") as rsp:
            found = samples(await rsp.text())
        key = (
            "hookline_http_requests_total",
            (("method", "GET"), ("route", "/v2/event/subscription/{id}"), ("status", "404")),
        )
        return found.get(key, 0.0)

    before = await count()
    for missing in (990001, 990002, 990003):
        status, _ = await tenant.call("GET", f"/v2/event/subscription/{missing}")
        assert status == 404
    assert await count() == before + 3  # one series for the route, not one per id
