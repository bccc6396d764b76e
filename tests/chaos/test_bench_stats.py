"""The bench's accounting (bench/stats.py): lost, duplicated and late deliveries are
counted from what the receiver recorded, the way a person would count them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.__main__ import first_receipts
from bench.cpu import CpuMeter, kafka_pid, per_delivery, used_between
from bench.http1 import status_and_length
from bench.receiver import ids_in
from bench.stages import Trace, split
from bench.stats import Result, percentile, summarize, table

from hookline.core.messages import Delivery, Event


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


def test_a_response_head_gives_its_status_and_length() -> None:
    head = b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n"
    assert status_and_length(head) == (202, 27)
    assert status_and_length(b"HTTP/1.1 204 No Content\r\n\r\n") == (204, 0)


def test_the_stage_split_follows_each_stamp() -> None:
    published = {"e1": 100.0}
    event = Event("e1", 1, "product.create", 1, occurred_at=100.002).encode()
    delivery = Delivery(
        delivery_id="msg_1",
        subscription_id=5,
        tenant=1,
        event="product.create",
        event_id="e1",
        object_id=1,
        payload={"id": 1},
        created_at=100.010,
    ).encode()
    trace = Trace(published, accepted={"e1": 100.004}, receipts={"msg_1": 100.015})
    stages = split([delivery], [], trace, [event])
    assert round(stages["api"]["p50_ms"]) == 2
    assert round(stages["accepted"]["p50_ms"]) == 4
    assert round(stages["router"]["p50_ms"]) == 8  # from the API's stamp
    assert round(stages["deliverer"]["p50_ms"]) == 5
    # Straight into Kafka there is no stamp of the API's: the router stage starts at
    # the publish.
    assert round(split([delivery], [], Trace(published))["router"]["p50_ms"]) == 10


def test_cpu_per_delivery_sums_every_process_and_the_platform_apart() -> None:
    found = per_delivery({"api": 50.0, "router": 30.0, "bench": 20.0}, 2.0, 1000)
    assert found["all"] == 2000.0  # 100 % of a core for 2 s over 1,000 deliveries
    assert found["hookline"] == 1600.0
    assert found["services"] == 1600.0  # no Kafka or PostgreSQL in this one
    assert found["api"] == 1000.0
    assert per_delivery({"api": 50.0}, 2.0, 0) == {}


def test_a_process_that_ended_during_the_run_counts_nothing_not_minus_its_time() -> None:
    start = {1: 10.0, 2: 5.0, 3: None}
    end = {1: 12.5, 2: None, 3: 4.0}  # 2 ended (a postgres backend); 3 was not there
    assert used_between(start, end) == 2.5


def test_the_meter_never_reports_a_negative_share_when_a_process_ends() -> None:
    child = subprocess.Popen([sys.executable, "-c", "sum(range(3_000_000))"])
    meter = CpuMeter({"group": [os.getpid(), child.pid]})
    child.wait()
    sum(range(3_000_000))  # this process works while the other is gone
    assert meter.percent(1.0)["group"] > 0


def test_a_stale_kafka_pid_file_is_not_taken_for_the_broker(tmp_path: Path) -> None:
    (tmp_path / ".local/run").mkdir(parents=True)
    (tmp_path / ".local/run/kafka.pid").write_text(str(os.getpid()))  # not a broker
    assert kafka_pid(tmp_path) != os.getpid()


def test_the_first_receipt_of_each_webhook_id_counts() -> None:
    records = [[100.3, "msg_a", 0, [1], False], [100.1, "msg_a", 0, [1], False]]
    assert first_receipts(records) == {"msg_a": 100.1}
