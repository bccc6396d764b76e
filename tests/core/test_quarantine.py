"""The quarantine: the message kept for a record (pure), and the real broker receiving it."""

from __future__ import annotations

import secrets
from typing import Any

from aiokafka.structs import ConsumerRecord
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from hookline.core import kafka, topics
from hookline.core.config import Settings
from hookline.core.messages import Quarantined
from hookline.core.quarantine import (
    MAX_KEPT_BYTES,
    guess_tenant,
    original,
    quarantine_record,
    quarantined,
    send_to_quarantine,
)

_maybe_bytes = st.none() | st.binary(max_size=300)


@given(
    key=_maybe_bytes,
    value=_maybe_bytes,
    headers=st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=50)), max_size=3),
)
def test_the_original_bytes_survive_the_round_trip(
    key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
) -> None:
    message = quarantined(
        service="router",
        topic="t.events",
        partition=1,
        offset=7,
        key=key,
        value=value,
        reason="MessageError: x",
        headers=headers,
    )
    again = Quarantined.decode(message.encode())
    assert original(again) == (key, value, headers)
    assert not again.truncated and again.key() == b"t.events:1:7"


def test_a_value_too_large_is_cut_and_marked() -> None:
    message = quarantined(
        service="api",
        topic="t",
        partition=0,
        offset=0,
        key=None,
        value=b"x" * (MAX_KEPT_BYTES + 1),
        reason="r",
    )
    assert message.truncated
    assert original(message)[1] == b"x" * MAX_KEPT_BYTES


def test_no_secret_in_the_reason() -> None:
    message = quarantined(
        service="deliverer",
        topic="t",
        partition=0,
        offset=0,
        key=None,
        value=None,
        reason="InvalidSecret: whsec_c2VjcmV0IHNlY3JldA== is not valid",
    )
    assert "c2VjcmV0" not in message.reason and "whsec_****" in message.reason


def test_the_tenant_is_a_best_guess() -> None:
    assert guess_tenant(b'{"tenant": 42, "event": null}') == "42"
    assert guess_tenant(b'{"tenant": true}') is None
    assert guess_tenant(b"[1, 2]") is None
    assert guess_tenant(b"\xff not json") is None
    assert guess_tenant(None) is None


def _count(service: str) -> float:
    return REGISTRY.get_sample_value("hookline_quarantined_total", {"service": service}) or 0.0


async def test_a_quarantined_record_lands_on_the_topic_with_its_reason(
    infra: dict[str, str],
) -> None:
    settings = Settings.from_env(
        {**infra, "HOOKLINE_TOPIC_PREFIX": f"hltest-q-{secrets.token_hex(4)}"}
    )
    await kafka.ensure_topics(settings)
    producer = kafka.producer(settings)
    await producer.start()
    before = _count("router")
    try:
        await send_to_quarantine(
            producer,
            settings,
            service="router",
            topic=topics.events(settings),
            partition=1,
            offset=12,
            key=b"7:order:1",
            value=b'{"v": 1, "tenant": 7, "event": null}',
            reason="MessageError: Event: event must be a string",
        )
    finally:
        await producer.stop()
    assert _count("router") == before + 1

    client = kafka.consumer(settings, group=None)
    await client.start()
    try:
        found: list[Any] = []
        for tp in await kafka.assign_all(client, topics.quarantine(settings)):
            await client.seek_to_beginning(tp)
        for _ in range(20):
            for records in (await client.getmany(timeout_ms=500)).values():
                found += records
            if found:
                break
    finally:
        await client.stop()
    assert len(found) == 1
    message = Quarantined.decode(found[0].value)
    assert found[0].key == f"{topics.events(settings)}:1:12".encode()
    assert (message.service, message.topic, message.partition, message.offset) == (
        "router",
        topics.events(settings),
        1,
        12,
    )
    assert message.reason == "MessageError: Event: event must be a string"
    assert message.tenant == "7"
    assert original(message)[:2] == (b"7:order:1", b'{"v": 1, "tenant": 7, "event": null}')


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []

    async def send_and_wait(
        self, topic: str, value: bytes | None = None, key: bytes | None = None
    ) -> None:
        self.sent.append((topic, value, key))


async def test_a_record_as_read_keeps_its_headers() -> None:
    settings = Settings.from_env({"HOOKLINE_TOPIC_PREFIX": "unit"})
    record = ConsumerRecord(
        "unit.events", 0, 5, 0, 0, b"k", b"v", None, 1, 1, [("trace", b"\x00\x01")]
    )
    producer = _Recorder()
    await quarantine_record(
        producer, settings, service="api", record=record, reason="MessageError: x"
    )
    [(topic, value, key)] = producer.sent
    assert topic == "unit.quarantine" and key == b"unit.events:0:5" and value is not None
    assert original(Quarantined.decode(value)) == (b"k", b"v", [("trace", b"\x00\x01")])


@settings(max_examples=30, deadline=None, database=None)
@given(
    st.integers(0, 2 * MAX_KEPT_BYTES),
    st.integers(0, 2 * MAX_KEPT_BYTES),
    st.lists(st.tuples(st.text(max_size=400), st.integers(0, MAX_KEPT_BYTES)), max_size=4),
)
def test_key_headers_and_value_together_always_fit_one_request(
    key_size: int, value_size: int, header_sizes: list[tuple[str, int]]
) -> None:
    """A record near the broker's default 1 MB, with a long key and headers: its
    quarantine message stays under a producer's max_request_size (1 MiB)."""
    headers = [(name, b"h" * n) for name, n in header_sizes]
    message = quarantined(
        service="router",
        topic="t",
        partition=0,
        offset=0,
        key=b"k" * key_size,
        value=b"v" * value_size,
        reason="r" * 5000,
        headers=headers,
    )
    assert len(message.encode()) < 1024 * 1024 - 1024
    key, value, kept = original(message)
    assert message.truncated or (
        key == b"k" * key_size and value == b"v" * value_size and len(kept) == len(headers)
    )
