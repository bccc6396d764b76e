"""Tripletex API2 ``fields`` expressions: parse them and project JSON values with them.

Grammar (EBNF; whitespace, as in ``str.isspace``, is allowed around every token)::

    fields = item , { "," , item } ;
    item   = "*" | name , [ "(" , fields , ")" ] ;
    name   = ( letter | "_" ) , { letter | digit | "_" } ;     (* ASCII only *)

``*`` keeps every field of an object; ``name`` keeps one field and ``name(...)``
expands it with a nested expression. A nested object (or array of objects) that is
kept but not expanded is reduced to its reference: ``id`` and ``url`` where present,
else ``{}``. Arrays are projected element by element; scalars and ``null`` pass
through. An empty or missing expression keeps the whole value. ``a(x),a(y)`` means
``a(x,y)``, and an expansion absorbs a plain name (``a,a(x)`` means ``a(x)``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from hookline.core.types import JSON

__all__ = [
    "JSON",
    "MAX_NESTING",
    "FieldSelection",
    "FieldsSyntaxError",
    "format_fields",
    "parse_fields",
    "project",
]

MAX_NESTING = 32
"""How deep ``(...)`` groups may nest; deeper input is a syntax error."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REFERENCE_KEYS = ("id", "url")


class FieldsSyntaxError(ValueError):
    """A ``fields`` expression is malformed; ``position`` is a 0-based index into it."""

    position: int
    message: str

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"fields: {message} at position {position}")
        self.message = message
        self.position = position

    def __reduce__(self) -> tuple[type[FieldsSyntaxError], tuple[str, int]]:
        return type(self), (self.message, self.position)


@dataclass(frozen=True)
class FieldSelection:
    """One level of a parsed expression.

    ``star`` is ``*``; ``children`` maps each named field to its expansion, or to
    ``None`` for a plain name. ``children`` is a read-only copy of what was passed in;
    a selection must select something (``star`` or at least one child).
    """

    star: bool
    children: Mapping[str, FieldSelection | None]

    def __post_init__(self) -> None:
        if not self.star and not self.children:
            raise ValueError("a FieldSelection must have star or at least one child")
        for name in self.children:
            if _NAME.fullmatch(name) is None:
                raise ValueError(f"not a field name: {name!r}")
        object.__setattr__(self, "children", MappingProxyType(dict(self.children)))

    def __hash__(self) -> int:
        return hash((self.star, frozenset(self.children.items())))


def parse_fields(text: str | None) -> FieldSelection | None:
    """Parse ``text``; ``None`` means "everything" (``text`` is None, empty or blank).

    Results are cached, so parsing the same string again is a dictionary lookup.
    Raises FieldsSyntaxError on malformed input.
    """
    if text is None:
        return None
    return _parse_cached(text)


@functools.lru_cache(maxsize=4096)
def _parse_cached(text: str) -> FieldSelection | None:
    if not text.strip():
        return None
    return _Parser(text).parse()


def format_fields(selection: FieldSelection) -> str:
    """The canonical text of ``selection``: ``*`` first, then names in sorted order."""
    parts = ["*"] if selection.star else []
    for name in sorted(selection.children):
        sub = selection.children[name]
        parts.append(name if sub is None else f"{name}({format_fields(sub)})")
    return ",".join(parts)


def project(value: JSON, selection: FieldSelection | None) -> JSON:
    """Keep the parts of ``value`` that ``selection`` selects.

    Never mutates ``value``; the result may share unchanged parts (scalars, arrays of
    scalars, reference ids, or all of ``value`` when ``selection`` is None) with it,
    so treat both as read-only. Output objects keep the input's key order.
    """
    if selection is None:
        return value
    return _project(value, selection)


def _project(value: JSON, selection: FieldSelection) -> JSON:
    if isinstance(value, dict):
        return _project_object(value, selection)
    if isinstance(value, list):
        return [_project(item, selection) for item in value]
    return value


def _project_object(obj: dict[str, JSON], selection: FieldSelection) -> dict[str, JSON]:
    children = selection.children
    star = selection.star
    out: dict[str, JSON] = {}
    for key, item in obj.items():
        if key in children:
            sub = children[key]
            out[key] = _reduce(item) if sub is None else _project(item, sub)
        elif star:
            out[key] = _reduce(item)
    return out


def _reduce(value: JSON) -> JSON:
    """A kept-but-not-expanded value: objects become references, scalars stay."""
    if isinstance(value, dict):
        return {key: value[key] for key in _REFERENCE_KEYS if key in value}
    if isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        return [_reduce(item) for item in value]
    return value


def _merge(a: FieldSelection | None, b: FieldSelection | None) -> FieldSelection | None:
    """Combine two selections of the same field; an expansion absorbs a plain name."""
    if a is None:
        return b
    if b is None:
        return a
    children = dict(a.children)
    for name, sub in b.children.items():
        children[name] = _merge(children[name], sub) if name in children else sub
    return FieldSelection(a.star or b.star, children)


class _Parser:
    """Recursive descent over one expression; ``pos`` indexes the original text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> FieldSelection:
        selection = self._items(depth=0)
        char = self._peek()
        if char == ")":
            raise FieldsSyntaxError("unmatched ')'", self.pos)
        if char:
            raise FieldsSyntaxError("expected ',' or end of input", self.pos)
        return selection

    def _items(self, depth: int) -> FieldSelection:
        """``item {"," item}``; stops, after whitespace, at the first other character."""
        star = False
        children: dict[str, FieldSelection | None] = {}
        while True:
            item = self._item(depth)
            if item is None:
                star = True
            else:
                name, sub = item
                children[name] = _merge(children[name], sub) if name in children else sub
            if self._peek() != ",":
                return FieldSelection(star, children)
            self.pos += 1

    def _item(self, depth: int) -> tuple[str, FieldSelection | None] | None:
        """One item; None for ``*``. Leaves ``pos`` after trailing whitespace."""
        if self._peek() == "*":
            self.pos += 1
            if self._peek() == "(":
                raise FieldsSyntaxError("'*' cannot be expanded", self.pos)
            return None
        match = _NAME.match(self.text, self.pos)
        if match is None:
            raise FieldsSyntaxError("expected a field name", self.pos)
        self.pos = match.end()
        if self._peek() != "(":
            return match.group(), None
        return match.group(), self._group(depth + 1)

    def _group(self, depth: int) -> FieldSelection:
        """``"(" fields ")"``, with ``pos`` at the ``(``."""
        opening = self.pos
        if depth > MAX_NESTING:
            raise FieldsSyntaxError(f"nested deeper than {MAX_NESTING} levels", opening)
        self.pos += 1
        selection = self._items(depth)
        char = self._peek()
        if char == ")":
            self.pos += 1
            return selection
        if not char:
            raise FieldsSyntaxError("unclosed '('", opening)
        raise FieldsSyntaxError("expected ',' or ')'", self.pos)

    def _peek(self) -> str:
        """Skip whitespace and return the next character, or "" at the end."""
        text = self.text
        pos = self.pos
        while pos < len(text) and text[pos].isspace():
            pos += 1
        self.pos = pos
        return text[pos] if pos < len(text) else ""
