"""The error tree and the translation of aiokafka's and asyncpg's errors into it."""

from __future__ import annotations

import inspect

import aiokafka.errors
import asyncpg
import asyncpg.exceptions
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookline.core import errors
from hookline.core.errors import (
    DatabaseUnavailable,
    HooklineError,
    KafkaRefused,
    KafkaUnavailable,
    TopicsUnusable,
    Unavailable,
    outage_of,
    translated,
)
from hookline.core.failure import Failure, classify


def _classes(module: object, base: type[BaseException]) -> list[type[BaseException]]:
    return sorted(
        {c for _, c in inspect.getmembers(module, inspect.isclass) if issubclass(c, base)},
        key=lambda c: c.__qualname__,
    )


# Every exception the two clients define, and the standard library's usual suspects.
CLIENT_ERRORS = [
    *_classes(aiokafka.errors, aiokafka.errors.KafkaError),
    *_classes(asyncpg.exceptions, asyncpg.PostgresError),
    *_classes(asyncpg.exceptions, asyncpg.InterfaceError),
    OSError,
    ConnectionRefusedError,
    ConnectionResetError,
    TimeoutError,
    ValueError,
    KeyError,
    RuntimeError,
]


def _instance(cls: type[BaseException], message: str) -> BaseException:
    try:
        return cls(message)
    except TypeError:  # a few take no message
        return cls()


def test_the_tree_is_the_one_the_docstring_draws() -> None:
    assert issubclass(Unavailable, HooklineError)
    assert issubclass(KafkaUnavailable, Unavailable)
    assert issubclass(DatabaseUnavailable, Unavailable)
    assert issubclass(KafkaRefused, KafkaUnavailable)
    assert issubclass(TopicsUnusable, KafkaRefused)
    for cls in (Unavailable, KafkaUnavailable, KafkaRefused, TopicsUnusable, DatabaseUnavailable):
        assert cls.__name__ in (errors.__doc__ or ""), cls


@given(st.sampled_from(CLIENT_ERRORS), st.text(max_size=40))
def test_only_what_is_retried_is_an_outage(cls: type[BaseException], message: str) -> None:
    """Translation never changes a failure's fate: an outage is what the failure policy
    retries, and its translation is retried as well; the rest is left as it is."""
    exc = _instance(cls, message)
    outage = outage_of(exc)
    if outage is None:
        return
    assert classify(exc) is Failure.INFRA, cls
    assert classify(outage) is Failure.INFRA, cls
    assert str(exc) in str(outage) or not str(exc)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ConnectionRefusedError(111, "refused"), DatabaseUnavailable),
        (TimeoutError(), DatabaseUnavailable),
        (asyncpg.ConnectionDoesNotExistError("closed"), DatabaseUnavailable),
        (asyncpg.CannotConnectNowError("starting up"), DatabaseUnavailable),
        (asyncpg.TooManyConnectionsError("too many"), DatabaseUnavailable),
        (aiokafka.errors.KafkaConnectionError(), KafkaUnavailable),
        (aiokafka.errors.KafkaTimeoutError(), KafkaUnavailable),
        (aiokafka.errors.NotLeaderForPartitionError(), KafkaUnavailable),
    ],
)
def test_an_outage_is_translated_to_its_kind(exc: BaseException, kind: type[Unavailable]) -> None:
    assert isinstance(outage_of(exc), kind)


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.UniqueViolationError("dup"),
        asyncpg.exceptions.UntranslatableCharacterError("NUL"),
        asyncpg.exceptions.SerializationError("retry me, but not a 503"),
        aiokafka.errors.MessageSizeTooLargeError(),
        aiokafka.errors.ProducerFenced(),
        ValueError("a bug"),
    ],
)
def test_what_is_not_an_outage_is_not_translated(exc: BaseException) -> None:
    assert outage_of(exc) is None
    with pytest.raises(type(exc)) as caught, translated():
        raise exc
    assert caught.value is exc


def test_translated_raises_the_outage_from_the_original() -> None:
    original = asyncpg.CannotConnectNowError("the database system is starting up")
    with pytest.raises(DatabaseUnavailable) as caught, translated():
        raise original
    assert caught.value.__cause__ is original
    assert "starting up" in str(caught.value)
    already = KafkaUnavailable("down")
    with pytest.raises(KafkaUnavailable) as again, translated():
        raise already
    assert again.value is already


def test_a_refused_client_is_fatal_not_waited_out() -> None:
    assert classify(KafkaRefused("HOOKLINE_KAFKA_SASL_PASSWORD: refused")) is Failure.FATAL
    assert classify(TopicsUnusable("missing")) is Failure.FATAL
    assert classify(KafkaUnavailable("down")) is Failure.INFRA
