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
| ``hookline.sources``       | source name                  | ``SourceRecord`` |

Each value carries ``v`` (its schema version); a decoder refuses versions it does
not know instead of guessing.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, TypeVar

import orjson

from hookline.core.types import JSON


class MessageError(ValueError):
    """A message on a topic could not be decoded."""


T = TypeVar("T", bound="_Message")

# Bounds every decoder enforces (a field may set a tighter one in ``LIMITS``): a
# message within them can be processed; one past them is refused as undecodable
# instead of failing later, in the database or an encoder, for every reader.
MAX_TEXT = 64 * 1024  # characters of a string field
MAX_ITEMS = 10_000  # elements of a list field
MAX_INT = 2**63 - 1  # PostgreSQL's bigint; orjson reads integers up to 2**64 - 1
MIN_INT = -(2**63)


@dataclass(frozen=True)
class _Message:
    SCHEMA: ClassVar[int] = 1
    # Tighter bounds than ``MAX_TEXT`` / ``MAX_ITEMS`` for some fields, by name.
    LIMITS: ClassVar[dict[str, int]] = {}

    def encode(self) -> bytes:
        # Shallow: orjson writes the nested lists, dicts and dataclasses itself, the
        # same bytes as ``dataclasses.asdict`` gave, without its deep copy (8 % of the
        # router's CPU, docs/benchmark.md).
        return orjson.dumps({"v": self.SCHEMA, **self.__dict__})

    @classmethod
    def decode(cls, raw: bytes) -> Self:
        """The message in ``raw``, every field of its declared type and within bounds;
        ``MessageError`` (never a ``TypeError`` later) for anything else."""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise MessageError(f"{cls.__name__}: not a message: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """``decode`` for a value orjson already read (the dict is consumed)."""
        if type(data) is not dict:
            raise MessageError(f"{cls.__name__}: not a message: not a JSON object")
        version = data.pop("v", None)
        if version != cls.SCHEMA or type(version) is not int:
            raise MessageError(f"{cls.__name__}: unknown schema version {version!r}")
        return _build(cls, data)


# --- strict decoding -------------------------------------------------------------------
#
# Each message class's fields are compiled once, from their annotations, into
# ``_Field``s: the exact JSON types allowed (``type(v) in kinds``: a ``bool`` is not an
# ``int``), a length bound, and for a list the check of its elements. Checking an
# event costs well under a microsecond, beside the ~10 µs of routing it.

_Elements = Callable[[str, list[Any]], list[Any]]


@dataclass(frozen=True)
class _Field:
    name: str
    required: bool
    kinds: frozenset[type]  # empty: any JSON value
    limit: int
    elements: _Elements | None = None


_COMPILED: dict[type, tuple[_Field, ...]] = {}


_ABSENT = object()
_Builder = Callable[[type[Any], dict[str, Any]], Any]
_BUILDERS: dict[type, _Builder] = {}


def _build(cls: type[T], data: dict[str, Any]) -> T:
    """The message of ``data``'s fields, each checked; unset fields get their defaults."""
    builder = _BUILDERS.get(cls)
    if builder is None:
        builder = _BUILDERS[cls] = _builder(cls, _compile(cls))
    message: T = builder(cls, data)
    return message


def _builder(cls: type[_Message], compiled: tuple[_Field, ...]) -> _Builder:
    """A function that checks a dict's fields and makes the message of them: one line
    a field whose common case (of its type, within bounds) costs a few comparisons,
    ``_check_slowly`` for the rest (absent, wrong, too long, a list).

    Written out as source once per class, as ``dataclasses`` writes ``__init__``: a
    loop over the fields cost 2 µs a message. The message is made without the frozen
    ``__init__`` (one ``object.__setattr__`` a field), from the checked dict, which
    more than pays for the checks (docs/benchmark.md).
    """
    lines = ["def build(cls, d):"]
    for n, f in enumerate(compiled):
        lines.append(f"    v = d.get({f.name!r}, ABSENT)")
        lines.append(f"    if not ({_fast_test(f)}): slow(cls, FIELDS[{n}], d, v)")
        if not f.required:
            lines.append(f"    if v is ABSENT: d[{f.name!r}] = DEFAULTS[{n}]()")
    lines += [
        f"    if len(d) != {len(compiled)}: unknown(cls, d)",
        "    message = new(cls)",
        "    message.__dict__.update(d)",
        "    return message",
    ]
    scope: dict[str, Any] = {
        "ABSENT": _ABSENT,
        "FIELDS": compiled,
        "DEFAULTS": [_default_of(cls, f.name) for f in compiled],
        "slow": _check_slowly,
        "unknown": _unknown,
        "new": object.__new__,
        "MIN_INT": MIN_INT,
        "MAX_INT": MAX_INT,
    }
    exec("\n".join(lines), scope)  # the source is made here, from the annotations
    builder: _Builder = scope["build"]
    return builder


def _default_of(cls: type[_Message], name: str) -> Callable[[], Any]:
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory
    value = f.default
    return lambda: value


def _unknown(cls: type[_Message], data: dict[str, Any]) -> None:
    names = {f.name for f in dataclasses.fields(cls)}
    extra = sorted(str(k) for k in data if k not in names)[:3]
    raise MessageError(f"{cls.__name__}: unknown fields {', '.join(extra)}")


def _fast_test(f: _Field) -> str:
    """A Python expression, true when ``v`` needs no more checking."""
    if not f.kinds:
        return "True"
    tests = [] if f.required else ["v is ABSENT"]
    for kind in sorted(f.kinds, key=lambda k: k.__name__):
        if kind is str:
            tests.append(f"(type(v) is str and len(v) <= {f.limit})")
        elif kind is int:
            tests.append("(type(v) is int and MIN_INT <= v <= MAX_INT)")
        elif kind is type(None):
            tests.append("v is None")
        elif kind is not list:  # bool, float, dict: the type says it all
            tests.append(f"type(v) is {kind.__name__}")
    return " or ".join(tests) or "False"


def _check_slowly(cls: type[_Message], f: _Field, data: dict[str, Any], value: Any) -> None:
    """The rest of ``_check_fields``: absent, unchecked, out of bounds, wrong or a list."""
    where = f"{cls.__name__}: {f.name}"
    if value is _ABSENT:
        if f.required:
            raise MessageError(f"{where} is missing")
        return
    kind = type(value)
    if not f.kinds:
        return
    if kind not in f.kinds:
        raise MessageError(f"{where} is {_json_type(value)}, not {_names(f)}")
    if kind is int:
        raise MessageError(f"{where} is out of range")
    if len(value) > f.limit:
        raise MessageError(f"{where} is longer than {f.limit}")
    if f.elements is not None:
        data[f.name] = f.elements(where, value)


def _compile(cls: type[_Message]) -> tuple[_Field, ...]:
    hints = typing.get_type_hints(cls)
    compiled = []
    for f in dataclasses.fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        limit = cls.LIMITS.get(f.name, MAX_TEXT)
        if f.type == "JSON":  # any JSON value: orjson made it, so it is one
            compiled.append(_Field(f.name, required, frozenset(), limit))
            continue
        kinds, elements = _kinds(hints[f.name])
        if list in kinds:
            limit = cls.LIMITS.get(f.name, MAX_ITEMS)
        compiled.append(_Field(f.name, required, kinds, limit, elements))
    return tuple(compiled)


def _kinds(hint: Any) -> tuple[frozenset[type], _Elements | None]:
    """The JSON types an annotation allows, and how to check a list's elements."""
    origin = typing.get_origin(hint)
    if origin is types.UnionType or origin is typing.Union:
        kinds: set[type] = set()
        elements = None
        for member in typing.get_args(hint):
            more, inner = _kinds(member)
            kinds |= more
            elements = elements or inner
        return frozenset(kinds), elements
    if hint is type(None):
        return frozenset({type(None)}), None
    if hint is float:
        return frozenset({int, float}), None
    if hint in (str, int, bool):
        return frozenset({hint}), None
    if origin is dict or hint is dict:
        return frozenset({dict}), None
    if origin is list:
        (item,) = typing.get_args(hint)
        return frozenset({list}), _elements(item)
    raise TypeError(f"no strict decoding for {hint!r}")  # a new field type: say how


def _elements(item: Any) -> _Elements:
    if isinstance(item, type) and issubclass(item, _Message):
        message = item

        def nested(where: str, values: list[Any]) -> list[Any]:
            try:
                return [message.from_dict({"v": message.SCHEMA, **v}) for v in values]
            except TypeError as exc:  # an element that is not an object
                raise MessageError(f"{where}: an element is not an object") from exc

        return nested
    kinds, _ = _kinds(item)
    inner_limit = MAX_TEXT

    def flat(where: str, values: list[Any]) -> list[Any]:
        for v in values:
            kind = type(v)
            if kind not in kinds:
                raise MessageError(f"{where}: an element is {_json_type(v)}")
            if kind is str and len(v) > inner_limit:
                raise MessageError(f"{where}: an element is longer than {inner_limit}")
            if kind is list and not all(type(x) is str for x in v):
                raise MessageError(f"{where}: an element holds a non-string")
        return values

    return flat


_JSON_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    list: "a list",
    dict: "an object",
    type(None): "null",
}


def _json_type(value: Any) -> str:
    return _JSON_NAMES.get(type(value), type(value).__name__)


def _names(f: _Field) -> str:
    return " or ".join(sorted(_JSON_NAMES[k] for k in f.kinds))


@dataclass(frozen=True)
class Event(_Message):
    """A domain event: something happened to one object of a tenant."""

    LIMITS: ClassVar[dict[str, int]] = {"event_id": 1024, "event": 1024}

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
    # Whose delivery envelope and signature header (hookline.core.dialects).
    dialect: str = "tripletex"

    def key(self) -> bytes:
        return str(self.id).encode()


@dataclass(frozen=True)
class Delivery(_Message):
    """One event on its way to one subscription; the same ``delivery_id`` on every retry.

    It carries the projected payload and ids, not the target URL or secret: those
    are looked up when the request is made, so a retry uses the subscription as it
    is then.
    """

    LIMITS: ClassVar[dict[str, int]] = {
        "delivery_id": 1024,
        "event_id": 1024,
        "event": 1024,
        "ordering_key": 4096,
    }

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
            return [Routed.from_dict(data)]
        return cls.from_dict(data).routed


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


_UNLIMITED = frozenset({"tenant", "tenants"})  # left out of a SourceRecord when unset


@dataclass(frozen=True)
class SourceRecord(_Message):
    """An existing topic read as events (``PUT /v2/admin/sources/{name}``), on the
    compacted ``hookline.sources`` keyed by its name; ``deleted`` marks the last record.
    How a record of the topic becomes an ``Event`` is ``hookline.core.sources``."""

    LIMITS: ClassVar[dict[str, int]] = {"name": 64, "topic": 249, "type_prefix": 200}

    name: str
    topic: str
    format: str  # "cloudevents" or "json"
    version: int
    created_at: float
    updated_at: float
    # CloudEvents: the extension attributes that hold the tenant and the version.
    tenant_attribute: str = "hooklinetenant"
    version_attribute: str = "hooklineversion"
    # Taken off the start of a record's event type (``com.example.``).
    type_prefix: str = ""
    # JSON: a path (``$.a.b[0]``) for each Event field it names.
    paths: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False
    # The tenants its records may belong to: one fixed (no record need name it), or a
    # list; neither: any tenant that exists.
    tenant: int | None = None
    tenants: list[int] = field(default_factory=list)

    def key(self) -> bytes:
        return self.name.encode()

    def encode(self) -> bytes:
        # Without the tenant limit when there is none: a router of before it, which
        # refuses unknown fields, still reads every source that has none (and one that
        # has one, it refuses rather than reads unlimited).
        fields = {
            k: v for k, v in self.__dict__.items() if k not in _UNLIMITED or v not in (None, [])
        }
        return orjson.dumps({"v": self.SCHEMA, **fields})
