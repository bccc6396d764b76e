"""``hookline replay``: ask the API to replay a subscription's events since a time,
then follow the replay with a progress bar until it is done.

The API side: ``POST /v2/event/subscription/{id}/replay`` with ``{"since": <ISO time>}``
starts one and answers it (``{"value": {...}}``); a ``GET`` on its ``url`` (or on
``.../replay/{replayId}``) tells how far it is. ``progress_of`` reads the answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import click

from hookline.cli.apiclient import ApiAnswer, call, expect
from hookline.cli.config import CliError, Target

DONE = frozenset({"DONE", "COMPLETED", "COMPLETE", "FINISHED", "SUCCEEDED", "SUCCESS"})
FAILED = frozenset({"FAILED", "ERROR", "CANCELLED", "CANCELED", "ABORTED"})


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` events looked at, ``replayed`` of them sent to the
    subscription; ``fraction`` (0 to 1) of the range read, when the API says (Hookline's
    ``progress``: its counts are the tenant's, and ``total`` comes only at the end)."""

    done: int
    total: int | None
    state: str
    location: str | None
    replayed: int = 0
    fraction: float | None = None

    @property
    def percent(self) -> int:
        """What the bar shows, 0 to 100."""
        if self.finished and not self.failed:
            return 100
        if self.fraction is not None:
            return min(100, max(0, int(self.fraction * 100)))
        if self.total:
            return min(100, self.done * 100 // self.total)
        return 0

    @property
    def finished(self) -> bool:
        return self.state in DONE or self.failed

    @property
    def failed(self) -> bool:
        return self.state in FAILED


def _first(value: dict[str, Any], *names: str) -> Any:
    return next((value[n] for n in names if value.get(n) is not None), None)


def progress_of(body: Any) -> Progress:
    """Pure: how far a replay is, from the API's answer (tolerant of field names)."""
    value = body.get("value", body) if isinstance(body, dict) else {}
    if not isinstance(value, dict):
        value = {}
    done = _first(value, "processed", "done", "replayed", "sent", "count")
    replayed = _first(value, "replayed", "sent", "done", "processed", "count")
    total = _first(value, "total", "totalEvents", "expected", "fullResultSize")
    state = str(_first(value, "status", "state") or "RUNNING").upper()
    fraction = value.get("progress")
    location = _first(value, "url", "href")
    replay_id = _first(value, "id", "replayId")
    if location is None and replay_id is not None:
        location = str(replay_id)
    return Progress(
        done=int(done or 0),
        total=int(total) if total is not None else None,
        state=state,
        location=str(location) if location is not None else None,
        replayed=int(replayed or 0),
        fraction=float(fraction) if isinstance(fraction, int | float) else None,
    )


def parse_since(text: str) -> str:
    """An ISO 8601 time (a date alone means its midnight UTC) in UTC with a Z."""
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 time, e.g. 2026-11-25T10:00:00Z"
        ) from exc
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def poll_path(target: Target, subscription_id: int, location: str | None) -> str:
    if location is None:
        raise CliError("the API started a replay but did not say where to follow it")
    if location.startswith(("http://", "https://")):
        # Followed on the API this command talks to, whatever host the API names
        # (HOOKLINE_PUBLIC_URL): the key is never sent anywhere else.
        parts = urlsplit(location)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    if location.startswith("/"):
        return location
    return f"/v2/event/subscription/{subscription_id}/replay/{location}"


def start(target: Target, subscription_id: int, since: str) -> Progress:
    path = f"/v2/event/subscription/{subscription_id}/replay"
    answer = call(target.api_url, target.key(), "POST", path, {"since": since})
    if answer.route_missing:
        raise CliError(
            f"the API at {target.api_url} cannot replay yet: POST {path} answered "
            f"{answer.status}. Replay needs a Hookline API with the replay endpoint."
        )
    return progress_of(expect(answer, f"starting the replay of subscription {subscription_id}"))


def follow(
    target: Target,
    subscription_id: int,
    first: Progress,
    *,
    interval_s: float = 1.0,
    timeout_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Progress:
    path = poll_path(target, subscription_id, first.location)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    now = first
    with click.progressbar(
        length=100,
        label=f"replaying subscription {subscription_id}",
        show_percent=True,
        file=click.get_text_stream("stderr"),
    ) as bar:
        shown = 0
        while True:
            bar.update(now.percent - shown)
            shown = now.percent
            if now.finished:
                return now
            if deadline is not None and time.monotonic() > deadline:
                raise CliError(f"the replay is still {now.state} after {timeout_s:g}s")
            sleep(interval_s)
            now = _poll(target, path, now)


def _poll(target: Target, path: str, last: Progress) -> Progress:
    answer: ApiAnswer = call(target.api_url, target.key(), "GET", path)
    fresh = progress_of(expect(answer, "following the replay"))
    return Progress(
        fresh.done,
        fresh.total,
        fresh.state,
        fresh.location or last.location,
        fresh.replayed,
        fresh.fraction,
    )
