"""A circuit breaker for one endpoint (host:port): pure, the caller passes the time in.

    closed ──(threshold failures in a row)──▶ open ──(cooldown over)──▶ half-open
      ▲                                        ▲                           │
      └──────────── the probe succeeds ────────┴──── the probe fails ──────┘

While the circuit is open, deliveries to the endpoint are put off without a
request; once the cooldown is over one request goes through as a probe, and the
others stay put off until it answers. Any answer that shows the endpoint is up
closes the circuit, including one that was already in flight when it opened.

Only answers that say the endpoint itself is down count: no answer at all
(timeout, refused, reset) and 502, 503, 504. A 500 or a 404 comes from a running
application, which the other subscriptions on that host may well be fine with.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from urllib.parse import urlsplit

DOWN_STATUSES = frozenset({502, 503, 504})


class Admission(enum.Enum):
    SEND = "send"
    """The circuit is closed: make the request."""
    PROBE = "probe"
    """The circuit was open and its cooldown is over: this request tests the endpoint."""
    DEFER = "defer"
    """The circuit is open: put the delivery off without a request."""


@functools.lru_cache(maxsize=4096)  # pure, and asked once per request
def endpoint_of(url: str) -> str:
    """``host:port`` of a target URL, the unit the breaker and the concurrency limit work on."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = (parts.hostname or "").lower()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def shows_endpoint_down(status: int | None, sent: bool = True) -> bool:
    """Whether one answer counts against the endpoint. ``sent`` is False for a request
    that was never made (a refused target address), which says nothing about it."""
    if status is None:
        return sent
    return status in DOWN_STATUSES


@dataclass
class Breaker:
    threshold: int
    cooldown_s: float
    failures: int = 0
    open_until: float | None = None
    probing: bool = False

    @property
    def is_open(self) -> bool:
        return self.open_until is not None

    def admit(self, now: float) -> Admission:
        if self.open_until is None:
            return Admission.SEND
        if now >= self.open_until and not self.probing:
            self.probing = True
            return Admission.PROBE
        return Admission.DEFER

    def record(self, now: float, *, down: bool, probe: bool = False) -> None:
        """The answer to a request this breaker admitted."""
        if probe:
            self.probing = False
        if not down:
            self.failures = 0
            self.open_until = None
            return
        self.failures += 1
        if probe or self.failures >= self.threshold:
            self.open_until = now + self.cooldown_s

    def abandon_probe(self) -> None:
        """The probe ended without an answer to judge (cancelled): let another one go."""
        self.probing = False

    def wait_s(self, now: float) -> float:
        """How long until a probe may go: how long a deferred delivery should wait."""
        if self.open_until is None:
            return 0.0
        return max(self.open_until - now, 0.0)

    @property
    def idle(self) -> bool:
        """Nothing worth remembering: closed and no failures."""
        return self.open_until is None and self.failures == 0 and not self.probing
