"""The API's app factory: resources in ``cleanup_ctx``, views in their modules.

``create_app(settings)`` is the HTTP role alone; with ``worker=True`` the same
process runs the worker role too (``hookline.api.worker``), as ``python -m
hookline.api`` does. Either way the server listens only once the subscriptions read
model has caught up with ``hookline.subscriptions``, and then keeps following it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from hookline.api import dialects, openapi
from hookline.api import worker as worker_role
from hookline.api.catalog import Catalog
from hookline.api.http import (
    admin,
    dashboard,
    delivery,
    events,
    health,
    quarantine,
    ratelimit,
    replay,
    sealing,
    sources,
    subscriptions,
)
from hookline.api.http.context import CONTEXT, Context
from hookline.api.http.errors import error_middleware
from hookline.api.http.validation import TargetPolicy
from hookline.api.projection.projector import projector as subscriptions_projector
from hookline.api.resources import opened
from hookline.core import metrics, topics
from hookline.core.config import Settings

MAX_BODY = 2 * 1024 * 1024


def create_app(settings: Settings, *, worker: bool = False) -> web.Application:
    app = web.Application(
        # rate_limit last: its 429 is rendered in the dialect's shape on a dialect's paths
        middlewares=[
            metrics.http_middleware,
            error_middleware,
            dialects.dialect_errors,
            ratelimit.rate_limit,
        ],
        client_max_size=MAX_BODY,
    )
    app[ratelimit.LIMITER] = ratelimit.Limiter.of(settings)
    app.router.add_get("/healthz", healthz)
    app.router.add_routes(admin.routes)
    app.router.add_routes(subscriptions.routes)
    app.router.add_routes(events.routes)
    app.router.add_routes(openapi.routes)
    app.router.add_routes(health.routes)
    app.router.add_routes(dashboard.routes)
    app.router.add_routes(delivery.routes)
    app.router.add_routes(replay.routes)
    app.router.add_routes(quarantine.routes)
    app.router.add_routes(sealing.routes)
    app.router.add_routes(sources.routes)
    dialects.add_routes(app)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        async with opened(settings, max_size=20) as r:
            projector = subscriptions_projector(settings, r.pool, r.producer)
            await projector.start()
            try:
                await projector.catch_up()
                projector.run_in_background()
                catalog = Catalog(r.pool, r.producer, topics.catalog(settings))
                await catalog.seed()
                app[CONTEXT] = Context(
                    settings=settings,
                    pool=r.pool,
                    producer=r.producer,
                    store=r.store,
                    catalog=catalog,
                    policy=TargetPolicy(
                        settings.allow_http_targets, settings.allow_private_targets
                    ),
                    projectors=[projector],
                )
                yield
            finally:
                await projector.stop()

    app.cleanup_ctx.append(resources)
    app.cleanup_ctx.append(sources.resources)  # the sources feed; needs the Context
    if worker:
        app.cleanup_ctx.append(_worker)  # needs the Context made by resources
    return app


async def _worker(app: web.Application) -> AsyncIterator[None]:
    c = app[CONTEXT]
    # The HTTP side follows hookline.subscriptions already.
    async with worker_role.running(c, subscriptions=False) as jobs:
        c.jobs = jobs
        yield
        c.jobs = None


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
