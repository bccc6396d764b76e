"""The metrics module and the health server every service runs: /healthz, /readyz, /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from hookline.core import metrics, service
from hookline.core.config import SettingError, Settings
from hookline.core.keyring import new_key_entry
from hookline.core.service import health_app

NAMES = {
    "hookline_deliveries",
    "hookline_delivery_latency_seconds",
    "hookline_retries_scheduled",
    "hookline_retries_released",
    "hookline_dead_letters",
    "hookline_consumer_lag",
    "hookline_circuits_open",
    "hookline_circuit_opened",
    "hookline_router_match_seconds",
    "hookline_router_events",
    "hookline_router_deliveries",
    "hookline_events_published",
    "hookline_http_requests",
    "hookline_http_request_seconds",
}


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_lag_is_end_minus_committed_or_beginning_when_never_committed() -> None:
    ends = {"a": 100, "b": 50, "c": 7, "d": 10}
    committed: dict[str, int | None] = {"a": 40, "b": 50, "c": None, "d": 12}
    lag = metrics.lag_by_partition(ends, committed, {"c": 3})
    assert lag == {"a": 60, "b": 0, "c": 4, "d": 0}


def test_delivery_helpers_count_by_outcome_delay_and_circuit_state() -> None:
    before = value("hookline_deliveries_total", outcome="success")
    latency_count = value("hookline_delivery_latency_seconds_count", outcome="success")
    metrics.delivery_attempted("success", 0.042)
    assert value("hookline_deliveries_total", outcome="success") == before + 1
    assert value("hookline_delivery_latency_seconds_count", outcome="success") == latency_count + 1

    retries = value("hookline_retries_scheduled_total", delay="5m")
    metrics.retry_scheduled(300.0)
    assert value("hookline_retries_scheduled_total", delay="5m") == retries + 1

    released = value("hookline_retries_released_total", delay="1m")
    metrics.retries_released("hltest-x.retry.1m", 3)
    assert value("hookline_retries_released_total", delay="1m") == released + 3

    opened = value("hookline_circuit_opened_total")
    metrics.circuit_opened()
    assert value("hookline_circuit_opened_total") == opened + 1
    open_endpoints = ["a.example:443", "b.example:443"]
    metrics.watch_circuits(lambda: len(open_endpoints))
    assert value("hookline_circuits_open") == 2
    open_endpoints.pop()
    assert value("hookline_circuits_open") == 1  # read at each scrape
    metrics.watch_circuits(lambda: 0)


@pytest_asyncio.fixture(loop_scope="session")
async def health() -> AsyncIterator[tuple[str, dict[str, bool]]]:
    switches = {"feed": False, "kafka": True}

    async def kafka() -> bool:
        await asyncio.sleep(0)
        return switches["kafka"]

    app = health_app({"feed": lambda: switches["feed"], "kafka": kafka})
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", switches
    await runner.cleanup()


async def test_readyz_answers_503_until_every_check_passes(
    health: tuple[str, dict[str, bool]], http: aiohttp.ClientSession
) -> None:
    base, switches = health
    async with http.get(base + "/healthz") as rsp:
        assert rsp.status == 200 and await rsp.json() == {"status": "ok"}
    async with http.get(base + "/readyz") as rsp:
        assert rsp.status == 503
        assert await rsp.json() == {"ready": False, "checks": {"feed": False, "kafka": True}}
    switches["feed"] = True
    async with http.get(base + "/readyz") as rsp:
        assert rsp.status == 200
        assert await rsp.json() == {"ready": True, "checks": {"feed": True, "kafka": True}}
    switches["kafka"] = False
    async with http.get(base + "/readyz") as rsp:
        assert rsp.status == 503 and (await rsp.json())["checks"]["kafka"] is False


async def test_metrics_lists_every_hookline_metric_in_prometheus_text(
    health: tuple[str, dict[str, bool]], http: aiohttp.ClientSession
) -> None:
    base, _ = health
    async with http.get(base + "/metrics") as rsp:
        assert rsp.status == 200
        assert rsp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await rsp.text()
    families = {f.name for f in text_string_to_metric_families(text)}
    assert families >= NAMES, NAMES - families
    assert 'hookline_deliveries_total{outcome="dropped"}' in text


async def test_a_check_that_hangs_or_raises_counts_as_not_ready(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def hangs() -> bool:
        await asyncio.sleep(30)
        return True

    def raises() -> bool:
        raise RuntimeError("broker gone")

    monkeypatch.setattr(service, "CHECK_TIMEOUT_S", 0.2)
    results = await service.run_checks({"hangs": hangs, "raises": raises, "ok": lambda: True})
    assert results == {"hangs": False, "raises": False, "ok": True}


def test_a_service_that_seals_refuses_to_start_without_keys() -> None:
    with pytest.raises(SettingError, match=r"HOOKLINE_SECRETS_KEYS .* is needed by the deliverer"):
        service.keyring_for(Settings.from_env({}), "deliverer")
    keys = Settings.from_env({"HOOKLINE_SECRETS_KEYS": new_key_entry("k1")})
    assert service.keyring_for(keys, "api").current_id == "k1"


def test_the_sealing_keys_are_masked_in_logs() -> None:
    entry = new_key_entry("k1")
    key = entry.split(":", 1)[1]
    literals = service.secret_values(Settings.from_env({"HOOKLINE_SECRETS_KEYS": entry}))
    assert key in literals
    assert key not in service.redact(f"loaded {key}", literals)
