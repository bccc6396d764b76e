"""Every message on a Hookline topic: one frozen dataclass each, encoded with orjson.

| topic                      | key                          | value        |
| -------------------------- | ---------------------------- | ------------ |
| ``hookline.events``        | ``tenant:object-type:id``    | ``Event``    |
| ``hookline.subscriptions`` | subscription id              | ``SubscriptionRecord`` |
| ``hookline.deliveries``    | subscription id              | ``Delivery`` |
| ``hookline.retry.<delay>`` | subscription id              | ``Delivery`` (with ``due_at``) |
| ``hookline.dead-letters``  | subscription id              | ``Delivery`` |
| ``hookline.attempts``      | subscription id              | ``Attempt``  |
| ``hookline.router.batch-items`` | subscription id         | ``Delivery`` (one object) |
| ``hookline.router.routed`` | first ``tenant:eventId``     | ``RoutedBatch`` (or one ``Routed``) |
| ``hookline.quarantine``    | ``topic:partition:offset``   | ``Quarantined`` |

Each value carries ``v`` (its schema version); a decoder refuses versions it does
not know instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, TypeVar

import orjson

from hookline.core.types import JSON


class MessageError(ValueError):
    """A message on a topic could not be decoded."""


T = TypeVar("T", bound="_Message")


@dataclass(frozen=True)
class _Message:
    SCHEMA: ClassVar[int] = 1

    def encode(self) -> bytes:
        # Shallow: orjson writes the nested lists, dicts and dataclasses itself, the
        # same bytes as ``dataclasses.asdict`` gave, without its deep copy (8 % of the
        # router's CPU, docs/benchmark.md).
        return orjson.dumps({"v": self.SCHEMA, **self.__dict__})

    @classmethod
    def decode(cls, raw: bytes) -> Self:
        try:
            data = orjson.loads(raw)
            version = data.pop("v")
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError) as exc:
            raise MessageError(f"{cls.__name__}: not a message: {exc}") from exc
        if version != cls.SCHEMA:
            raise MessageError(f"{cls.__name__}: unknown schema version {version!r}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise MessageError(f"{cls.__name__}: {exc}") from exc


@dataclass(frozen=True)
class Event(_Message):
    """A domain event: something happened to one object of a tenant."""

    event_id: str
    tenant: int
    event: str
    id: int | str | None
    occurred_at: float
    value: JSON = None
    version: int | None = None

    @property
    def object_type(self) -> str:
        return self.event.split(".", 1)[0]

    def key(self) -> bytes:
        return f"{self.tenant}:{self.object_type}:{self.id}".encode()


@dataclass(frozen=True)
class SubscriptionRecord(_Message):
    """One subscription's whole state after a change; ``deleted`` marks the last one.

    ``hookline.subscriptions`` is the log of record: every reader folds these by
    ``version`` and ignores a record that is not newer than what it holds.
    """

    id: int
    tenant: int
    version: int
    events: list[str]
    target_url: str
    status: str
    secret: str
    created_at: float
    updated_at: float
    fields: str | None = None
    format: str = "default"
    auth_header_name: str | None = None
    auth_header_value: str | None = None
    deleted: bool = False
    # After a secret rotation the old secret signs beside the new one until then.
    previous_secret: str | None = None
    previous_secret_expires_at: float | None = None

    def key(self) -> bytes:
        return str(self.id).encode()


@dataclass(frozen=True)
class Delivery(_Message):
    """One event on its way to one subscription; the same ``delivery_id`` on every retry.

    It carries the projected payload and ids, not the target URL or secret: those
    are looked up when the request is made, so a retry uses the subscription as it
    is then.
    """

    delivery_id: str
    subscription_id: int
    tenant: int
    event: str
    event_id: str
    object_id: int | str | None
    payload: JSON
    created_at: float
    attempt: int = 0
    due_at: float = 0.0
    last_error: str | None = None
    # Version order (docs/ordering.md): deliveries to one subscription that share an
    # ``ordering_key`` reach the target in ``order`` (their event's offset in
    # hookline.events); an older one is dropped once a newer one has been tried.
    ordering_key: str | None = None
    order: int | None = None
    # ``batch`` (Orderspace): ``payload`` is the body's ``data`` ({plural: [objects]}) and
    # ``items`` has one {"key", "order", "eventId"} per object, in the same order.
    format: str = "default"
    items: list[dict[str, Any]] | None = None

    def key(self) -> bytes:
        return str(self.subscription_id).encode()


@dataclass(frozen=True)
class Routed(_Message):
    """The router routed an event: what lets it (any worker, after a restart too) drop a
    copy of it (``tenant`` and ``event_id``) or an older version of its object."""

    tenant: int
    event_id: str
    at: float
    object_key: str | None = None
    version: int | None = None

    def key(self) -> bytes:
        return f"{self.tenant}:{self.event_id}".encode()


@dataclass(frozen=True)
class RoutedBatch(_Message):
    """The ``Routed`` records of one batch of events, in one message: a record per
    event cost the router more than planning the event (docs/benchmark.md)."""

    routed: list[Routed]

    def key(self) -> bytes:
        return self.routed[0].key() if self.routed else b""

    @classmethod
    def decode_any(cls, raw: bytes) -> list[Routed]:
        """The records in ``raw``: a ``RoutedBatch``, or a single ``Routed`` (written
        before batches were)."""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise MessageError(f"{cls.__name__}: not a message: {exc}") from exc
        if not isinstance(data, dict) or "routed" not in data:
            return [Routed.decode(raw)]
        if data.get("v") != cls.SCHEMA or not isinstance(data["routed"], list):
            raise MessageError(f"{cls.__name__}: unknown schema version {data.get('v')!r}")
        try:
            return [Routed(**entry) for entry in data["routed"]]
        except TypeError as exc:
            raise MessageError(f"{cls.__name__}: {exc}") from exc


@dataclass(frozen=True)
class Attempt(_Message):
    """The outcome of one HTTP request to a target, for the attempt log."""

    delivery_id: str
    subscription_id: int
    tenant: int
    event: str
    event_id: str
    attempt: int
    at: float
    outcome: str
    reason: str
    status: int | None = None
    latency_ms: float | None = None
    response_body: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def key(self) -> bytes:
        return str(self.subscription_id).encode()


@dataclass(frozen=True)
class CatalogEntry(_Message):
    """An event type as an admin set it (``PUT /v2/admin/event/{eventType}``), on
    ``hookline.catalog`` keyed by its name, for processes without the database."""

    name: str
    description: str
    plural: str
    payload_model: str | None = None

    def key(self) -> bytes:
        return self.name.encode()


@dataclass(frozen=True)
class Quarantined(_Message):
    """A record a consumer could not process, set aside with why (``hookline.quarantine``).

    ``key_b64`` and ``value_b64`` are the original bytes in standard base64 (``None``
    for a null key or value), so that a re-drive produces exactly what was read; a value
    longer than ``quarantine.MAX_KEPT_BYTES`` is cut there and ``truncated`` is set
    (it can be seen, not re-driven). ``headers`` are ``[name, base64 value]`` pairs.
    ``tenant`` is a best guess from the value, for filtering; never trust it.
    """

    service: str
    reason: str
    topic: str
    partition: int
    offset: int
    at: float
    key_b64: str | None = None
    value_b64: str | None = None
    tenant: str | None = None
    headers: list[list[str]] = field(default_factory=list)
    truncated: bool = False

    def key(self) -> bytes:
        return f"{self.topic}:{self.partition}:{self.offset}".encode()
