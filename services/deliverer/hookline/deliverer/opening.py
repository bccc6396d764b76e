"""The subscription's secrets in clear, for the request only (``hookline.core.sealed``).

The subscriptions the deliverer follows stay sealed in memory as on the topic; a
delivery's subscription is opened when its request is made. Opened records are kept
by (id, version), which a change always raises, so a subscription is opened once per
version rather than once per delivery (the cache is bounded: full, it starts again).
"""

from __future__ import annotations

from hookline.core.keyring import Keyring, SecretsError
from hookline.core.messages import SubscriptionRecord
from hookline.core.sealed import open_record

MAX_KEPT = 10_000


class Opener:
    def __init__(self, keyring: Keyring, max_kept: int = MAX_KEPT) -> None:
        self._keyring = keyring
        self._max_kept = max_kept
        self._opened: dict[tuple[int, int], SubscriptionRecord] = {}

    def open(self, sub: SubscriptionRecord) -> SubscriptionRecord | str:
        """The record in clear, or why it does not open (a key missing here)."""
        key = (sub.id, sub.version)
        found = self._opened.get(key)
        if found is not None:
            return found
        try:
            opened = open_record(sub, self._keyring)
        except SecretsError as exc:
            return f"the subscription's secrets do not open: {exc}"
        if len(self._opened) >= self._max_kept:
            self._opened.clear()
        self._opened[key] = opened
        return opened
