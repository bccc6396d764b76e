"""Hookline's errors in one tree, and the translation of the clients' errors into it.

    Exception
     ├── HooklineError                 raised by Hookline's own code
     │    └── Unavailable              the broker or the database is out of reach just now:
     │         │                       wait and try again (``failure.Failure.INFRA``; the
     │         │                       API answers 503 with ``Retry-After``)
     │         ├── KafkaUnavailable    the broker could not be reached or refused a request
     │         │    └── KafkaRefused   it refused this client (a password, a certificate,
     │         │         │             an ACL): a setting to fix, never waited out (FATAL)
     │         │         └── TopicsUnusable  HOOKLINE_CREATE_TOPICS=0 and a topic is
     │         │                             missing or will not do
     │         └── DatabaseUnavailable PostgreSQL could not be reached or refused the schema
     ├── ValueError
     │    ├── MessageError             ``hookline.core.messages``: a record that cannot be
     │    │                            decoded (``Failure.POISON``)
     │    └── SettingError             ``hookline.core.config``: a bad ``HOOKLINE_*`` value
     └── Stopped                       ``hookline.core.failure``: asked to stop while
                                       waiting out an outage (FATAL)

A package's own errors stay in its ``errors.py`` (``hookline.api.errors``: what the
subscription store refuses; ``hookline.api.http.errors``: the HTTP answers).

aiokafka's and asyncpg's exceptions are translated where they enter: the clients made
in ``hookline.core.kafka`` and ``hookline.core.db`` raise the ones above, and code that
calls a client directly wraps the call in ``translated()`` (or asks ``outage_of``).
Only the outages are translated: a refusal that is the record's fault (a value
PostgreSQL refuses, a record too large for the broker) stays the client's exception,
which ``failure.classify`` calls poison.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import asyncpg
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError


class HooklineError(Exception):
    """The root of the errors Hookline's own code raises."""


class Unavailable(HooklineError):
    """The broker or the database is out of reach just now; the same call may succeed later."""


class KafkaUnavailable(Unavailable):
    """The broker could not be reached or refused a request."""


class KafkaRefused(KafkaUnavailable):
    """The broker refused this client; the message names the setting to fix."""


class TopicsUnusable(KafkaRefused):
    """``HOOKLINE_CREATE_TOPICS=0`` and topics are missing or will not do; the message
    lists each with what it must be."""


class DatabaseUnavailable(Unavailable):
    """PostgreSQL could not be reached or refused the schema."""


# What a database that is down, restarting or out of connections raises.
_DATABASE_DOWN: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable; and so TimeoutError (connecting, or a pool wait)
    asyncpg.PostgresConnectionError,  # class 08, and a connection lost mid-query
    asyncpg.OperatorInterventionError,  # shutting down, starting up (57P*)
    asyncpg.InsufficientResourcesError,  # too many connections, disk full (53*)
)


def outage_of(exc: BaseException) -> Unavailable | None:
    """Pure: the ``Unavailable`` that ``exc`` stands for (an ``Unavailable`` itself, or a
    client's exception that says PostgreSQL or Kafka is out of reach), or None."""
    if isinstance(exc, Unavailable):
        return exc
    if isinstance(exc, KafkaConnectionError | KafkaTimeoutError) or (
        isinstance(exc, KafkaError) and exc.retriable
    ):
        return KafkaUnavailable(f"the event log (Kafka) is not reachable just now: {exc}")
    if isinstance(exc, _DATABASE_DOWN):
        return DatabaseUnavailable(f"the database is not reachable just now: {exc}")
    return None


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Around calls to aiokafka or asyncpg: an outage is raised as its ``Unavailable``
    (from the original); anything else goes on as it was."""
    try:
        yield
    except Exception as exc:
        outage = outage_of(exc)
        if outage is None or outage is exc:
            raise
        raise outage from exc
