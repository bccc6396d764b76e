"""The bench's accounting (bench/stats.py): lost, duplicated and late deliveries are
counted from what the receiver recorded, the way a person would count them."""

from __future__ import annotations

from bench.receiver import ids_in
from bench.stats import Result, percentile, summarize, table


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([], 99) == 0.0


def test_lost_duplicated_and_unexpected_deliveries_are_counted() -> None:
    published = {1: 100.0, 2: 100.0, 3: 101.0}
    records = [
        (100.05, "msg_a", 0, [1], False),
        (100.20, "msg_a", 0, [1], False),  # the same delivery again: a duplicate
        (100.10, "msg_b", 0, [2], False),
        (101.50, "msg_x", 7, [3], False),  # a subscription that should not get it
    ]
    result = summarize(Result("r", 3, 1, 3), records, published, lambda _obj: [0])
    assert (result.deliveries, result.lost, result.duplicates, result.unexpected) == (2, 1, 1, 1)
    assert result.duplicate_examples == ["subscription 0 event 1 webhook-id msg_a"]
    assert round(result.p50_ms) == 50 and round(result.max_ms) == 100
    assert round(result.seconds, 2) == 0.10
    assert "lost" in table([result]).splitlines()[0]


def test_a_batch_body_counts_each_object_it_carries() -> None:
    batch = {"event": "product.create", "data": {"products": [{"id": 4}, {"id": 5}]}}
    assert ids_in(batch) == ([4, 5], True)
    assert ids_in({"subscriptionId": 1, "event": "product.create", "id": 4}) == ([4], False)
