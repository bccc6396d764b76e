"""What the input limits cost the API's publish parsing, per event (not a test).

    python -m bench.publish_limits [--rounds 30]

For three shapes of event (the benchmark's own small one, an order with 20 lines, one
with 100) it times ``orjson.loads`` of a 100-event body followed by the publish
parser (``_parse_events``: types, the ``Event``, its encoding for the size check),
with the limits (``hookline.core.limits.find_problem``) and with them switched off.
The two are timed in alternation, ``--rounds`` times each, and the best of each is
kept, so that other work on a shared machine disturbs both alike. The last line is
one JSON object.
"""

from __future__ import annotations

import argparse
import json
import timeit
from collections.abc import Callable
from typing import Any
from unittest import mock

import orjson

from hookline.api.http import events
from hookline.core import limits

KNOWN = {"product.create"}
_LINES = [{"sku": f"S{n}", "qty": n, "price": 1.5 * n, "tags": ["a", "b"]} for n in range(20)]
_ORDER = {
    "id": 8,
    "customer": {"id": 3, "name": "Acme", "address": {"street": "Main 1", "city": "Oslo"}},
    "lines": _LINES,
    "note": "x" * 500,
}
SHAPES: dict[str, dict[str, Any]] = {
    "small": {"id": 7, "name": "Product 7", "price": 9.5, "stock": 7},  # bench/load.py's
    "order20": _ORDER,
    "order100": {**_ORDER, "lines": _LINES * 5},
}


def _off(_value: Any, _where: str) -> None:
    return None


def measure(value: dict[str, Any], rounds: int) -> dict[str, float]:
    item = {"event": "product.create", "eventId": "e-1", "id": 7, "value": value}
    raw = orjson.dumps([item] * 100)

    def run() -> None:
        events._parse_events(orjson.loads(raw), 1, KNOWN)

    best: dict[str, float] = {"on": float("inf"), "off": float("inf")}
    checks: dict[str, Callable[..., Any]] = {"on": limits.find_problem, "off": _off}
    for _ in range(rounds):
        for name, check in checks.items():
            with mock.patch.object(events, "find_problem", check):
                seconds = timeit.timeit(run, number=50) / 50 / 100
            best[name] = min(best[name], seconds * 1e6)
    return {
        "bytes": len(raw) / 100,
        "us_off": round(best["off"], 2),
        "us_on": round(best["on"], 2),
        "ratio": round(best["on"] / best["off"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    found = {name: measure(value, args.rounds) for name, value in SHAPES.items()}
    for name, f in found.items():
        print(
            f"{name:9} {f['bytes']:6.0f} B: {f['us_off']:7.2f} -> {f['us_on']:7.2f} µs/event"
            f" (x{f['ratio']})"
        )
    print(json.dumps(found))


if __name__ == "__main__":
    main()
