"""Rate limits at the API: a tenant's requests, and requests whose key is not valid.

Each tenant has a token bucket in each API process: ``HOOKLINE_API_BURST`` requests at
once, refilled at ``HOOKLINE_API_RATE`` a second, shared by all of the tenant's keys
(a second key, issued for a rotation, does not double it). A request over it is
answered 429 with ``Retry-After``, the whole seconds until a token is back, before its
view runs. The bucket is charged only once the key is known to be valid, so a stranger
cannot spend a tenant's budget, nor grow the table by sending made-up keys: those are
charged to the caller's address instead (an IPv6 address by its /64, what one host is
usually given), at ``HOOKLINE_API_AUTH_FAILURE_RATE``: past it, 429. Each such key is
still looked up once (one indexed read): refusing an address before the look-up would
also refuse every new valid key behind the same proxy while a stranger sprays keys
from it. ShareActor's paths take its key from ``X-Share-Api-Key``, as their views do.
The admin token is not limited: it is the operator's, who needs it most when a tenant
is flooding the API.

The buckets are a few lines rather than the ``limits`` package: its in-memory storage
scans every key it holds on the event loop after nearly each hit (1 ms a request with
50,000 addresses held, against 17 us with one), and its strategies are windows, not a
rate with a burst. A table holds at most ``MAX_KEYS`` buckets; past it, the fullest
half is dropped (a bucket that has refilled would start full anyway).
"""

from __future__ import annotations

import heapq
import hmac
import ipaddress
import math
import time
from dataclasses import dataclass, field

from aiohttp import web

from hookline.api.http.auth import CHECKED, credential, plain_key, tenant_of_key
from hookline.api.http.context import CONTEXT
from hookline.api.http.errors import ApiError, Handler, Unauthorized, unavailable_of
from hookline.core.config import Settings

MAX_KEYS = 100_000
# ShareActor's dialect takes the key in a header of its own (dialects/shareactor.py).
SHAREACTOR_PATHS = ("/webhooks",)
SHAREACTOR_KEY = "X-Share-Api-Key"


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, wait_s: float) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after(wait_s))}


def retry_after(wait_s: float) -> int:
    """Pure: ``Retry-After`` in whole seconds, never 0 (a client would send again at once)."""
    return max(1, math.ceil(wait_s))


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


@dataclass
class TokenBuckets:
    """One token bucket per key (pure: the caller passes the time)."""

    burst: int
    rate: float
    max_keys: int = MAX_KEYS
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def take(self, key: str, now: float) -> float:
        """0.0 and a token taken if ``key`` has one now; else the seconds until it has
        one (nothing taken)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._forget(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        refill = max(0.0, now - bucket.at) * self.rate
        bucket.tokens = min(float(self.burst), bucket.tokens + refill)
        bucket.at = now
        if bucket.tokens < 1.0:
            return (1.0 - bucket.tokens) / self.rate
        bucket.tokens -= 1.0
        return 0.0

    def __len__(self) -> int:
        return len(self._buckets)

    def _forget(self, now: float) -> None:
        """Down to half the table, keeping the emptiest buckets (those being limited):
        the ones forgotten would be full, or nearly, when next used. Amortized O(log n)
        a new key, as each pass makes room for ``max_keys / 2`` of them."""

        def fill(item: tuple[str, _Bucket]) -> float:
            return item[1].tokens + (now - item[1].at) * self.rate

        kept = heapq.nsmallest(self.max_keys // 2, self._buckets.items(), key=fill)
        self._buckets = dict(kept)


def address_key(remote: str | None) -> str:
    """Pure: who a failed authentication is charged to: the IPv4 address, or the /64 of
    an IPv6 one (an address that does not parse stands for itself)."""
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return remote or "unknown"
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, 64), strict=False))


@dataclass
class Limiter:
    settings: Settings
    tenants: TokenBuckets
    addresses: TokenBuckets

    @classmethod
    def of(cls, settings: Settings) -> Limiter:
        failures = settings.api_auth_failure_rate
        return cls(
            settings,
            TokenBuckets(settings.api_burst, settings.api_rate),
            TokenBuckets(max(1, math.ceil(2 * failures)), failures),
        )

    def charge_tenant(self, tenant: int, now: float) -> None:
        wait = self.tenants.take(str(tenant), now)
        if wait:
            s = self.settings
            raise RateLimited(
                f"this tenant sent more than {s.api_rate:g} requests a second (at most"
                f" {s.api_burst} at once): send again after Retry-After seconds, or publish"
                " events in lists (up to 1,000 a call)",
                wait,
            )

    def charge_address(self, remote: str | None, now: float) -> None:
        wait = self.addresses.take(address_key(remote), now)
        if wait:
            raise RateLimited(
                "too many requests with an API key that is not valid from this address:"
                " check the key, and send again after Retry-After seconds",
                wait,
            )


LIMITER: web.AppKey[Limiter] = web.AppKey("ratelimit", Limiter)


@web.middleware
async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Charges a request with a tenant's key to its tenant, and one with a key that is
    not valid to its address, before the view. Requests without a key, and the admin
    token's, pass: a view that needs a key answers them 401 without the database."""
    limiter = request.app.get(LIMITER)
    key = _key(request)
    if limiter is None or key is None or _is_admin(limiter.settings, key):
        return await handler(request)
    try:
        tenant = await tenant_of_key(request.app[CONTEXT].pool, key)
    except Unauthorized:
        limiter.charge_address(request.remote, time.monotonic())
        return await handler(request)
    except Exception as exc:
        if unavailable_of(exc) is None:
            raise
        # PostgreSQL is out of reach: the view answers, 503 if it needs the key; a path
        # that does not (/healthz, /metrics scraped with a token) still answers.
        return await handler(request)
    limiter.charge_tenant(tenant.id, time.monotonic())
    request[CHECKED] = (key, tenant)
    return await handler(request)


def _key(request: web.Request) -> str | None:
    """The key the view will use: ShareActor's header on its paths, else Authorization."""
    try:
        if request.path.startswith(SHAREACTOR_PATHS) and SHAREACTOR_KEY in request.headers:
            return plain_key(request.headers[SHAREACTOR_KEY].strip()) or None
        return credential(request)
    except Unauthorized:
        return None


def _is_admin(settings: Settings, key: str) -> bool:
    token = settings.admin_token
    return bool(token) and hmac.compare_digest(key.encode(), token.encode())
