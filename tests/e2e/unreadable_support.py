"""A record no aiokafka client can read, written to a real topic: its header name is
not UTF-8, as librdkafka, Go's clients or a hand-made batch can write (the end-to-end
tests of sources and of ``hookline.events`` share it)."""

from __future__ import annotations

from unittest import mock

from aiokafka.producer import message_accumulator
from aiokafka.producer import producer as aiokafka_producer
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy as PyBuilder

from hookline.core import kafka
from hookline.core.config import Settings
from support.stack import Stack


class NotUtf8(str):
    """A header name whose bytes on the wire are not UTF-8 (``\\xff\\xfe`` then its text).

    aiokafka's own producer writes only ``str`` names, encoded as UTF-8 (and Java's
    the same); librdkafka's, Go's or a hand-made batch write any bytes, and the broker
    stores them as they are. aiokafka's pure-Python batch builder encodes each name with
    ``name.encode("utf-8")``, which this overrides, so the record on the topic is one
    such a producer writes."""

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return b"\xff\xfe" + str(self).encode(encoding, errors)


async def produce_unreadable_header(stack: Stack, topic: str, value: bytes, partition: int) -> None:
    """One record whose header name is not UTF-8, on ``partition`` (the test's only
    change to aiokafka: its Python batch builder for this producer's batches)."""
    producer = kafka.producer(Settings.from_env(stack.env))
    await producer.start()
    try:
        with (
            mock.patch.object(message_accumulator, "DefaultRecordBatchBuilder", PyBuilder),
            mock.patch.object(aiokafka_producer, "DefaultRecordBatchBuilder", PyBuilder),
        ):
            await producer.send_and_wait(
                topic, value, partition=partition, headers=[(NotUtf8("x-trace"), b"1")]
            )
    finally:
        await producer.stop()
