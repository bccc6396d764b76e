"""What a value must be so that every format encodes it and PostgreSQL stores it: pure.

``orjson`` reads JSON nested up to 1,024 levels but writes at most 254, and every
message wraps a published ``value`` in a few more (``Event``; a batch ``Delivery``
and its body add three). PostgreSQL's ``text`` and ``jsonb`` refuse U+0000 (NUL),
which JSON can carry as ``\\u0000``; it is the one character a decoded JSON string
can hold that PostgreSQL refuses (orjson already refuses invalid UTF-8 and lone
surrogates). So an accepted value:

- nests at most ``MAX_DEPTH`` objects and lists (``{}`` is one level);
- holds no NUL in any string or object key;
- has object keys of at most ``MAX_KEY`` characters;
- and the event that carries it encodes to at most ``MAX_EVENT_BYTES``.

``find_problem`` is one pass over the value that stops at the first problem and
says where it is (``value.items[3].name``), for a 422 that names the field. It
costs a type check per item: about what ``orjson.loads`` spent on the value, or
twice that.
"""

from __future__ import annotations

import re
from typing import Any

MAX_DEPTH = 64
MAX_KEY = 256
# An event, encoded, at most: under the broker's and the producer's default 1 MiB, with
# room for the headers and a message around it. The API's publish and the sources both
# refuse a larger one, each saying so.
MAX_EVENT_BYTES = 1_000_000
NUL = "\x00"
_MAX_SHOWN = 200  # a hostile path is cut to this many characters in the message
_TOO_DEEP = "too deep"  # the message is made where the limit is known
_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")


class _Found(Exception):
    """Raised at the problem and carried out through the levels, which add their step."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.steps: list[str | int] = []


def find_problem(value: Any, where: str, *, max_depth: int = MAX_DEPTH) -> tuple[str, str] | None:
    """``(path, message)`` of the first limit ``value`` (found at ``where``) breaks, or
    None. ``max_depth`` counts ``value`` itself as the first level."""
    kind = type(value)
    try:
        if kind is str:
            _check_string(value)
        elif kind is dict or kind is list:
            _walk(value, max_depth)
    except _Found as found:
        path = where + "".join(_step(s) for s in reversed(found.steps))
        if len(path) > _MAX_SHOWN:
            path = path[:_MAX_SHOWN] + "…"
        message = found.message
        if message is _TOO_DEEP:
            message = f"nests objects and lists more than {max_depth} levels deep"
        return path.lstrip("."), message
    return None


def _walk(container: dict[str, Any] | list[Any], room: int) -> None:
    if isinstance(container, dict):
        _walk_object(container, room)
    else:
        _walk_list(container, room)


# The hot loops: each item costs a type check, inlined (a call per item doubled it).
def _walk_object(container: dict[str, Any], room: int) -> None:
    if room <= 0:
        raise _Found(_TOO_DEEP)
    for key, item in container.items():
        if len(key) > MAX_KEY or NUL in key:
            _check_key(key)
        kind = type(item)
        if kind is str:
            if NUL in item:
                _raise_at(key, _check_string, item)
        elif kind is dict or kind is list:
            try:
                _walk(item, room - 1)
            except _Found as found:
                found.steps.append(key)
                raise


def _walk_list(container: list[Any], room: int) -> None:
    if room <= 0:
        raise _Found(_TOO_DEEP)
    for n, item in enumerate(container):
        kind = type(item)
        if kind is str:
            if NUL in item:
                _raise_at(n, _check_string, item)
        elif kind is dict or kind is list:
            try:
                _walk(item, room - 1)
            except _Found as found:
                found.steps.append(n)
                raise


def _check_key(key: str) -> None:
    if len(key) > MAX_KEY:
        raise _Found(f"has a key longer than {MAX_KEY} characters: {key[:40]!r}…")
    raise _Found(f"has a key with a NUL character (\\u0000): {key[:40]!r}")


def _raise_at(step: str | int, check: Any, item: Any) -> None:
    try:
        check(item)
    except _Found as found:
        found.steps.append(step)
        raise


def _check_string(text: str) -> None:
    if NUL in text:
        raise _Found("holds a NUL character (\\u0000), which PostgreSQL cannot store")


def _step(step: str | int) -> str:
    if isinstance(step, int):
        return f"[{step}]"
    if len(step) <= 40 and _NAME.fullmatch(step):
        return f".{step}"
    shown = repr(step[:40] + ("…" if len(step) > 40 else ""))
    return f"[{shown}]"
