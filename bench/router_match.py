"""Matching at scale: what the router's subscription index costs with 100,000
subscriptions loaded, in memory and in time per event (not a test).

    python -m bench.router_match [--subs 100000] [--events 2000] [--runs 5]

It loads the subscriptions into a ``SubscriptionIndex`` the way the router's feed
does (``apply`` per record) and measures, with ``tracemalloc``, the memory the
index holds. Then it routes events through ``plan_deliveries`` (matching, the
``fields`` projection and the ``Delivery`` objects, not Kafka) for events that
match 0, 1, 10 and 100 subscriptions, and once through a scan of every
subscription for comparison; each figure is the median of ``--runs`` runs. The
last line is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from hookline.core.catalog import default_catalog
from hookline.core.messages import Event, SubscriptionRecord
from hookline.core.routing import plan_deliveries
from hookline.core.subscriptions import SubscriptionIndex

HOT = {1: 1, 10: 2, 100: 3}  # subscriptions on one (tenant, event) -> that tenant's id
FIELDS = (None, None, "id,name", "*,currency(*)", "id,name,orderLines(id,product(name))")
VALUE: dict[str, Any] = {
    "id": 42,
    "version": 7,
    "url": "https://example.com/v2/order/42",
    "name": "Order 42",
    "currency": {"id": 1, "code": "NOK", "url": "https://example.com/v2/currency/1"},
    "customer": {"id": 9, "name": "Acme", "url": "https://example.com/v2/customer/9"},
    "orderLines": [
        {"id": n, "count": n, "product": {"id": 100 + n, "name": f"p{n}", "price": 9.5}}
        for n in range(5)
    ],
}


def subscriptions(count: int, seed: int = 7) -> list[SubscriptionRecord]:
    """``count`` subscriptions over 1,000 tenants and the whole catalog, plus three hot
    (tenant, event) routes with 1, 10 and 100 subscriptions."""
    rng = random.Random(seed)
    names = [e.name for e in default_catalog()]
    records = []
    for n in range(count):
        hot = hot_tenant(n)
        tenant = hot if hot is not None else 10 + n % 1000
        events = ["order.update"] if hot else rng.sample(names, rng.randint(1, 3))
        records.append(
            SubscriptionRecord(
                id=n + 1,
                tenant=tenant,
                version=0,
                events=events,
                target_url=f"https://hooks.example.com/t{tenant}/s{n}",
                status="ACTIVE",
                secret="whsec_" + rng.randbytes(24).hex(),
                created_at=1.7e9,
                updated_at=1.7e9,
                fields=rng.choice(FIELDS),
                format="batch" if n % 10 == 0 and not hot else "default",
            )
        )
    return records


def hot_tenant(n: int) -> int | None:
    """The first subscriptions make the hot routes: 1, then 10, then 100 of them."""
    start = 0
    for size, tenant in HOT.items():
        if n < start + size:
            return tenant
        start += size
    return None


def load(count: int) -> tuple[SubscriptionIndex, int, float]:
    """The index, the bytes it holds (the records, which the router keeps, included) and
    the seconds that applying the records took."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    records = subscriptions(count)
    started = time.perf_counter()
    index = SubscriptionIndex()
    for record in records:
        index.apply(record)
    took = time.perf_counter() - started
    del records
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return index, held, took


def event(tenant: int, n: int) -> Event:
    return Event(f"evt-{n}", tenant, "order.update", 42, 1.7e9, VALUE, version=7)


def median_per_event(run: Callable[[int], int], events: int, runs: int) -> tuple[float, int]:
    """Median seconds per event over ``runs`` runs of ``events`` events, and the
    deliveries one event made."""
    times = []
    made = 0
    for _ in range(runs):
        started = time.perf_counter()
        for n in range(events):
            made = run(n)
        times.append((time.perf_counter() - started) / events)
    return statistics.median(times), made


def measure(args: argparse.Namespace) -> dict[str, Any]:
    index, held, took = load(args.subs)
    now = 1.7e9
    cases: dict[str, Any] = {}
    for label, tenant in (("0", 999_999), *((str(k), t) for k, t in HOT.items())):

        def route(n: int, tenant: int = tenant) -> int:
            e = event(tenant, n)
            return len(plan_deliveries(e, index.matching(e.tenant, e.event), now, order=n))

        per_event, made = median_per_event(route, args.events, args.runs)
        cases[label] = {"deliveries": made, "us_per_event": round(per_event * 1e6, 2)}
    everyone = [r for r in (index.get(i + 1) for i in range(args.subs)) if r is not None]

    def scan(n: int) -> int:
        return len(plan_deliveries(event(HOT[100], n), everyone, now, order=n))

    per_scan, _ = median_per_event(scan, max(1, args.events // 100), args.runs)
    return {
        "subscriptions": len(index),
        "load_s": round(took, 3),
        "index_mb": round(held / 2**20, 1),
        "bytes_per_subscription": round(held / max(1, len(index))),
        "by_matches": cases,
        "full_scan_us_per_event": round(per_scan * 1e6, 1),
        "runs": args.runs,
        "events_per_run": args.events,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subs", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    figures = measure(parser.parse_args())
    print(f"{figures['subscriptions']:,} subscriptions loaded in {figures['load_s']}s;")
    print(
        f"the index holds {figures['index_mb']} MiB"
        f" ({figures['bytes_per_subscription']} bytes per subscription)"
    )
    print("matches  deliveries  µs per event (median)")
    for label, case in figures["by_matches"].items():
        print(f"{label:>7}  {case['deliveries']:>10}  {case['us_per_event']:>10}")
    print(f"a scan of every subscription instead: {figures['full_scan_us_per_event']} µs per event")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
