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

from hookline.core.errors import DatabaseUnavailable, KafkaRefused, KafkaUnavailable
from hookline.core.failure import (
    Backoff,
    Failure,
    Stopped,
    classify,
    every,
    not_fatal,
    reason_of,
    retry,
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


# What an operation may raise, by the way ``retry`` must meet it.
_INFRA_ERRORS = (KafkaConnectionError(), TimeoutError("t"), DatabaseUnavailable("down"))
_OTHER_ERRORS = (MessageError("bad"), ProducerFenced(), KafkaRefused("fix a setting"))
_NO_PAUSE = Backoff(first_s=0.0, max_s=0.0)


@given(
    st.lists(st.sampled_from(_INFRA_ERRORS + _OTHER_ERRORS), max_size=8),
    st.none() | st.integers(min_value=1, max_value=10),
)
def test_retry_goes_on_exactly_while_the_failures_are_retryable(
    failures: list[BaseException], tries: int | None
) -> None:
    """Failures, then a success: ``retry`` returns the success if every failure before it
    is an infrastructure failure and the tries last, else raises the first that is not
    (or the last one tried); ``op`` is called exactly once per try, never after."""
    calls: list[int] = []

    async def op() -> str:
        calls.append(1)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return "done"

    stop_at = next(
        (i for i, exc in enumerate(failures) if classify(exc) is not Failure.INFRA), None
    )
    limit = len(failures) + 1 if tries is None else tries
    expected_calls = min(limit, len(failures) + 1 if stop_at is None else stop_at + 1)

    async def run() -> str:
        return await retry(op, what="test", tries=tries, backoff=_NO_PAUSE)

    if expected_calls == len(failures) + 1:
        assert asyncio.run(run()) == "done"
    else:
        with pytest.raises(type(failures[expected_calls - 1])):
            asyncio.run(run())
    assert len(calls) == expected_calls


async def test_retry_retries_what_its_condition_names_and_nothing_else() -> None:
    seen: list[BaseException] = []
    raised = iter([KeyError("conflict"), KeyError("conflict"), ValueError("other")])

    async def op() -> None:
        exc = next(raised)
        seen.append(exc)
        raise exc

    with pytest.raises(ValueError):
        await retry(op, what="test", when=lambda e: isinstance(e, KeyError), backoff=_NO_PAUSE)
    assert [type(e) for e in seen] == [KeyError, KeyError, ValueError]


async def test_not_fatal_retries_poison_too_but_never_a_fatal_error() -> None:
    raised = iter([MessageError("the whole batch"), KafkaConnectionError(), ProducerFenced()])

    async def op() -> None:
        raise next(raised)

    with pytest.raises(ProducerFenced):
        await retry(op, what="test", when=not_fatal, backoff=_NO_PAUSE)


async def test_every_survives_the_failures_it_names_and_ends_on_others() -> None:
    raised = iter([OSError("down"), None, OSError("down"), KeyError("a bug")])
    rounds: list[int] = []

    async def op() -> None:
        rounds.append(1)
        exc = next(raised)
        if exc is not None:
            raise exc

    with pytest.raises(KeyError):
        await asyncio.wait_for(every(0.001, op, what="test", survive=(OSError,)), 2.0)
    assert len(rounds) == 4


async def test_every_can_wait_before_its_first_round() -> None:
    rounds: list[float] = []
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def op() -> None:
        rounds.append(loop.time() - start)
        raise KeyError("stop")

    with pytest.raises(KeyError):
        await every(0.05, op, what="test", survive=(), wait_first=True)
    assert rounds and rounds[0] >= 0.05
