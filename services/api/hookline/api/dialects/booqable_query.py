"""Booqable's list parameters (seeds/004), parsed into a ``ListQuery``: pure.

``fields[webhook_endpoints]=created_at,url``, ``filter[attribute][operator]=value``,
``sort=attribute1,-attribute2``, ``page[number]`` (from 1) and ``page[size]``
(default ``DEFAULT_SIZE``, at most ``MAX_SIZE``), ``meta[total][]=count``.

Filters, with Graphiti's meanings (the library Booqable's API is built on):

- ``created_at``, ``updated_at``: ``eq``, ``not_eq``, ``gt``, ``gte``, ``lt``, ``lte``
  (ISO 8601).
- ``id``: ``eq``, ``not_eq`` (a UUID).
- ``url``: ``eq`` (ignoring case), ``eql`` (exact), ``prefix``, ``suffix``, ``match``
  (contains; these three ignoring case), and the ``not_`` of each.

A value is taken whole (a URL may hold commas). ``url`` is matched and sorted on its
masked form, the text answers show. The SQL holds only the constants below; every
value goes in a ``Condition`` as a bind parameter. Problems raise ``BadRequest``
naming the parameter (Graphiti answers 400 to a bad query).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from hookline.api.http.errors import BadRequest
from hookline.api.http.listing import (
    MAX_FROM,
    PARAM,
    Condition,
    ListQuery,
    UnknownSort,
    order_by,
    whole_number,
)
from hookline.api.http.present import MASKED_URL_SQL
from hookline.core.dialect_ids import decode_booqable_id

TYPE = "webhook_endpoints"
ATTRIBUTES = ("created_at", "updated_at", "url", "events")
DEFAULT_SIZE = 20
MAX_SIZE = 1000
SORTABLE = {
    "id": "id",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "url": MASKED_URL_SQL,
}
DEFAULT_ORDER = "created_at ASC, id ASC"

_COMPARE = {"eq": "=", "not_eq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_URL = f"lower({MASKED_URL_SQL})"
_TEXT = {
    "eq": f"{_URL} = lower({PARAM})",
    "eql": f"{MASKED_URL_SQL} = {PARAM}",
    "prefix": f"starts_with({_URL}, lower({PARAM}))",
    "suffix": f"right({_URL}, char_length({PARAM})) = lower({PARAM})",
    "match": f"strpos({_URL}, lower({PARAM})) > 0",
}
TEXT_OPERATORS = tuple(op for base in _TEXT for op in (base, f"not_{base}"))
TIME_OPERATORS = tuple(_COMPARE)
ID_OPERATORS = ("eq", "not_eq")
OPERATORS = {
    "created_at": TIME_OPERATORS,
    "updated_at": TIME_OPERATORS,
    "id": ID_OPERATORS,
    "url": TEXT_OPERATORS,
}
_FILTER = re.compile(r"^filter\[([^\[\]]*)\]\[([^\[\]]*)\]$")
_FIELDS = re.compile(r"^fields\[([^\[\]]*)\]$")


@dataclass(frozen=True)
class Query:
    list: ListQuery
    fields: frozenset[str] | None = None
    total: bool = False


def bad(parameter: str, message: str) -> BadRequest:
    return BadRequest(message, details=[{"field": parameter, "message": message}])


def parse_fields(pairs: Sequence[tuple[str, str]]) -> frozenset[str] | None:
    """``fields[webhook_endpoints]=…``: the attributes to answer with (None: all)."""
    chosen: frozenset[str] | None = None
    for name, value in pairs:
        match = _FIELDS.match(name)
        if match is None:
            continue
        if match.group(1) != TYPE:
            raise bad(name, f"there are no {match.group(1)[:100]!r} here: use fields[{TYPE}]")
        names = [n.strip() for n in value.split(",") if n.strip()]
        unknown = [n for n in names if n not in ATTRIBUTES and n != "id"]
        if unknown:
            raise bad(name, f"unknown field {unknown[0][:100]!r}: use {', '.join(ATTRIBUTES)}")
        chosen = frozenset(names)
    return chosen


def parse(pairs: Sequence[tuple[str, str]]) -> Query:
    conditions: list[Condition] = []
    single: dict[str, str] = {}
    for name, value in pairs:
        if (match := _FILTER.match(name)) is not None:
            conditions.append(_filter(name, match.group(1), match.group(2), value))
        elif name == "include":
            raise bad(name, "this request does not accept any includes")
        elif name in ("sort", "page[number]", "page[size]", "meta[total][]") or _FIELDS.match(name):
            single.setdefault(name, value)
        else:
            raise bad(name, f"unknown parameter {name[:100]!r}")
    if single.get("meta[total][]", "count") != "count":
        raise bad("meta[total][]", "meta[total][] takes count")
    number = _whole(single, "page[number]", 1, 1, MAX_FROM)
    size = _whole(single, "page[size]", DEFAULT_SIZE, 1, MAX_SIZE)
    if (number - 1) * size > MAX_FROM:
        raise bad(
            "page[number]",
            f"page[number] is too far: (page[number] - 1) * page[size] must be at most {MAX_FROM}",
        )
    order = parse_sort(single["sort"]) if single.get("sort") else DEFAULT_ORDER
    listing = ListQuery(
        offset=(number - 1) * size, count=size, order=order, conditions=tuple(conditions)
    )
    return Query(listing, parse_fields(pairs), "meta[total][]" in single)


def parse_sort(text: str) -> str:
    try:
        return order_by(text, SORTABLE, tie="id ASC", lenient=False)
    except UnknownSort as exc:
        raise bad("sort", f"cannot sort by {exc.name[:100]!r}: use {', '.join(SORTABLE)}") from None


def _whole(single: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    try:
        return whole_number(single.get(name, ""), name, default, low, high)
    except ValueError as exc:
        raise bad(name, str(exc)) from None


def _filter(name: str, attr: str, op: str, raw: str) -> Condition:
    allowed = OPERATORS.get(attr)
    if allowed is None:
        raise bad(name, f"cannot filter on {attr[:100]!r}: use {', '.join(OPERATORS)}")
    if op not in allowed:
        raise bad(name, f"{attr} takes the operators {', '.join(allowed)}, not {op[:100]!r}")
    if "\x00" in raw:
        raise bad(name, f"{name} cannot contain a NUL character")
    if attr == "id":
        return _id_filter(name, op, raw)
    if attr == "url":
        negate = op.startswith("not_")
        sql = _TEXT[op.removeprefix("not_")]
        return Condition(f"NOT ({sql})" if negate else sql, raw)
    return Condition(f"{attr} {_COMPARE[op]} {PARAM}", _time(name, raw))


def _id_filter(name: str, op: str, raw: str) -> Condition:
    try:
        text = str(uuid.UUID(raw.strip()))
    except ValueError:
        raise bad(name, f"{name} must be a UUID") from None
    found = decode_booqable_id(text)
    return Condition(f"id {_COMPARE[op]} {PARAM}", -1 if found is None else found)


def _time(name: str, raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.strip())
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise bad(
            name, f"{name} must be an ISO 8601 time such as 2020-05-19T04:30:06+00:00"
        ) from None
