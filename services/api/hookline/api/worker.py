"""The API's worker role: its background work, apart from the HTTP server.

- the projectors of ``hookline.attempts`` (with auto-disable), ``hookline.dead-letters``
  and the quarantine topic into PostgreSQL, and of ``hookline.subscriptions`` when
  this process does not serve HTTP (an HTTP process follows that one itself);
- the deletion of attempts past their retention (``jobs/purge.py``);
- the replay jobs: those this process starts, and the takeover of those no process
  runs (``jobs/replays.py``).

``python -m hookline.api worker`` runs this alone, with ``/healthz``, ``/readyz`` and
``/metrics`` on ``HOOKLINE_HTTP_PORT``; ``python -m hookline.api`` runs it beside the
HTTP server in one process. Every part may run in several processes at once: the
projectors apply each record once (``TopicProjector``), the purge deletes what is
there, and a replay job is taken by one process (``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator

from hookline.api.jobs.autodisable import Disabler
from hookline.api.jobs.purge import purge_forever
from hookline.api.jobs.replays import Jobs
from hookline.api.projection import deadletters, quarantine
from hookline.api.projection.attempts import AttemptsProjection
from hookline.api.projection.projector import projector as subscriptions_projector
from hookline.api.projection.topic_projector import EXIT_PROJECTOR_DIED, TopicProjector
from hookline.api.resources import Resources, opened, readiness
from hookline.core import service, topics
from hookline.core.config import Settings

log = logging.getLogger("hookline.api.worker")


def _base_url(s: Settings) -> str:
    """For the ``url`` of subscriptions in events Hookline publishes (no request to ask)."""
    return s.public_url or f"http://{s.http_host}:{s.http_port}"


def projectors(r: Resources, *, subscriptions: bool) -> list[TopicProjector]:
    """The worker's projectors, not started."""
    s = r.settings
    disabler = Disabler(r.store, r.producer, topics.events(s), _base_url(s), s.auto_disable_after_s)
    attempts = AttemptsProjection(disabler, s.auto_disable_after_s)
    made = [
        TopicProjector(
            s,
            r.pool,
            topics.attempts(s),
            attempts.apply,
            "attempts-projector",
            quarantine=r.producer,
        ),
        TopicProjector(
            s,
            r.pool,
            topics.dead_letters(s),
            deadletters.project,
            "dead-letters",
            quarantine=r.producer,
        ),
        # The quarantine's own projector does not quarantine: that would feed itself.
        TopicProjector(
            s,
            r.pool,
            topics.quarantine(s),
            quarantine.project,
            "quarantine-projector",
            quarantine=None,
        ),
    ]
    if subscriptions:
        made.append(subscriptions_projector(s, r.pool, r.producer))
    return made


@contextlib.asynccontextmanager
async def running(r: Resources, *, subscriptions: bool) -> AsyncIterator[Jobs]:
    """The background work, started; stopped on leaving. Yields the replay jobs."""
    async with contextlib.AsyncExitStack() as stack:
        for p in projectors(r, subscriptions=subscriptions):
            await p.start()
            stack.push_async_callback(p.stop)
            p.run_in_background()
            r.projectors.append(p)
        jobs = Jobs(r)
        stack.push_async_callback(jobs.stop)
        for work in (purge_forever(r.pool, r.settings.attempt_retention_s), jobs.adopt_forever()):
            task = asyncio.create_task(work)
            task.add_done_callback(_ended)
            stack.push_async_callback(_cancelled, task)
        yield jobs


def _ended(task: asyncio.Task[None]) -> None:
    """A loop of background work that ends by itself (not cancelled on the way out) ends
    the process, for its supervisor to restart it, as a projector's does: never a
    worker that looks ready and no longer takes over replays or purges attempts."""
    if task.cancelled():
        return
    log.critical("%s ended; exiting", task.get_coro(), exc_info=task.exception())
    logging.shutdown()
    os._exit(EXIT_PROJECTOR_DIED)


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def main(settings: Settings, stopping: asyncio.Event) -> None:
    async with opened(settings, max_size=10) as r, running(r, subscriptions=True):
        runner = await service.serve(service.health_app(readiness(r)), settings)
        log.info("API worker running; health on %s:%s", settings.http_host, settings.http_port)
        try:
            await stopping.wait()
        finally:
            await runner.cleanup()
