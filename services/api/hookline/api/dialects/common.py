"""What every dialect does the same way: the native rules, in the dialect's words.

A dialect view maps its body to the native one (``targetUrl``, ``event``/``events``,
``dialect``, ``format``) and runs it through the native checks and store, so that a
subscription made in any dialect obeys the same catalog, https and SSRF rules. The
native problems come back as ``(field, phrase)`` pairs (``describe``) that each
dialect puts in its own words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hookline.api.errors import InvalidChange, SubscriptionNotFound
from hookline.api.http import subscriptions
from hookline.api.http.auth import Tenant
from hookline.api.http.context import Context
from hookline.api.http.errors import BadRequest, NotFound, Unprocessable
from hookline.api.http.validation import parse_create, parse_update
from hookline.core.messages import SubscriptionRecord

TARGET = "target"
EVENTS = "events"
OTHER = "other"

_UNKNOWN = re.compile(r"unknown event type: (?P<names>.*) \(see GET /v2/event\)$")
_NAMES = re.compile(r"event names are 'object\.verb': (?P<names>.*)$")
_AT_MOST = re.compile(r"subscribe to at most (?P<n>\d+) event types at once$")


@dataclass(frozen=True)
class Problem:
    """One broken rule: ``about`` is TARGET, EVENTS or OTHER (``field`` then says which),
    ``phrase`` what is wrong, without its subject (``can't be blank``)."""

    about: str
    field: str
    phrase: str


def describe(native: Unprocessable) -> list[Problem]:
    """The native checks' problems, as phrases any dialect can prefix with its name."""
    return [_problem(d["field"], d["message"]) for d in native.details]


def _problem(field: str, message: str) -> Problem:
    if field == "targetUrl":
        return Problem(TARGET, field, _target_phrase(message))
    if field in ("event", "events"):
        return Problem(EVENTS, field, _events_phrase(message))
    return Problem(OTHER, field, message)


def _target_phrase(message: str) -> str:
    if message == "targetUrl is required":
        return "can't be blank"
    if message.startswith("targetUrl "):
        return message.removeprefix("targetUrl ")
    return f"is not allowed: {message}"


def _events_phrase(message: str) -> str:
    if message.startswith("give 'event'"):
        return "can't be blank"
    if (m := _UNKNOWN.match(message)) is not None:
        what = "unknown events" if "," in m["names"] else "an unknown event"
        return f"has {what}: {m['names']} (see GET /v2/event)"
    if (m := _NAMES.match(message)) is not None:
        return f"must be names like order.created: {m['names']}"
    if (m := _AT_MOST.match(message)) is not None:
        return f"can have at most {m['n']} events"
    if "non-empty list" in message:
        return "must be a non-empty list of event names"
    return message


Words = Callable[[Unprocessable], Unprocessable]
"""A dialect's rendering of the native problems (``describe``) as its own 422."""


async def create(
    c: Context, tenant: Tenant, native: dict[str, Any], words: Words
) -> SubscriptionRecord:
    """Create from a native body; the native problems are raised in the dialect's words."""
    try:
        return await _create(c, tenant, native)
    except Unprocessable as exc:
        raise words(exc) from exc
    except InvalidChange as exc:
        raise words(Unprocessable.fields({exc.field: exc.problem})) from exc


async def update(
    c: Context, tenant: Tenant, subscription_id: int, native: dict[str, Any], words: Words
) -> SubscriptionRecord:
    """Change from a native body, as ``create``; a blank endpoint or event is refused."""
    try:
        return await _update(c, tenant, subscription_id, native)
    except Unprocessable as exc:
        raise words(exc) from exc
    except InvalidChange as exc:
        raise words(Unprocessable.fields({exc.field: exc.problem})) from exc


async def _create(c: Context, tenant: Tenant, native: dict[str, Any]) -> SubscriptionRecord:
    await subscriptions._refresh_catalog(c, native)
    data = parse_create(native, c.catalog.all(), c.policy)
    await subscriptions._check_resolves_public(c, data)
    return await c.store.create(tenant.id, data)


async def _update(
    c: Context, tenant: Tenant, subscription_id: int, native: dict[str, Any]
) -> SubscriptionRecord:
    await subscriptions._refresh_catalog(c, native)
    blank = blanks(native)
    try:
        data = parse_update(native, c.catalog.all(), c.policy)
    except Unprocessable as exc:
        others = {d["field"]: d["message"] for d in exc.details if d["field"] not in blank}
        raise Unprocessable.fields({**blank, **others}) from exc
    if blank:
        raise Unprocessable.fields(blank)
    await subscriptions._check_resolves_public(c, data)
    return await c.store.update(tenant.id, subscription_id, data)


async def fetch(
    c: Context, tenant: Tenant, subscription_id: int | None, shown: str
) -> SubscriptionRecord:
    """The tenant's live subscription, or a 404 that names the id as the client gave it."""
    if subscription_id is None or not 0 < subscription_id < 2**63:
        raise not_found(shown)
    try:
        return await c.store.get(tenant.id, subscription_id)
    except SubscriptionNotFound as exc:
        raise not_found(shown) from exc


async def delete(c: Context, tenant: Tenant, record: SubscriptionRecord) -> SubscriptionRecord:
    return await c.store.change(tenant.id, record.id, deleted=True)


def not_found(shown: str) -> NotFound:
    return NotFound(f"no webhook {shown[:100]!r}")


def given(value: Any, *, create: bool) -> Any:
    """A dialect's endpoint or event as the native value: blank text on create is none
    given (the native "is required", in the dialect's words "can't be blank"). On
    update it is sent on, and ``update`` refuses it in the same words (the native
    rules would take ``""`` for a URL that is not https, or an event of no name)."""
    if create and isinstance(value, str) and not value.strip():
        return None
    return value


_BLANK = {
    "targetUrl": "targetUrl is required",
    "event": "give 'event' (one event type) or 'events' (a list)",
}


def blanks(native: dict[str, Any]) -> dict[str, str]:
    """The native problems of the blank texts in ``native``, as ``parse_create``'s."""
    return {
        key: message
        for key, message in _BLANK.items()
        if isinstance(native.get(key), str) and not native[key].strip()
    }


def body_object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object with {what}")
    return body


def millis(ts: float) -> int:
    return round(ts * 1000)


def iso_micro(ts: float) -> str:
    """Booqable's times: ``2020-05-19T04:30:06.000000+00:00``."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")
