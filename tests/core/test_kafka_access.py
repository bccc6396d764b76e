"""hookline.core.kafka_access: each service's topic needs, what a grant lacks, the line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError
from hypothesis import given
from hypothesis import strategies as st

from hookline.core import kafka, kafka_access
from hookline.core.config import Settings
from hookline.core.kafka_access import (
    DESCRIBE,
    NOT_REQUESTED,
    READ,
    WRITE,
    missing_on_topics,
    needs,
    refusal,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
ROW = re.compile(r"^\| (api|router|deliverer|retry-scheduler) \| ([^|]+) \| ([^|]+) \|", re.M)
SETTINGS = Settings.from_env({})


def _names(cell: str) -> set[str]:
    return set(re.findall(r"`([^`]+)`", cell))


def _short(topic: str) -> str:
    name = topic.removeprefix(f"{SETTINGS.topic_prefix}.")
    return "retry.*" if name.startswith("retry.") else name


def test_the_acl_table_of_the_docs_is_what_each_service_checks() -> None:
    documented = {m[1]: (_names(m[2]), _names(m[3])) for m in ROW.finditer(DOCS.read_text())}
    assert set(documented) == {"api", "router", "deliverer", "retry-scheduler"}
    for service, (read, write) in documented.items():
        wanted = needs(SETTINGS, service)
        assert {_short(t) for t in wanted.read} == read, service
        assert {_short(t) for t in wanted.write} == write, service


def test_what_lacks_is_named_per_topic_and_operation() -> None:
    wanted = {"h.events": {READ}, "h.deliveries": {WRITE}, "h.attempts": {READ, WRITE}}
    everything = (1 << READ) | (1 << WRITE) | (1 << DESCRIBE)
    granted = {
        "h.events": everything,
        "h.deliveries": 1 << READ | 1 << DESCRIBE,
        "h.attempts": None,  # the broker would not even describe it
    }
    assert missing_on_topics(wanted, granted) == [
        "Read and Write and Describe on topic h.attempts",
        "Write on topic h.deliveries",
    ]


def test_topics_the_broker_did_not_report_or_compute_are_left_to_the_clients() -> None:
    wanted = {"h.events": {READ}, "h.gone": {WRITE}}
    assert missing_on_topics(wanted, {"h.events": NOT_REQUESTED}) == []


@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(-(2**31), 2**31 - 1)))
def test_a_topic_granted_all_it_wants_is_never_named(granted: dict[str, int]) -> None:
    wanted = {t: {READ, WRITE} for t in granted}
    lacking = missing_on_topics(wanted, granted)
    for topic, bits in granted.items():
        complete = bits == NOT_REQUESTED or (bits >> READ & 1 and bits >> WRITE & 1)
        assert complete == all(topic not in line.split()[-1] for line in lacking)


def test_the_refusal_is_one_line_or_nothing() -> None:
    assert refusal("User:hookline", []) is None
    line = refusal("User:hookline", ["Write on topic h.retry.5s", "Read on group h-deliverer"])
    assert line is not None and "\n" not in line
    assert line.startswith("a missing ACL for User:hookline: it needs Write on topic h.retry.5s;")


class _Broker:
    def __init__(self, node_id: int) -> None:
        self.nodeId = node_id


class _Client:
    """Brokers 1 and 2; 1 is down. What ``check`` asks of aiokafka's client."""

    def __init__(self) -> None:
        self.cluster = self
        self.asked: list[int] = []

    def brokers(self) -> list[_Broker]:
        return [_Broker(1), _Broker(2)]

    def get_random_node(self) -> int:
        return 1

    async def send(self, node: int, request: object) -> object:
        self.asked.append(node)
        if node == 1:
            raise KafkaConnectionError("broker 1 is restarting")
        return _Answer()


class _Answer:
    topics: list[tuple[int, str, bool, list[object], int]] = []
    error_code = 0


class _Admin:
    def __init__(self, client: _Client) -> None:
        self._client = client

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


async def test_a_broker_that_does_not_answer_is_passed_for_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = _Client()
    monkeypatch.setattr(kafka, "admin", lambda _settings: _Admin(client))
    await kafka_access.check(SETTINGS, "deliverer", groups=["g"])  # no refusal, no raise
    assert client.asked[0] == 1 and set(client.asked[1:]) == {2}


async def test_no_broker_answering_skips_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    client = _Client()
    client.brokers = lambda: [_Broker(1)]  # type: ignore[method-assign]
    monkeypatch.setattr(kafka, "admin", lambda _settings: _Admin(client))
    await kafka_access.check(SETTINGS, "api")
    assert client.asked == [1]
