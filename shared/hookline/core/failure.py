"""The one failure policy of every consumer: retry the infrastructure, quarantine the poison.

Every loop that takes records off a topic (router, deliverer, retry scheduler, the
feeds, the API's projectors) meets an exception in one of three ways, and
``classify`` says which:

- ``Failure.INFRA``: the broker, the database or the network failed (``KafkaError``,
  ``OSError`` and so ``TimeoutError``, a lost or refused PostgreSQL connection, a
  serialization failure). The same record would succeed later: ``retry_infra``
  tries again with a bounded backoff, and gives up when the loop is stopping (so a
  SIGTERM or a rebalance still completes) or past an optional deadline. ``retry`` is
  the same loop with another condition (the projectors' ``not_fatal``, a version
  conflict), used by every loop in Hookline that tries again.
- ``Failure.POISON``: this record cannot be processed, now or later: undecodable
  (``MessageError``), wrong types, a value the database or an encoder refuses
  (asyncpg's ``DataError`` such as ``UntranslatableCharacterError`` for a NUL,
  ``orjson.JSONEncodeError`` for a value nested too deep, a record too large for
  the broker), or any other exception raised while processing it. The loop sends it
  to the quarantine (``quarantine.send_to_quarantine``) and moves on: it is never
  committed without a record, and it never stops the records behind it.
- ``Failure.FATAL``: the process cannot go on (its transactional producer was fenced
  by a newer one, memory ran out). Neither retried nor quarantined: raised, so that
  the process exits and its supervisor restarts it.

An exception nobody foresaw counts as poison, not infrastructure: retrying it would
stop the partition behind one record forever, the failure this module exists to
prevent. A bug that fails every record therefore fills the quarantine instead of
wedging the pipeline; ``hookline_quarantined_total`` shows it, and every record can
be re-driven once the bug is fixed.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
from aiokafka.errors import (
    ConsumerStoppedError,
    IllegalStateError,
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    ProducerFenced,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from hookline.core.errors import KafkaRefused, Unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


class Failure(enum.Enum):
    INFRA = "infra"
    POISON = "poison"
    FATAL = "fatal"


class Stopped(Exception):
    """The loop was asked to stop while it waited out an infrastructure failure."""


# Refused for this record's size or name: retrying sends the same refusal.
_KAFKA_POISON: tuple[type[BaseException], ...] = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    InvalidTopicError,
)
_KAFKA_FATAL: tuple[type[BaseException], ...] = (ProducerFenced, IllegalStateError)
# KafkaRefused: the broker refused this client (credentials, certificate, ACL); only a
# changed setting helps, so waiting it out would hide it.
_FATAL: tuple[type[BaseException], ...] = (
    Stopped,
    ConsumerStoppedError,
    MemoryError,
    SystemExit,
    KafkaRefused,
)
# PostgreSQL's SQLSTATE classes that say "the server, not the row": connection (08),
# transaction rollback such as a serialization failure or a deadlock (40),
# insufficient resources (53), operator intervention such as a shutdown or a
# statement timeout (57), system error (58).
_PG_INFRA_CLASSES = frozenset({"08", "40", "53", "57", "58"})
_INFRA: tuple[type[BaseException], ...] = (
    OSError,  # and so TimeoutError and ConnectionError
    asyncpg.InterfaceError,  # a connection closed or in a bad state
    Unavailable,  # hookline.core.errors: the broker or the database, translated
)


def classify(exc: BaseException) -> Failure:
    """Pure: which of the three ways ``exc`` is met (see the module's docstring)."""
    if isinstance(exc, _FATAL):
        return Failure.FATAL
    if isinstance(exc, KafkaError):
        return _kafka(exc)
    if isinstance(exc, asyncpg.PostgresError):
        state = str(getattr(exc, "sqlstate", "") or "")
        return Failure.INFRA if state[:2] in _PG_INFRA_CLASSES else Failure.POISON
    # ValueError first: asyncpg's client-side DataError (a value it cannot encode) is
    # also an InterfaceError.
    if isinstance(exc, _INFRA) and not isinstance(exc, ValueError):
        return Failure.INFRA
    return Failure.POISON


def _kafka(exc: KafkaError) -> Failure:
    if isinstance(exc, _KAFKA_FATAL):
        return Failure.FATAL
    return Failure.POISON if isinstance(exc, _KAFKA_POISON) else Failure.INFRA


def is_infra(exc: BaseException) -> bool:
    return classify(exc) is Failure.INFRA


def is_poison(exc: BaseException) -> bool:
    return classify(exc) is Failure.POISON


def reason_of(exc: BaseException, limit: int = 1000) -> str:
    """Pure: a one-line reason for a person: the exception's type and message, cut."""
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Backoff:
    """Exponential, capped, with jitter: ``first_s``, twice that, ... up to ``max_s``."""

    first_s: float = 0.2
    max_s: float = 5.0

    def delay(self, attempt: int, jitter: float = 0.5) -> float:
        """Pure: the pause before retry number ``attempt`` (0 first); ``jitter`` in [0, 1]
        picks a point between half the delay and the whole of it."""
        base = min(self.max_s, self.first_s * 2.0 ** min(attempt, 32))
        return base * (0.5 + 0.5 * jitter)


BACKOFF = Backoff()


Retryable = Callable[[BaseException], bool]


async def retry(
    op: Callable[[], Awaitable[T]],
    *,
    what: str,
    when: Retryable = is_infra,
    stopping: asyncio.Event | None = None,
    give_up_after_s: float | None = None,
    tries: int | None = None,
    backoff: Backoff = BACKOFF,
) -> T:
    """``await op()`` until it succeeds: the one retry loop, every loop that tries again
    uses it.

    An exception that ``when`` does not call retryable (by default: anything but an
    infrastructure failure) is raised at once, for the caller to quarantine the record
    or to exit. While it retries, setting ``stopping`` ends the wait at once with
    ``Stopped`` (raised from the last failure); past ``give_up_after_s``, or after
    ``tries`` calls, the last failure itself is raised. The pauses follow ``backoff``,
    with jitter. ``what`` names the operation in the log lines.
    """
    deadline = None if give_up_after_s is None else time.monotonic() + give_up_after_s
    attempt = 0
    while True:
        try:
            return await op()
        except Exception as exc:
            if not when(exc) or (tries is not None and attempt + 1 >= tries):
                raise
            if stopping is not None and stopping.is_set():
                raise Stopped(f"stopped while retrying {what}") from exc
            pause = backoff.delay(attempt, random.random())
            if deadline is not None and time.monotonic() + pause > deadline:
                raise
            log.warning("%s failed (%s); retrying in %.1f s", what, reason_of(exc, 300), pause)
            await _pause(pause, stopping)
            if stopping is not None and stopping.is_set():
                raise Stopped(f"stopped while retrying {what}") from exc
            attempt += 1


async def retry_infra(
    op: Callable[[], Awaitable[T]],
    *,
    what: str,
    stopping: asyncio.Event | None = None,
    give_up_after_s: float | None = None,
    backoff: Backoff = BACKOFF,
) -> T:
    """``retry`` of the infrastructure failures only, the usual case."""
    return await retry(
        op, what=what, stopping=stopping, give_up_after_s=give_up_after_s, backoff=backoff
    )


async def every(
    seconds: float,
    op: Callable[[], Awaitable[object]],
    *,
    what: str,
    survive: tuple[type[BaseException], ...],
    wait_first: bool = False,
) -> None:
    """``await op()`` every ``seconds``, for ever: the one loop of periodic work (a purge,
    a commit, a look at the lag). A failure of a type in ``survive`` is logged and the
    next round tries again; anything else ends the loop."""
    if wait_first:
        await asyncio.sleep(seconds)
    while True:
        try:
            await op()
        except survive:
            log.warning("%s failed; trying again in %.1f s", what, seconds, exc_info=True)
        await asyncio.sleep(seconds)


def not_fatal(exc: BaseException) -> bool:
    """A ``retry`` condition: anything the process can go on after."""
    return classify(exc) is not Failure.FATAL


async def _pause(seconds: float, stopping: asyncio.Event | None) -> None:
    if stopping is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
