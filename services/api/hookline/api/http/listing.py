"""List queries: ``from``/``count``, ``sorting``, ``fields`` and filters, parsed into SQL parts.

Pure: ``parse_list_query`` turns the query string of ``GET /v2/event/subscription``
into a ``ListQuery`` or raises ``Unprocessable`` naming every bad parameter. The SQL
it builds only ever contains the constants below; every value a client sent goes
into ``Condition.value`` and reaches PostgreSQL as a bind parameter.

Filters: ``event``, ``status`` and ``targetUrl`` (equality), and Booqable's
``filter[attr][op]=value`` with ``eq``, ``not_eq``, ``gt``, ``gte``, ``lt``, ``lte`` on
every filterable attribute plus ``prefix`` and ``suffix`` on the text ones.
``targetUrl`` is matched and sorted on its masked form, the text clients see.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hookline.api.http.errors import Unprocessable
from hookline.api.http.present import MASKED_URL_SQL
from hookline.core.fields import FieldSelection, FieldsSyntaxError, parse_fields

DEFAULT_COUNT = 1000
MAX_COUNT = 10000
MAX_FROM = 10**9
PARAM = "{p}"
"""Where a ``Condition``'s bind parameter goes in its SQL."""


@dataclass(frozen=True)
class Attribute:
    sql: str
    kind: str  # "int", "time" or "text"


_MS = "date_trunc('milliseconds', {})"  # responses show milliseconds; compare at that precision
ATTRIBUTES: dict[str, Attribute] = {
    "id": Attribute("id", "int"),
    "createdAt": Attribute(_MS.format("created_at"), "time"),
    "updatedAt": Attribute(_MS.format("updated_at"), "time"),
    "targetUrl": Attribute(MASKED_URL_SQL, "text"),
    "status": Attribute("status", "text"),
}
SORTABLE: dict[str, str] = {
    "id": "id",
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "targetUrl": MASKED_URL_SQL,
    "status": "status",
    "version": "version",
}
_COMPARE = {"eq": "=", "not_eq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_TEXT_ONLY = {
    "prefix": "starts_with({col}, {p})",
    "suffix": "right({col}, char_length({p})) = {p}",
}
OPERATORS = (*_COMPARE, *_TEXT_ONLY)
DEFAULT_SORTING = "-createdAt"
_FILTER = re.compile(r"^filter\[([^\[\]]*)\]\[([^\[\]]*)\]$")
# Parameters other APIs use for the same thing: a hint beats silently ignoring them.
_ALIASES = {
    "sort": "sorting",
    "page": "from and count",
    "size": "count",
    "page[number]": "from and count",
    "page[size]": "count",
}


@dataclass(frozen=True)
class Condition:
    sql: str  # contains PARAM once or more, nothing a client sent
    value: Any


@dataclass(frozen=True)
class ListQuery:
    offset: int = 0
    count: int = DEFAULT_COUNT
    order: str = "created_at DESC, id DESC"
    conditions: tuple[Condition, ...] = ()
    fields: FieldSelection | None = None


class _Problems(dict[str, str]):
    def raise_any(self) -> None:
        if self:
            raise Unprocessable.fields(dict(self))


def parse_list_query(query: Mapping[str, str] | Sequence[tuple[str, str]]) -> ListQuery:
    """``query`` is the request's query string as pairs (a repeated name appears twice)."""
    pairs = list(query.items()) if isinstance(query, Mapping) else list(query)
    problems = _Problems()
    single = _singles(pairs, problems)
    offset = _int(single, "from", 0, MAX_FROM, problems)
    count = _int(single, "count", DEFAULT_COUNT, MAX_COUNT, problems)
    order = parse_sorting(single.get("sorting") or DEFAULT_SORTING, problems)
    selection = parse_response_fields(single.get("fields"), problems)
    conditions = [*_plain_filters(single, problems), *_operator_filters(pairs, problems)]
    problems.raise_any()
    return ListQuery(offset, count, order, tuple(conditions), selection)


def parse_response_fields(
    text: str | None, problems: dict[str, str] | None = None
) -> FieldSelection | None:
    """The ``fields`` query parameter, in the grammar of ``hookline.core.fields``."""
    try:
        return parse_fields(text)
    except FieldsSyntaxError as exc:
        message = f"{exc.message} at position {exc.position}"
        if problems is None:
            raise Unprocessable.fields({"fields": message}) from exc
        problems["fields"] = message
        return None


def parse_sorting(text: str, problems: dict[str, str]) -> str:
    """``-createdAt,id`` to an ORDER BY list; ``id`` breaks ties so pages are stable."""
    try:
        return order_by(text, SORTABLE, tie="id DESC")
    except UnknownSort as exc:
        problems["sorting"] = (
            f"cannot sort by {exc.name!r}: use {', '.join(SORTABLE)}, each optionally"
            " prefixed by '-' for descending"
        )
        return ""


class UnknownSort(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def order_by(text: str, sortable: Mapping[str, str], *, tie: str, lenient: bool = True) -> str:
    """A sort parameter (``-a,b``: comma-separated names, ``-`` for descending) as an
    ORDER BY list of ``sortable``'s SQL only; a column asked twice counts once, and
    ``tie`` (on ``id``) ends it unless ``id`` is in it. ``lenient``: any run of ``+``
    and ``-`` may lead a name (the native and ShareActor's lists); else one ``-`` only
    (Booqable's). Raises ``UnknownSort`` naming the first name ``sortable`` lacks."""
    terms: list[str] = []
    seen: set[str] = set()
    for raw in text.split(","):
        item = raw.strip()
        name = item.lstrip("+-").strip() if lenient else item.removeprefix("-")
        if name not in sortable:
            raise UnknownSort(name)
        if sortable[name] not in seen:
            seen.add(sortable[name])
            terms.append(f"{sortable[name]} {'DESC' if item.startswith('-') else 'ASC'}")
    if "id" not in seen:
        terms.append(tie)
    return ", ".join(terms)


def _singles(pairs: list[tuple[str, str]], problems: _Problems) -> dict[str, str]:
    single: dict[str, str] = {}
    for name, value in pairs:
        if name in _ALIASES:
            problems[name] = f"Hookline's name for {name!r} is {_ALIASES[name]}"
        elif not _FILTER.match(name) and name in single:
            problems[name] = f"give {name} once"
        else:
            single.setdefault(name, value)
    return single


_WHOLE = re.compile(r"\s*[+-]?[0-9]+\s*")  # int() also takes 1_0 and other scripts' digits


def whole_number(raw: str, name: str, default: int, low: int, high: int) -> int:
    """The query parameter ``name`` as a whole number from ``low`` to ``high`` in ASCII
    digits, ``default`` if empty; else ``ValueError`` with a message that names it.
    Shared by the native lists and the dialects' (``page``, ``size``, ``page[size]``)."""
    if raw == "":
        return default
    if not _WHOLE.fullmatch(raw):
        raise ValueError(f"{name} must be a whole number")
    value = int(raw)
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}")
    return value


def _int(single: dict[str, str], name: str, default: int, high: int, problems: _Problems) -> int:
    try:
        return whole_number(single.get(name, ""), name, default, 0, high)
    except ValueError as exc:
        problems[name] = str(exc)
        return default


def _plain_filters(single: dict[str, str], problems: _Problems) -> list[Condition]:
    found: list[Condition] = []
    if "event" in single:
        value = _text(single["event"], "event", problems)
        found.append(Condition(f"{PARAM} = ANY(events)", value))
    for name in ("status", "targetUrl"):
        if name in single:
            value = _text(single[name], name, problems)
            found.append(Condition(f"{ATTRIBUTES[name].sql} = {PARAM}", value))
    return found


def _operator_filters(pairs: list[tuple[str, str]], problems: _Problems) -> list[Condition]:
    found: list[Condition] = []
    for name, raw in pairs:
        match = _FILTER.match(name)
        if match is None:
            if name.startswith("filter"):
                problems[name] = "filters look like filter[attribute][operator]=value"
            continue
        condition = _operator_filter(name, match.group(1), match.group(2), raw, problems)
        if condition is not None:
            found.append(condition)
    return found


def _operator_filter(
    name: str, attr: str, op: str, raw: str, problems: _Problems
) -> Condition | None:
    attribute = ATTRIBUTES.get(attr)
    if attribute is None:
        problems[name] = f"cannot filter on {attr!r}: use {', '.join(ATTRIBUTES)}"
        return None
    if op in _COMPARE:
        sql = f"{attribute.sql} {_COMPARE[op]} {PARAM}"
    elif op in _TEXT_ONLY and attribute.kind == "text":
        sql = _TEXT_ONLY[op].format(col=attribute.sql, p=PARAM)
    else:
        allowed = OPERATORS if attribute.kind == "text" else tuple(_COMPARE)
        problems[name] = f"{attr} takes the operators {', '.join(allowed)}, not {op!r}"
        return None
    value = _value(attribute.kind, raw, name, problems)
    return None if value is None else Condition(sql, value)


def _value(kind: str, raw: str, name: str, problems: _Problems) -> Any:
    if kind == "int":
        if not _WHOLE.fullmatch(raw):
            problems[name] = f"{name} must be a whole number"
            return None
        value = int(raw)
        if not -(2**63) <= value < 2**63:
            problems[name] = f"{name} is out of range"
            return None
        return value
    if kind == "time":
        return _time(raw, name, problems)
    return _text(raw, name, problems)


def _time(raw: str, name: str, problems: _Problems) -> datetime | None:
    try:
        value = datetime.fromisoformat(raw.strip())
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 with a positive offset
        problems[name] = f"{name} must be an ISO 8601 time such as 2024-05-01T12:00:00.000Z"
        return None


def _text(raw: str, name: str, problems: _Problems) -> str | None:
    if "\x00" in raw:
        problems[name] = f"{name} cannot contain a NUL character"
        return None
    return raw
