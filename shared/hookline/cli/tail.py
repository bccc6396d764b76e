"""``hookline tail``: follow delivery attempts as they happen, from ``hookline.attempts``.

It reads the topic outside any consumer group, from its end, so it never takes
work or offsets away from anyone. Filters and the line format are pure functions.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from aiokafka.errors import KafkaError

from hookline.cli.config import CliError
from hookline.core import kafka, topics
from hookline.core.config import Settings
from hookline.core.errors import KafkaUnavailable
from hookline.core.messages import Attempt, MessageError


@dataclass(frozen=True)
class Filter:
    tenant: int | None = None
    subscription: int | None = None
    event: str | None = None
    failures_only: bool = False

    def wants(self, a: Attempt) -> bool:
        return (
            (self.tenant is None or a.tenant == self.tenant)
            and (self.subscription is None or a.subscription_id == self.subscription)
            and (self.event is None or a.event == self.event)
            and not (self.failures_only and a.outcome.upper() == "SUCCESS")
        )


def line_of(a: Attempt) -> str:
    """One attempt as one line: when, outcome, HTTP status, latency, whose, which."""
    at = datetime.fromtimestamp(a.at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    status = str(a.status) if a.status is not None else "---"
    latency = f"{a.latency_ms:.0f}ms" if a.latency_ms is not None else "-"
    return (
        f"{at}  {a.outcome.lower():<8} {status:>3} {latency:>7}  "
        f"sub={a.subscription_id} tenant={a.tenant} {a.event} {a.delivery_id} "
        f"try={a.attempt}  {a.reason}"
    )


def json_of(a: Attempt) -> str:
    return orjson.dumps(
        {
            "at": a.at,
            "deliveryId": a.delivery_id,
            "subscriptionId": a.subscription_id,
            "tenant": a.tenant,
            "event": a.event,
            "eventId": a.event_id,
            "attempt": a.attempt,
            "outcome": a.outcome,
            "status": a.status,
            "latencyMs": a.latency_ms,
            "reason": a.reason,
        }
    ).decode()


async def follow(
    settings: Settings,
    keep: Filter,
    show: Callable[[Attempt], str],
    *,
    limit: int | None,
    timeout_s: float | None,
) -> int:
    """Print matching attempts until ``limit`` are printed or ``timeout_s`` passes.
    Returns how many were printed."""
    topic = topics.attempts(settings)
    try:
        await kafka.check_access(settings, timeout_s=15)
    except KafkaUnavailable as exc:
        raise CliError(str(exc)) from exc
    client = kafka.consumer(settings, group=None, request_timeout_ms=10000)
    try:
        await asyncio.wait_for(client.start(), 15)
    except (KafkaError, OSError, TimeoutError) as exc:
        raise CliError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}") from exc
    try:
        try:
            assigned = await kafka.assign_all(client, topic)
        except KafkaUnavailable as exc:
            raise CliError(f"{exc} (is HOOKLINE_TOPIC_PREFIX right?)") from exc
        await client.seek_to_end(*assigned)
        for tp in assigned:  # settle "the end" now, so nothing sent after this line is missed
            await client.position(tp)
        print(f"following {topic} on {settings.kafka_bootstrap} (Ctrl-C stops)", file=sys.stderr)
        sys.stderr.flush()
        return await _print_until(client, keep, show, limit, timeout_s)
    finally:
        await client.stop()


async def _print_until(
    client: object,
    keep: Filter,
    show: Callable[[Attempt], str],
    limit: int | None,
    timeout_s: float | None,
) -> int:
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    printed = 0
    while (limit is None or printed < limit) and (deadline is None or time.monotonic() < deadline):
        batches = await client.getmany(timeout_ms=500)  # type: ignore[attr-defined]
        for records in batches.values():
            for rec in records:
                attempt = _decode(rec.value)
                if attempt is None or not keep.wants(attempt):
                    continue
                print(show(attempt), flush=True)
                printed += 1
                if limit is not None and printed >= limit:
                    return printed
    return printed


def _decode(raw: bytes | None) -> Attempt | None:
    if raw is None:
        return None
    try:
        return Attempt.decode(raw)
    except MessageError:
        return None  # written by a newer version: not ours to show
