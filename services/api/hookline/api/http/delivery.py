"""What the API does for delivery: its routes and its background work, in one place.

Routes: the attempt log, the dead letters and redelivery, secret rotation.
Background (``resources``, an ``app.cleanup_ctx`` after the one that makes the
``Context``): the projectors of ``hookline.attempts`` (with auto-disable) and
``hookline.dead-letters``, and the deletion of attempts past their retention.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from hookline.api.http import attempts, deadletters, rotation
from hookline.api.http.context import CONTEXT, Context
from hookline.api.jobs.autodisable import Disabler
from hookline.api.jobs.purge import purge_forever
from hookline.api.projection import deadletters as deadletters_projection
from hookline.api.projection.attempts import AttemptsProjection
from hookline.api.projection.topic_projector import TopicProjector
from hookline.core import topics

routes = [*attempts.routes, *deadletters.routes, *rotation.routes]


def _base_url(c: Context) -> str:
    """For the ``url`` of subscriptions in events Hookline publishes (no request to ask)."""
    s = c.settings
    return s.public_url or f"http://{s.http_host}:{s.http_port}"


async def resources(app: web.Application) -> AsyncIterator[None]:
    c = app[CONTEXT]
    s = c.settings
    disabler = Disabler(c.store, c.producer, topics.events(s), _base_url(c), s.auto_disable_after_s)
    projection = AttemptsProjection(disabler, s.auto_disable_after_s)
    projectors = [
        TopicProjector(
            s,
            c.pool,
            topics.attempts(s),
            projection.apply,
            "attempts-projector",
            quarantine=c.producer,
        ),
        TopicProjector(
            s,
            c.pool,
            topics.dead_letters(s),
            deadletters_projection.project,
            "dead-letters",
            quarantine=c.producer,
        ),
    ]
    c.projectors.extend(projectors)
    for p in projectors:
        await p.start()
        p.run_in_background()
    purger = asyncio.create_task(purge_forever(c.pool, s.attempt_retention_s))
    yield
    purger.cancel()
    await asyncio.gather(purger, return_exceptions=True)
    for p in projectors:
        await p.stop()
