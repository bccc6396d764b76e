"""What a run measured, computed from what the receiver recorded: pure, so it is tested.

A delivery is one (subscription, event) pair. The first arrival of each expected
pair counts; a later arrival of the same pair is a duplicate; an expected pair
that never arrived is lost. Latency is first arrival minus the moment the
producer handed the event over (same machine, same clock).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

Record = Sequence[Any]  # (at, webhook-id, subscription, ids, batch) as the receiver dumps it


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending sequence; 0.0 when it is empty."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


@dataclass
class Result:
    name: str
    events: int
    subscriptions: int
    expected: int
    deliveries: int = 0
    requests: int = 0
    seconds: float = 0.0
    deliveries_per_s: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    lost: int = 0
    duplicates: int = 0
    unexpected: int = 0
    publish_seconds: float = 0.0
    batch_bodies: int = 0
    duplicate_examples: list[str] = field(default_factory=list)
    cpu_percent: dict[str, float] = field(default_factory=dict)
    cpu_us_per_delivery: dict[str, float] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in vars(self).items()}


def summarize(
    result: Result,
    records: Iterable[Record],
    published: dict[int, float],
    expected_subs: Callable[[int], Iterable[int]],
) -> Result:
    """Fill ``result`` from the receiver's ``records``.

    ``published`` maps each event's object id to its publish time; ``expected_subs``
    says which subscriptions should get that event.
    """
    first: dict[tuple[int, int], float] = {}
    copies = 0
    examples: list[str] = []
    for at, webhook_id, sub, ids, batch in records:
        result.requests += 1
        result.batch_bodies += int(bool(batch))
        for obj in ids:
            pair = (int(sub), int(obj))
            if pair in first:
                copies += 1
                if len(examples) < 10:
                    examples.append(f"subscription {sub} event {obj} webhook-id {webhook_id}")
                first[pair] = min(first[pair], float(at))
            else:
                first[pair] = float(at)
    wanted = {(s, obj) for obj in published for s in expected_subs(obj)}
    got = wanted.intersection(first)
    latencies = sorted((first[p] - published[p[1]]) * 1000 for p in got)
    result.deliveries = len(got)
    result.lost = len(wanted) - len(got)
    result.unexpected = len(first) - len(got)
    result.duplicates = copies
    result.duplicate_examples = examples
    if latencies:
        start = min(published.values())
        result.seconds = max(first[p] for p in got) - start
        result.deliveries_per_s = len(got) / result.seconds if result.seconds > 0 else 0.0
        result.p50_ms = percentile(latencies, 50)
        result.p90_ms = percentile(latencies, 90)
        result.p99_ms = percentile(latencies, 99)
        result.max_ms = latencies[-1]
    return result


COLUMNS = (
    ("run", "name", "{}"),
    ("events", "events", "{:,}"),
    ("subs", "subscriptions", "{}"),
    ("deliveries", "deliveries", "{:,}"),
    ("requests", "requests", "{:,}"),
    ("seconds", "seconds", "{:.1f}"),
    ("deliveries/s", "deliveries_per_s", "{:,.0f}"),
    ("p50 ms", "p50_ms", "{:.0f}"),
    ("p90 ms", "p90_ms", "{:.0f}"),
    ("p99 ms", "p99_ms", "{:.0f}"),
    ("max ms", "max_ms", "{:.0f}"),
    ("lost", "lost", "{:,}"),
    ("dups", "duplicates", "{:,}"),
)


def table(results: Sequence[Result]) -> str:
    """A plain-text table, one row per run; a run with a note shows the note instead."""
    head = [c[0] for c in COLUMNS]
    rows = []
    for r in results:
        if r.note and not r.deliveries:
            rows.append([r.name, r.note])
            continue
        values = vars(r)
        rows.append([fmt.format(values[key]) for _, key, fmt in COLUMNS])
    full = [row for row in rows if len(row) == len(head)]
    widths = [max([len(head[i])] + [len(row[i]) for row in full]) for i in range(len(head))]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))]
    for row in rows:
        if len(row) != len(head):
            lines.append(f"{row[0].rjust(widths[0])}  {row[1]}")
        else:
            lines.append("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))
    return "\n".join(lines)
