"""The failure policy: which exceptions are retried, quarantined or fatal, and the retry loop."""

from __future__ import annotations

import asyncio

import asyncpg
import orjson
import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    ProducerFenced,
)
from hypothesis import given
from hypothesis import strategies as st

from hookline.core.errors import DatabaseUnavailable, KafkaUnavailable
from hookline.core.failure import (
    Backoff,
    Failure,
    Stopped,
    classify,
    reason_of,
    retry_infra,
)
from hookline.core.messages import MessageError


def _pg(cls: type[asyncpg.PostgresError]) -> asyncpg.PostgresError:
    return cls("refused")


@pytest.mark.parametrize(
    "exc",
    [
        KafkaConnectionError(),
        KafkaTimeoutError(),
        KafkaUnavailable("down"),
        DatabaseUnavailable("down"),
        ConnectionRefusedError(),
        TimeoutError(),
        _pg(asyncpg.exceptions.ConnectionDoesNotExistError),
        _pg(asyncpg.exceptions.CannotConnectNowError),
        _pg(asyncpg.exceptions.SerializationError),
        _pg(asyncpg.exceptions.QueryCanceledError),
        asyncpg.InterfaceError("connection is closed"),
    ],
)
def test_infrastructure_is_retried(exc: BaseException) -> None:
    assert classify(exc) is Failure.INFRA


@pytest.mark.parametrize(
    "exc",
    [
        MessageError("Event: not a message"),
        _pg(asyncpg.exceptions.UntranslatableCharacterError),
        _pg(asyncpg.exceptions.CharacterNotInRepertoireError),
        _pg(asyncpg.exceptions.NumericValueOutOfRangeError),
        _pg(asyncpg.exceptions.StringDataRightTruncationError),
        _pg(asyncpg.exceptions.ProgramLimitExceededError),
        orjson.JSONEncodeError("Recursion limit reached"),
        asyncpg.exceptions._base.DataError("invalid input for query argument $1"),
        MessageSizeTooLargeError(),
        TypeError("unhashable type: 'list'"),
        KeyError("tenant"),
        RecursionError(),
        RuntimeError("a bug that fails for this record"),
    ],
)
def test_poison_is_quarantined(exc: BaseException) -> None:
    assert classify(exc) is Failure.POISON


@pytest.mark.parametrize("exc", [ProducerFenced(), Stopped("stop"), MemoryError()])
def test_fatal_is_neither(exc: BaseException) -> None:
    assert classify(exc) is Failure.FATAL


@given(st.integers(min_value=0, max_value=10_000), st.floats(min_value=0, max_value=1))
def test_backoff_is_bounded_and_grows(attempt: int, jitter: float) -> None:
    backoff = Backoff(first_s=0.1, max_s=5.0)
    delay = backoff.delay(attempt, jitter)
    assert 0.05 <= delay <= 5.0
    assert backoff.delay(attempt, 1.0) <= backoff.delay(attempt + 1, 1.0)


def test_reason_is_one_bounded_line() -> None:
    reason = reason_of(ValueError("a\nb" + "x" * 5000), limit=100)
    assert reason.startswith("ValueError: a b") and len(reason) == 100 and "\n" not in reason


async def test_retry_infra_retries_until_it_works() -> None:
    calls: list[int] = []

    async def op() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise KafkaConnectionError()
        return "done"

    fast = Backoff(first_s=0.001, max_s=0.002)
    assert await retry_infra(op, what="test", backoff=fast) == "done"
    assert len(calls) == 3


async def test_retry_infra_raises_poison_at_once() -> None:
    calls: list[int] = []

    async def op() -> None:
        calls.append(1)
        raise MessageError("bad")

    with pytest.raises(MessageError):
        await retry_infra(op, what="test")
    assert calls == [1]


async def test_a_stop_ends_the_wait_at_once() -> None:
    stopping = asyncio.Event()

    async def op() -> None:
        raise KafkaConnectionError()

    task = asyncio.create_task(
        retry_infra(op, what="test", stopping=stopping, backoff=Backoff(60.0, 60.0))
    )
    await asyncio.sleep(0.05)
    stopping.set()
    with pytest.raises(Stopped):
        await asyncio.wait_for(task, 2.0)


async def test_give_up_after_raises_the_last_failure() -> None:
    async def op() -> None:
        raise TimeoutError("still down")

    with pytest.raises(TimeoutError):
        await retry_infra(
            op, what="test", give_up_after_s=0.05, backoff=Backoff(first_s=0.01, max_s=0.02)
        )
