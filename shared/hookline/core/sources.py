"""Existing topics as sources: how a record of a producer's own topic becomes an ``Event``.

A source (``SourceRecord``, written by ``PUT /v2/admin/sources/{name}``) names a topic
and how to read it:

- ``cloudevents``: CloudEvents 1.0 in either Kafka content mode. A record whose
  ``content-type`` header starts with ``application/cloudevents`` is in structured mode
  (the value is a JSON CloudEvent); any other is in binary mode (the attributes in
  ``ce_<name>`` headers, the data as the value, ``content-type`` its media type).
  ``type`` is the event type (less the source's ``type_prefix``), ``source`` and ``id``
  the eventId (``cloudevent_id``: ``/orders:ce-1``),
  ``subject`` the object id (a canonical decimal such as ``"42"`` becomes the number
  42, as Hookline's own ids are), the extension ``hooklinetenant`` the tenant and
  ``hooklineversion`` the version (names set per source), ``time`` the occurredAt and
  ``data`` the value (JSON only: ``data_base64`` is refused).
- ``json``: the value is a JSON object and ``paths`` say where each field is
  (``$.a.b``, ``a.b[0]``; see ``parse_path``). ``event``, ``id`` and ``tenant`` are
  required; without ``value`` the whole record is the value; without ``eventId`` the
  record's place (``place``: source, topic, partition, offset and timestamp) is, so
  that reading it again after a crash gives the same eventId and the router drops the
  copy, and a source moved to another topic (or a topic made again) drops none.

A source may be limited to tenants: a fixed ``tenant`` (a record that names none is
its; the tenant attribute or path is then optional) or a list ``tenants``; a record that
names a tenant outside the limit is refused, on no tenant (the record chose the name).

``map_record`` is pure and total: any record, however hostile, gives an ``Event`` that
every later step can carry (within ``hookline.core.limits``, the event type known, at
most ``MAX_EVENT_BYTES`` encoded) or a ``Refused`` whose reason a person can act on;
it raises nothing else. That the tenant exists is for the caller to check (it needs
the database). ``problems`` checks a source definition the same way, for the API.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson

from hookline.core.catalog import EVENT_NAME
from hookline.core.limits import MAX_EVENT_BYTES, find_problem
from hookline.core.messages import MAX_INT, Event, SourceRecord

CLOUDEVENTS = "cloudevents"
JSON_FORMAT = "json"
FORMATS = (CLOUDEVENTS, JSON_FORMAT)
MAX_ID = 200  # eventId and object id characters, as the API's publish
MAX_PATH = 200
MAX_PREFIX = 200
MAX_STEPS = 32
MAX_TENANTS = 1000  # in a source's list of the tenants its records may name
PATH_FIELDS = ("event", "id", "tenant", "version", "eventId", "value", "occurredAt")
REQUIRED_PATHS = ("event", "id", "tenant")
SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# Kafka's topic names: at most 249 of these characters.
TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
# CloudEvents attribute names: lower-case ASCII letters and digits (at most 20 advised).
ATTRIBUTE = re.compile(r"^[a-z0-9]{1,20}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DECIMAL = re.compile(r"^(0|-?[1-9][0-9]{0,18})$")
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[([0-9]{1,6})\]")
_STRUCTURED = "application/cloudevents"
_MISSING: Any = object()


class Refusal(Exception):
    """Raised where a record (or a definition) cannot be mapped; ``map_record`` turns it
    into a ``Refused``."""

    def __init__(self, reason: str, tenant: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tenant = tenant


@dataclass(frozen=True)
class Refused:
    """A record that maps to no event: why, and its tenant when one was read."""

    reason: str
    tenant: str | None = None


@dataclass(frozen=True)
class Record:
    """A record of a source topic, as read (aiokafka's ``ConsumerRecord`` has these)."""

    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]] = ()
    partition: int = 0
    offset: int = 0
    timestamp_ms: int | None = None


@dataclass(frozen=True)
class Path:
    """A parsed path: object member names and list indices, from the record's root."""

    text: str
    steps: tuple[str | int, ...]

    def get(self, data: Any) -> Any:
        """The value at this path in ``data``, or ``_MISSING``."""
        for step in self.steps:
            if isinstance(step, str) and type(data) is dict:
                data = data.get(step, _MISSING)
            elif isinstance(step, int) and type(data) is list and step < len(data):
                data = data[step]
            else:
                return _MISSING
            if data is _MISSING:
                return _MISSING
        return data


def parse_path(text: str) -> Path:
    """``$.order.id``, ``order.lines[0].sku`` or ``$`` (the whole record): member names
    (letters, digits, ``_`` and ``-``, not starting with a digit) after dots, list
    indices in brackets. ``Refusal`` for anything else."""
    if not 0 < len(text) <= MAX_PATH:
        raise Refusal(f"a path is 1 to {MAX_PATH} characters")
    rest = text[1:] if text.startswith("$") else "." + text
    steps: list[str | int] = []
    at = 0
    while at < len(rest):
        found = _STEP.match(rest, at)
        if found is None:
            raise Refusal(f"path {text[:MAX_PATH]!r} is not like $.a.b or a.b[0] at {at}")
        name, index = found.groups()
        steps.append(name if name is not None else int(index))
        at = found.end()
    if len(steps) > MAX_STEPS:
        raise Refusal(f"path {text!r} has more than {MAX_STEPS} steps")
    return Path(text, tuple(steps))


@dataclass(frozen=True)
class Source:
    """A ``SourceRecord`` checked and ready to map records (its paths parsed)."""

    name: str
    topic: str
    format: str
    version: int
    tenant_attribute: str = "hooklinetenant"
    version_attribute: str = "hooklineversion"
    type_prefix: str = ""
    paths: Mapping[str, Path] | None = None
    tenant: int | None = None  # every record's, unless it names another (refused)
    tenants: frozenset[int] = frozenset()  # the only tenants a record may name

    def allows(self, tenant: int) -> bool:
        if self.tenant is not None:
            return tenant == self.tenant
        return not self.tenants or tenant in self.tenants


def problems(record: SourceRecord, *, prefix: str) -> dict[str, str]:
    """What is wrong with a source definition, by the API's field name (empty: nothing).
    ``prefix`` is Hookline's topic prefix: its own topics cannot be sources (reading
    ``hookline.events`` as a source would publish each event again, for ever)."""
    found: dict[str, str] = {}
    if not SOURCE_NAME.fullmatch(record.name):
        found["name"] = "a source name is 1 to 64 of a-z, 0-9, '_' and '-', starting a-z or 0-9"
    if not TOPIC_NAME.fullmatch(record.topic):
        found["topic"] = "topic must be a Kafka topic name: 1 to 249 of A-Z a-z 0-9 . _ -"
    elif record.topic.startswith(f"{prefix}."):
        found["topic"] = f"topic {record.topic!r} is one of Hookline's own ({prefix}.*)"
    if record.format not in FORMATS:
        found["format"] = "format must be 'cloudevents' or 'json'"
    for field, value in (
        ("tenantAttribute", record.tenant_attribute),
        ("versionAttribute", record.version_attribute),
    ):
        if not ATTRIBUTE.fullmatch(value):
            found[field] = f"{field} is a CloudEvents attribute name: 1 to 20 of a-z and 0-9"
    if len(record.type_prefix) > MAX_PREFIX or _CONTROL.search(record.type_prefix):
        found["typePrefix"] = f"typePrefix is at most {MAX_PREFIX} characters, on one line"
    found.update(_tenant_problems(record))
    found.update(_path_problems(record))
    return found


def _tenant_problems(record: SourceRecord) -> dict[str, str]:
    if record.tenant is not None and record.tenants:
        return {"tenants": "give tenant (one, fixed) or tenants (a list), not both"}
    if record.tenant is not None and not _is_tenant(record.tenant):
        return {"tenant": "tenant is a tenant id, a positive whole number"}
    if len(record.tenants) > MAX_TENANTS:
        return {"tenants": f"tenants lists at most {MAX_TENANTS} tenant ids"}
    if not all(_is_tenant(t) for t in record.tenants):
        return {"tenants": "tenants is a list of tenant ids, positive whole numbers"}
    if len(set(record.tenants)) != len(record.tenants):
        return {"tenants": "tenants names each tenant once"}
    return {}


def _is_tenant(value: Any) -> bool:
    return type(value) is int and 0 < value <= MAX_INT


def _path_problems(record: SourceRecord) -> dict[str, str]:
    if record.format != JSON_FORMAT:
        return {"paths": "paths are for format 'json' only"} if record.paths else {}
    found: dict[str, str] = {}
    for name in sorted(set(record.paths) - set(PATH_FIELDS))[:3]:
        found[f"paths.{name[:40]}"] = f"paths names only {', '.join(PATH_FIELDS)}"
    for name in REQUIRED_PATHS:
        if name not in record.paths and not (name == "tenant" and record.tenant is not None):
            found[f"paths.{name}"] = f"paths.{name} is required for format 'json'" + (
                " (or a fixed tenant)" if name == "tenant" else ""
            )
    for name in PATH_FIELDS:
        text = record.paths.get(name)
        if text is None:
            continue
        if type(text) is not str:
            found[f"paths.{name}"] = f"paths.{name} must be a string such as '$.a.b'"
            continue
        try:
            parse_path(text)
        except Refusal as exc:
            found[f"paths.{name}"] = exc.reason
    return found


def source_of(record: SourceRecord, *, prefix: str) -> Source:
    """The source a record defines; ``Refusal`` for one that ``problems`` refuses."""
    found = problems(record, prefix=prefix)
    if found:
        raise Refusal("; ".join(f"{k}: {v}" for k, v in sorted(found.items())))
    paths = {k: parse_path(v) for k, v in record.paths.items()}
    return Source(
        name=record.name,
        topic=record.topic,
        format=record.format,
        version=record.version,
        tenant_attribute=record.tenant_attribute,
        version_attribute=record.version_attribute,
        type_prefix=record.type_prefix,
        paths=paths if record.format == JSON_FORMAT else None,
        tenant=record.tenant,
        tenants=frozenset(record.tenants),
    )


# --- records to events ------------------------------------------------------------------


@dataclass
class _Read:
    """The raw fields read from a record, each still to be checked."""

    event: Any
    object_id: Any
    tenant: Any
    event_id: Any = None
    version: Any = None
    value: Any = _MISSING
    occurred_at: Any = None
    from_text: bool = False  # read from strings (CloudEvents): "42" may be the number


def _always(name: str) -> bool:
    return True


def map_record(
    source: Source,
    record: Record,
    *,
    known: Callable[[str], bool] = _always,
    now: float = 0.0,
) -> Event | Refused:
    """The event in ``record``, or why there is none. ``known`` says whether an event
    type is in the catalog; ``now`` is the occurredAt of a record without a time or a
    timestamp."""
    try:
        if record.value is not None and len(record.value) > MAX_EVENT_BYTES:
            raise Refusal(f"the value is {len(record.value)} bytes; at most {MAX_EVENT_BYTES}")
        if source.format == CLOUDEVENTS:
            read = _read_cloudevent(source, record)
        else:
            read = _read_json(source, record)
        return _event(source, record, read, known, now)
    except Refusal as exc:
        return Refused(exc.reason[:2000], exc.tenant)


def _read_json(source: Source, record: Record) -> _Read:
    data = _json_object(record.value, "the value")
    paths = source.paths or {}
    # A fixed tenant is every record's that names none.
    required = [n for n in REQUIRED_PATHS if n != "tenant" or source.tenant is None]

    def at(name: str) -> Any:
        path = paths.get(name)
        if path is None:
            return _MISSING
        found = path.get(data)
        if found is _MISSING and name in required:
            raise Refusal(f"{name}: nothing at {path.text}")
        return found

    event, object_id, tenant = at("event"), at("id"), at("tenant")
    value = at("value") if "value" in paths else data
    if value is _MISSING:
        raise Refusal(f"value: nothing at {paths['value'].text}")
    return _Read(
        event=event,
        object_id=object_id,
        tenant=_absent_as_none(tenant),
        event_id=_absent_as_none(at("eventId")),
        version=_absent_as_none(at("version")),
        value=value,
        occurred_at=_absent_as_none(at("occurredAt")),
    )


def _absent_as_none(value: Any) -> Any:
    return None if value is _MISSING else value


def _read_cloudevent(source: Source, record: Record) -> _Read:
    headers = _headers(record.headers)
    if headers.get("content-type", "").lower().startswith(_STRUCTURED):
        return _structured(source, record, headers["content-type"])
    if "ce_specversion" not in headers:
        raise Refusal(
            "not a CloudEvent: no content-type application/cloudevents+json (structured"
            " mode) and no ce_specversion header (binary mode)"
        )
    attributes = {k[3:]: v for k, v in headers.items() if k.startswith("ce_")}
    _check_cloudevent(attributes, headers.get("content-type"))
    value = None if record.value is None else _json(record.value, "the data (the value)")
    return _cloudevent_fields(source, attributes, value)


def _structured(source: Source, record: Record, content_type: str) -> _Read:
    if not content_type.lower().startswith(_STRUCTURED + "+json"):
        raise Refusal(f"structured CloudEvents in {content_type[:100]!r}: only +json is read")
    event = _json_object(record.value, "the structured CloudEvent")
    if "data_base64" in event:
        raise Refusal("data_base64: the data must be JSON, in data")
    _check_cloudevent(event, event.get("datacontenttype"))
    return _cloudevent_fields(source, event, event.get("data"))


def _check_cloudevent(attributes: Mapping[str, Any], content_type: Any) -> None:
    if attributes.get("specversion") != "1.0":
        raise Refusal("specversion: only CloudEvents 1.0 is read")
    for name in ("id", "source", "type"):
        if not isinstance(attributes.get(name), str) or not attributes[name]:
            raise Refusal(f"{name}: a CloudEvent's {name} is a required, non-empty string")
    if content_type is not None and not _is_json_media(content_type):
        raise Refusal(f"datacontenttype {str(content_type)[:100]!r}: the data must be JSON")


def _is_json_media(content_type: Any) -> bool:
    if not isinstance(content_type, str):
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _cloudevent_fields(source: Source, attributes: Mapping[str, Any], data: Any) -> _Read:
    """The fields of a CloudEvent; its attributes are strings (in headers always),
    so ``"42"`` is read as the number it spells."""
    tenant = attributes.get(source.tenant_attribute)
    if tenant is None and source.tenant is None:
        raise Refusal(f"{source.tenant_attribute}: the tenant extension attribute is missing")
    subject = attributes.get("subject")
    if subject is None:
        raise Refusal("subject: the object id (subject) is missing")
    return _Read(
        event=attributes["type"],
        object_id=subject,
        tenant=tenant,
        event_id=cloudevent_id(attributes["source"], attributes["id"]),
        version=attributes.get(source.version_attribute),
        value=data,
        occurred_at=attributes.get("time"),
        from_text=True,
    )


def cloudevent_id(source: str, event_id: str) -> str:
    """A CloudEvent's eventId, ``<source>:<id>``. CloudEvents are unique by source and id
    together: two producers (two sources of a topic, or of a tenant) may both write
    ``id`` 1, and the router dedupes, and receivers tell deliveries apart
    (``webhook-id``), by eventId per tenant. The source is percent-encoded but for
    ``/`` (``urn:a`` is ``urn%3Aa``), so the first ``:`` ends it and no two pairs meet."""
    for name, text in (("source", source), ("id", event_id)):
        if not _is_id(text):
            raise Refusal(f"{name}: a string of 1 to {MAX_ID} characters, without control ones")
    return f"{quote(source, safe='/')}:{event_id}"


def _headers(headers: Sequence[tuple[str, bytes | None]]) -> dict[str, str]:
    """The ``ce_*`` and ``content-type`` headers as text; a repeated or non-UTF-8 one is
    refused (which of two would be the attribute?)."""
    found: dict[str, str] = {}
    for name, raw in headers:
        if not isinstance(name, str) or not (name.startswith("ce_") or name == "content-type"):
            continue
        if name in found:
            raise Refusal(f"header {name[:40]!r} appears more than once")
        try:
            found[name] = (raw or b"").decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Refusal(f"header {name[:40]!r} is not UTF-8") from exc
    return found


def _json(raw: bytes, what: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Refusal(f"{what} is not JSON: {str(exc)[:200]}") from exc


def _json_object(raw: bytes | None, what: str) -> dict[str, Any]:
    if raw is None:
        raise Refusal(f"{what} is missing (a null value)")
    data = _json(raw, what)
    if type(data) is not dict:
        raise Refusal(f"{what} must be a JSON object")
    return data


# --- the checks an event's fields pass, wherever they were read ---------------------------


def _event(
    source: Source, record: Record, read: _Read, known: Callable[[str], bool], now: float
) -> Event:
    tenant = _tenant(read.tenant, source)
    try:
        name = _event_type(read.event, source, known)
        event = Event(
            event_id=_event_id(read.event_id, source, record),
            tenant=tenant,
            event=name,
            id=_object_id(read.object_id, read.from_text),
            occurred_at=_occurred_at(read.occurred_at, record, now),
            value=None if name.endswith((".delete", ".deleted")) else _value(read.value),
            version=_version(read.version, read.from_text, source),
        )
        size = len(event.encode())
    except Refusal as exc:
        raise Refusal(exc.reason, str(tenant)) from exc
    if size > MAX_EVENT_BYTES:
        raise Refusal(f"the event is {size} bytes encoded; at most {MAX_EVENT_BYTES}", str(tenant))
    return event


def _tenant(raw: Any, source: Source) -> int:
    """The record's tenant: the one it names, if its source allows it, or else the
    source's fixed one. A refused claim is not put on the tenant it names (whoever
    writes the topic chose that name)."""
    if raw is None and source.tenant is not None:
        return source.tenant
    where = "tenant" if source.format == JSON_FORMAT else source.tenant_attribute
    tenant = _integer(raw, from_text=True)
    if tenant is None or not 0 < tenant <= MAX_INT:
        raise Refusal(f"{where}: the tenant must be a tenant id (a positive whole number)")
    if not source.allows(tenant):
        allowed = (
            f"tenant {source.tenant} only"
            if source.tenant is not None
            else f"tenants {', '.join(map(str, sorted(source.tenants)[:10]))}"
            + (" …" if len(source.tenants) > 10 else "")
            + " only"
        )
        raise Refusal(f"{where}: tenant {tenant} is not this source's (it is for {allowed})")
    return tenant


def _event_type(raw: Any, source: Source, known: Callable[[str], bool]) -> str:
    if not isinstance(raw, str):
        raise Refusal("event type: must be a string")
    if not raw.startswith(source.type_prefix):
        raise Refusal(f"event type {raw[:100]!r} does not start with {source.type_prefix!r}")
    name = raw[len(source.type_prefix) :]
    if len(name) > 100 or not EVENT_NAME.fullmatch(name):
        raise Refusal(f"event type {name[:100]!r}: event types are 'object.verb', lower case")
    if not known(name):
        raise Refusal(f"event type {name!r} is not in the catalog (see GET /v2/event)")
    return name


def place(source: Source, record: Record) -> str:
    """A record's eventId when it names none: where it is, ``<source>:<topic>:<partition>:
    <offset>:<timestamp ms>``. Read again after a crash, a record gives the same one;
    offsets alone are not enough, since the router remembers eventIds for a whole
    ``HOOKLINE_DEDUP_WINDOW``: a source moved to another topic (a ``PUT``), or a topic
    deleted and made again, starts at offset 0 again, and its records would be dropped
    as copies of the ones read before. The topic tells the first apart, the record's
    timestamp (kept with it by the broker) the second."""
    stamp = record.timestamp_ms
    when = f":{stamp}" if type(stamp) is int and stamp >= 0 else ""
    return f"{source.name}:{source.topic}:{record.partition}:{record.offset}{when}"


def _event_id(raw: Any, source: Source, record: Record) -> str:
    if raw is None:
        return place(source, record)
    if source.format == CLOUDEVENTS:
        return str(raw)  # checked by cloudevent_id
    if not isinstance(raw, str) or not _is_id(raw):
        raise Refusal(f"eventId: a string of 1 to {MAX_ID} characters, without control ones")
    return raw


def _object_id(raw: Any, from_text: bool) -> int | str:
    number = _integer(raw, from_text=from_text)
    if number is not None and -MAX_INT - 1 <= number <= MAX_INT:
        return number
    if isinstance(raw, str) and _is_id(raw):
        return raw
    raise Refusal(f"id: the object id is a whole number or 1 to {MAX_ID} characters")


def _version(raw: Any, from_text: bool, source: Source) -> int | None:
    if raw is None:
        return None
    version = _integer(raw, from_text=from_text)
    if version is None or not -MAX_INT - 1 <= version <= MAX_INT:
        where = "version" if source.format == JSON_FORMAT else source.version_attribute
        raise Refusal(f"{where}: the version must be a whole number")
    return version


def _integer(raw: Any, *, from_text: bool) -> int | None:
    """An int (never a bool), or a canonical decimal string when ``from_text``."""
    if type(raw) is int:
        return raw
    if from_text and isinstance(raw, str) and _DECIMAL.fullmatch(raw):
        return int(raw)
    return None


def _value(raw: Any) -> Any:
    if raw is _MISSING or raw is None:
        return None
    if type(raw) is not dict:
        raise Refusal("value: the value must be a JSON object, or absent or null")
    found = find_problem(raw, "value")
    if found is not None:
        raise Refusal(f"{found[0]} {found[1]}")
    return raw


def _occurred_at(raw: Any, record: Record, now: float) -> float:
    if raw is None:
        stamp = record.timestamp_ms
        return stamp / 1000 if type(stamp) is int and stamp > 0 else now
    if type(raw) in (int, float) and 0 <= raw < 1e11:
        return float(raw)
    if isinstance(raw, str) and len(raw) <= 64:
        try:
            parsed = datetime.fromisoformat(raw)
            if parsed.tzinfo is not None:  # RFC 3339 always has an offset
                return parsed.timestamp()
        except (ValueError, OverflowError, OSError):
            pass
    raise Refusal("time: an RFC 3339 timestamp (or, in JSON, seconds since 1970)")


def _is_id(text: str) -> bool:
    return 0 < len(text) <= MAX_ID and not _CONTROL.search(text)
