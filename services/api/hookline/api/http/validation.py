"""Checking subscription bodies: pure functions that list every problem at once.

``parse_create`` and ``parse_update`` turn a decoded JSON body into a
``SubscriptionInput`` or raise ``Unprocessable`` naming each bad field. The
catalog and the target policy come in as arguments; DNS is the caller's.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from hookline.api.http.errors import Unprocessable
from hookline.core.catalog import EVENT_NAME
from hookline.core.dialects import DIALECTS, formats_of, settle_format
from hookline.core.fields import FieldsSyntaxError, parse_fields
from hookline.core.ssrf import check_target_url
from hookline.core.subscriptions import ACTIVE, DISABLED

FORMATS = ("default", "batch")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")  # used with fullmatch
_RESERVED_HEADERS = {
    "content-type",
    "content-length",
    "host",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
}
_MAX_URL = 2048
_MAX_FIELDS = 4096
_MAX_EVENTS = 200
_MAX_HEADER_VALUE = 4096
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f]")
# What the other source APIs call our fields: a hint beats "targetUrl is required".
_ALIASES = {
    "endpoint": "targetUrl (Orderspace's and ShareActor's endpoint)",
    "event_type": "event (ShareActor's event_type)",
    "webhook": "the fields of Orderspace's webhook object at the top level",
    "data": "the fields of Booqable's data.attributes at the top level",
}


@dataclass(frozen=True)
class TargetPolicy:
    allow_http: bool
    allow_private: bool


@dataclass(frozen=True)
class SubscriptionInput:
    """The fields a client may set; None means 'not given' (on update: unchanged)."""

    events: list[str] | None = None
    target_url: str | None = None
    fields: str | None = None
    fields_given: bool = False
    format: str | None = None
    auth_header_name: str | None = None
    auth_header_value: str | None = None
    auth_given: bool = False
    status: str | None = None
    version: int | None = None
    dialect: str | None = None


class _Problems:
    def __init__(self) -> None:
        self.found: dict[str, str] = {}

    def add(self, name: str, message: str) -> None:
        self.found.setdefault(name, message)

    def raise_any(self) -> None:
        if self.found:
            raise Unprocessable.fields(self.found)


def parse_create(body: Any, catalog: Collection[str], policy: TargetPolicy) -> SubscriptionInput:
    data, problems = _object(body)
    if data.get("event") is None and data.get("events") is None:
        problems.add("event", "give 'event' (one event type) or 'events' (a list)")
    if data.get("targetUrl") is None:
        problems.add("targetUrl", "targetUrl is required")
    return _parse(data, problems, catalog, policy, allow_status=False)


def parse_update(body: Any, catalog: Collection[str], policy: TargetPolicy) -> SubscriptionInput:
    data, problems = _object(body)
    return _parse(data, problems, catalog, policy, allow_status=True)


def _object(body: Any) -> tuple[dict[str, Any], _Problems]:
    if not isinstance(body, dict):
        raise Unprocessable.fields({"": "the body must be a JSON object"})
    problems = _Problems()
    for alias, ours in _ALIASES.items():
        if alias in body:
            problems.add(alias, f"Hookline does not know {alias!r}: use {ours}")
    return body, problems


def _parse(
    data: dict[str, Any],
    problems: _Problems,
    catalog: Collection[str],
    policy: TargetPolicy,
    *,
    allow_status: bool,
) -> SubscriptionInput:
    events = _events(data, problems, catalog)
    target = _optional(data, "targetUrl", str, problems, "a string")
    if target is not None:
        _check_target(target, policy, problems)
    fields = _optional(data, "fields", str, problems, "a string")
    if fields and len(fields) > _MAX_FIELDS:
        problems.add("fields", f"fields is longer than {_MAX_FIELDS} characters")
    elif fields:
        _check_fields(fields, problems)
    fmt = _choice(data, "format", FORMATS, problems)
    dialect = _choice(data, "dialect", DIALECTS, problems)
    if dialect is not None and fmt is not None and settle_format(dialect, fmt, None) is None:
        problems.add("format", format_problem(dialect))
    status = _choice(data, "status", (ACTIVE, DISABLED), problems) if allow_status else None
    version = _optional(data, "version", int, problems, "a whole number")
    name = _optional(data, "authHeaderName", str, problems, "a string")
    value = _optional(data, "authHeaderValue", str, problems, "a string")
    _check_auth(name, value, problems)
    problems.raise_any()
    return SubscriptionInput(
        events=events,
        target_url=target,
        fields=fields or None,
        fields_given="fields" in data,
        format=fmt,
        auth_header_name=name or None,
        auth_header_value=value or None,
        auth_given="authHeaderName" in data or "authHeaderValue" in data,
        status=status,
        version=version,
        dialect=dialect,
    )


def format_problem(dialect: str) -> str:
    return f"a {dialect} subscription is delivered in format {' or '.join(formats_of(dialect))}"


def _optional(data: dict[str, Any], key: str, kind: type, problems: _Problems, what: str) -> Any:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        problems.add(key, f"{key} must be {what}")
        return None
    return value


def _choice(
    data: dict[str, Any], key: str, allowed: tuple[str, ...], problems: _Problems
) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if value not in allowed:
        problems.add(key, f"{key} must be one of {', '.join(allowed)}")
        return None
    return str(value)


def _events(
    data: dict[str, Any], problems: _Problems, catalog: Collection[str]
) -> list[str] | None:
    if data.get("event") is not None and data.get("events") is not None:
        problems.add("event", "give either 'event' or 'events', not both")
        return None
    key = "events" if data.get("events") is not None else "event"
    raw = data.get(key)
    if raw is None:
        return None
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        problems.add(key, f"{key} must be an event type name or a non-empty list of them")
        return None
    if len(names) > _MAX_EVENTS:
        problems.add(key, f"subscribe to at most {_MAX_EVENTS} event types at once")
        return None
    bad = [n for n in names if not EVENT_NAME.fullmatch(n)]
    unknown = [n for n in names if EVENT_NAME.fullmatch(n) and n not in catalog]
    if bad:
        shown = ", ".join(repr(n)[1:-1][:100] for n in bad[:10])
        problems.add("event", f"event names are 'object.verb': {shown}")
    elif unknown:
        problems.add("event", f"unknown event type: {', '.join(unknown)} (see GET /v2/event)")
    return list(dict.fromkeys(names))


def _check_target(url: str, policy: TargetPolicy, problems: _Problems) -> None:
    if len(url) > _MAX_URL:
        problems.add("targetUrl", f"targetUrl is longer than {_MAX_URL} characters")
        return
    if _URL_UNSAFE.search(url):
        problems.add("targetUrl", "targetUrl cannot contain spaces or control characters")
        return
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        problems.add("targetUrl", "targetUrl is not a valid URL")
        return
    schemes = ("https", "http") if policy.allow_http else ("https",)
    if parts.scheme not in schemes or not host:
        problems.add("targetUrl", "targetUrl must be an https URL")
        return
    try:
        host.encode("idna")  # what resolving and connecting will do with it
    except UnicodeError:
        problems.add("targetUrl", f"targetUrl has an invalid host name: {host[:100]!r}")
        return
    # The deliverer's own check, made again at every attempt (yarl's parse, as aiohttp
    # connects: a soft hyphen in the host cannot be sent; IP literals; the scheme).
    reason = check_target_url(url, allow_http=policy.allow_http, allow_private=policy.allow_private)
    if reason:
        problems.add("targetUrl", f"targetUrl is not allowed: {reason}")


def _check_fields(fields: str, problems: _Problems) -> None:
    try:
        parse_fields(fields)
    except FieldsSyntaxError as exc:
        problems.add("fields", f"{exc.message} at position {exc.position}")


def _check_auth(name: str | None, value: str | None, problems: _Problems) -> None:
    if bool(name) != bool(value):
        problems.add("authHeaderName", "give authHeaderName and authHeaderValue together")
    elif name and (not _HEADER_NAME.fullmatch(name) or name.lower() in _RESERVED_HEADERS):
        problems.add("authHeaderName", f"{name[:100]!r} cannot be used as a header name")
    elif value and ("\n" in value or "\r" in value):
        problems.add("authHeaderValue", "authHeaderValue cannot contain line breaks")
    elif value and _CONTROL.search(value.replace("\t", " ")):
        problems.add("authHeaderValue", "authHeaderValue cannot contain control characters")
    elif value and len(value) > _MAX_HEADER_VALUE:
        problems.add("authHeaderValue", f"authHeaderValue is longer than {_MAX_HEADER_VALUE}")
