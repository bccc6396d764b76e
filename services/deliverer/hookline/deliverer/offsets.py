"""Which offsets a consumer may commit while it works on many messages at once.

A partition's offset is committed only up to its lowest unfinished message: if
offsets 5, 6 and 7 are in flight and 6 and 7 finish, nothing past 5 is committed
until 5 finishes too. A crash then redoes 5, 6 and 7 (at least once) and never
skips one.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

P = TypeVar("P", bound=Hashable)


@dataclass
class _Partition:
    in_flight: set[int] = field(default_factory=set)
    highest_done: int = -1
    committed: int = -1  # the next offset to read, as last reported by committable()


class OffsetTracker(Generic[P]):
    def __init__(self) -> None:
        self._parts: dict[P, _Partition] = {}

    def started(self, partition: P, offset: int) -> None:
        self._parts.setdefault(partition, _Partition()).in_flight.add(offset)

    def finished(self, partition: P, offset: int) -> None:
        """``offset`` is done. One not in flight (its partition was revoked and
        forgotten meanwhile) is ignored: it must not move a later owner's position."""
        part = self._parts.get(partition)
        if part is None or offset not in part.in_flight:
            return
        part.in_flight.discard(offset)
        part.highest_done = max(part.highest_done, offset)

    def in_flight(self, partition: P | None = None) -> int:
        if partition is not None:
            part = self._parts.get(partition)
            return len(part.in_flight) if part else 0
        return sum(len(p.in_flight) for p in self._parts.values())

    def committable(self) -> dict[P, int]:
        """Per partition, the next offset to read, where it moved since the last commit."""
        found: dict[P, int] = {}
        for key, part in self._parts.items():
            nxt = min(part.in_flight) if part.in_flight else part.highest_done + 1
            if nxt > part.committed and nxt > 0:
                found[key] = nxt
        return found

    def committed(self, offsets: dict[P, int]) -> None:
        """Record a successful commit of ``offsets``."""
        for key, nxt in offsets.items():
            if key in self._parts:
                self._parts[key].committed = max(self._parts[key].committed, nxt)

    def forget(self, partition: P) -> None:
        self._parts.pop(partition, None)
