"""Every Prometheus metric Hookline exports, defined once.

Each service imports this module and serves ``/metrics`` from the default registry
(``hookline.core.service.metrics_view`` for aiohttp apps; the router has its own
Faust page). The services update the metrics through the small functions below, so
that a call site is one line and label values stay few and fixed.

| metric | type | labels | updated by |
| --- | --- | --- | --- |
| ``hookline_deliveries_total`` | counter | ``outcome`` | deliverer, per attempt or skip |
| ``hookline_delivery_latency_seconds`` | histogram | ``outcome`` | deliverer, per HTTP request |
| ``hookline_retries_scheduled_total`` | counter | ``delay`` | deliverer, per hand-off to a retry |
| ``hookline_retries_released_total`` | counter | ``delay`` | retry scheduler, when due |
| ``hookline_dead_letters_total`` | counter | | deliverer, per hand-off to the dead letters |
| ``hookline_quarantined_total`` | counter | ``service`` | every consumer, per record set aside |
| ``hookline_consumer_lag`` | gauge | ``group``, ``topic``, ``partition`` | ``service.LagTracker`` |
| ``hookline_circuits_open`` | gauge | | deliverer: endpoints whose circuit is open |
| ``hookline_circuit_opened_total`` | counter | | deliverer, each time a circuit opens |
| ``hookline_router_match_seconds`` | histogram | | router, per event |
| ``hookline_router_events_total`` | counter | | router, per event |
| ``hookline_router_deliveries_total`` | counter | | router, per planned delivery |
| ``hookline_bulk_lane_deliveries_total`` | counter | | router, per bulk-lane delivery |
| ``hookline_events_published_total`` | counter | | API, per accepted event |
| ``hookline_http_requests_total`` | counter | ``method``, ``route``, ``status`` | API middleware |
| ``hookline_http_request_seconds`` | histogram | ``route`` | API middleware |

Consumer lag is reported by each process for the partitions it owns, so the lag of
a group is ``sum by (group) (hookline_consumer_lag)``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from aiohttp import web
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, generate_latest

from hookline.core.retry import delay_name

__all__ = [
    "CIRCUITS_OPEN",
    "CIRCUIT_OPENED",
    "CONSUMER_LAG",
    "DEAD_LETTERS",
    "DELIVERIES",
    "DELIVERY_LATENCY",
    "EVENTS_PUBLISHED",
    "HTTP_LATENCY",
    "HTTP_REQUESTS",
    "OUTCOMES",
    "QUARANTINED",
    "RETRIES_RELEASED",
    "RETRIES_SCHEDULED",
    "ROUTER_DELIVERIES",
    "ROUTER_EVENTS",
    "ROUTER_MATCH",
    "circuit_opened",
    "dead_lettered",
    "delivery_attempted",
    "delivery_skipped",
    "exposition",
    "http_middleware",
    "lag_by_partition",
    "quarantined",
    "retries_released",
    "retry_scheduled",
    "routed",
    "watch_circuits",
]

# The outcomes of ``hookline_deliveries_total``: the three of ``retry.Outcome`` for an
# attempt that made a request, "dropped" for a delivery whose subscription is gone or
# disabled, "deferred" for one the circuit breaker sent on without a request.
OUTCOMES = ("success", "retry", "gone", "dropped", "deferred")

K = TypeVar("K")

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_MATCH_BUCKETS = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 0.1)

DELIVERIES = Counter(
    "hookline_deliveries_total",
    "Deliveries handled by the deliverer, by outcome (success, retry, gone, dropped, deferred).",
    ["outcome"],
)
DELIVERY_LATENCY = Histogram(
    "hookline_delivery_latency_seconds",
    "Time from sending a delivery's request to its answer (or timeout), by outcome.",
    ["outcome"],
    buckets=_LATENCY_BUCKETS,
)
RETRIES_SCHEDULED = Counter(
    "hookline_retries_scheduled_total",
    "Failed deliveries handed to a delay topic, by the topic's delay (5s, 1m, ...).",
    ["delay"],
)
RETRIES_RELEASED = Counter(
    "hookline_retries_released_total",
    "Delayed deliveries put back on the deliveries topic when due, by delay.",
    ["delay"],
)
DEAD_LETTERS = Counter(
    "hookline_dead_letters_total",
    "Deliveries handed to the dead letters (retries used up, or not retryable).",
)
QUARANTINED = Counter(
    "hookline_quarantined_total",
    "Records a consumer could not process and set aside on the quarantine topic, by service.",
    ["service"],
)
CONSUMER_LAG = Gauge(
    "hookline_consumer_lag",
    "Messages on a partition not yet committed by the consumer group that owns it here.",
    ["group", "topic", "partition"],
)
CIRCUITS_OPEN = Gauge(
    "hookline_circuits_open",
    "Endpoints (host:port) whose circuit breaker is open or probing, in this deliverer.",
)
CIRCUIT_OPENED = Counter(
    "hookline_circuit_opened_total",
    "Times an endpoint's circuit breaker opened.",
)
ROUTER_MATCH = Histogram(
    "hookline_router_match_seconds",
    "Time the router takes to match one event and plan its deliveries.",
    buckets=_MATCH_BUCKETS,
)
ROUTER_EVENTS = Counter("hookline_router_events_total", "Events the router has routed.")
ROUTER_DELIVERIES = Counter(
    "hookline_router_deliveries_total", "Deliveries the router has planned (one per match)."
)
BULK_LANE = Counter(
    "hookline_bulk_lane_deliveries_total",
    "Deliveries planned onto the bulk lane: fan-outs over their tenant's share (core/lanes.py).",
)
SOURCE_PACED = Counter(
    "hookline_source_paced_seconds_total",
    "Seconds a source's reader waited to keep to HOOKLINE_SOURCE_RATE, by source.",
    ["source"],
)
EVENTS_PUBLISHED = Counter(
    "hookline_events_published_total", "Events accepted by the API's publish endpoint."
)
HTTP_REQUESTS = Counter(
    "hookline_http_requests_total",
    "Requests the API answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "hookline_http_request_seconds",
    "Time the API took to answer, by route template.",
    ["route"],
    buckets=_LATENCY_BUCKETS,
)

for _outcome in OUTCOMES:  # exported at 0 from the start, so rates work from the first scrape
    DELIVERIES.labels(outcome=_outcome)
for _service in ("api", "router", "deliverer", "retry-scheduler"):
    QUARANTINED.labels(service=_service)


# The deliverer's children by outcome (a handful of values): ``labels()`` per request
# took a lock and built a key twice.
_attempted_of: dict[str, tuple[Any, Any]] = {}


def delivery_attempted(outcome: str, latency_s: float) -> None:
    """One request made: ``outcome`` is ``retry.Outcome.value`` (success, retry, gone)."""
    children = _attempted_of.get(outcome)
    if children is None:
        children = DELIVERIES.labels(outcome=outcome), DELIVERY_LATENCY.labels(outcome=outcome)
        _attempted_of[outcome] = children
    count, latency = children
    count.inc()
    latency.observe(latency_s)


def delivery_skipped(outcome: str) -> None:
    """No request made: "dropped" (subscription gone or disabled) or "deferred" (circuit)."""
    DELIVERIES.labels(outcome=outcome).inc()


def retry_scheduled(delay_s: float) -> None:
    """Handed to the delay topic of ``delay_s`` (one of ``HOOKLINE_RETRY_DELAYS``)."""
    RETRIES_SCHEDULED.labels(delay=delay_name(delay_s)).inc()


def retries_released(topic: str, count: int) -> None:
    """``count`` messages of the delay topic ``topic`` (``<prefix>.retry.<delay>``) put back."""
    if count:
        RETRIES_RELEASED.labels(delay=topic.rsplit(".", 1)[-1]).inc(count)


def dead_lettered() -> None:
    DEAD_LETTERS.inc()


def quarantined(service: str) -> None:
    """One record of ``service`` (api, router, deliverer, retry-scheduler) set aside."""
    QUARANTINED.labels(service=service).inc()


def watch_circuits(open_now: Callable[[], float]) -> None:
    """``hookline_circuits_open`` is read from ``open_now()`` at each scrape, so the
    breaker keeps no second count (e.g. ``lambda: len(gate.open_circuits())``)."""
    CIRCUITS_OPEN.set_function(open_now)


def circuit_opened() -> None:
    """An endpoint's circuit went from closed to open."""
    CIRCUIT_OPENED.inc()


def routed(planned: int) -> None:
    """One event routed into ``planned`` deliveries."""
    ROUTER_EVENTS.inc()
    ROUTER_DELIVERIES.inc(planned)


def fanned_out(planned: int) -> None:
    """A handed-off event planned onto the bulk lane (its event counted by ``routed``)."""
    ROUTER_DELIVERIES.inc(planned)
    BULK_LANE.inc(planned)


def lag_by_partition(
    ends: Mapping[K, int], committed: Mapping[K, int | None], beginnings: Mapping[K, int]
) -> dict[K, int]:
    """Pure: messages not yet committed per partition. A partition the group never
    committed is read from its beginning (``auto_offset_reset=earliest``)."""
    lag: dict[K, int] = {}
    for tp, end in ends.items():
        done = committed.get(tp)
        start = beginnings.get(tp, 0) if done is None else done
        lag[tp] = max(0, end - start)
    return lag


def exposition() -> tuple[bytes, str]:
    """The registry in Prometheus' text format, and its content type."""
    # The classic 0.0.4 format: every Prometheus version and KEDA's scrapers read it.
    return generate_latest(REGISTRY), "text/plain; version=0.0.4; charset=utf-8"


_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def http_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Counts and times every API answer by route template (never the raw path, whose
    ids would make a series per subscription). Put it outside the error renderer."""
    route = _route_of(request)
    started = time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _answered(request.method, route, exc.status, started)
        raise
    except Exception:  # rendered as an opaque 500 further out
        _answered(request.method, route, 500, started)
        raise
    _answered(request.method, route, response.status, started)
    return response


# The children of the two API metrics by their labels: ``labels()`` takes a lock and
# builds its key on every call (4 % of the API's CPU for single-event publishes).
_REMEMBERED = 1000
_latency_of: dict[str, Any] = {}
_count_of: dict[tuple[str, str, int], Any] = {}


def _answered(method: str, route: str, status: int, started: float) -> None:
    latency = _latency_of.get(route)
    if latency is None:
        latency = HTTP_LATENCY.labels(route=route)
        if len(_latency_of) < _REMEMBERED:
            _latency_of[route] = latency
    latency.observe(time.perf_counter() - started)
    count = _count_of.get((method, route, status))
    if count is None:  # a client's own method names are not kept without bound
        count = HTTP_REQUESTS.labels(method, route, str(status))
        if len(_count_of) < _REMEMBERED:
            _count_of[(method, route, status)] = count
    count.inc()


def _route_of(request: web.Request) -> str:
    info = request.match_info
    if info.http_exception is not None:
        return "unmatched"
    resource = info.route.resource
    return resource.canonical if resource is not None else "unmatched"
