"""The API's app factory: resources in ``cleanup_ctx``, views in their modules."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from hookline.api import dialects, openapi
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
    subscriptions,
)
from hookline.api.http.context import CONTEXT, Context
from hookline.api.http.errors import error_middleware
from hookline.api.http.validation import TargetPolicy
from hookline.api.projection.projector import projector as subscriptions_projector
from hookline.api.store import SubscriptionStore
from hookline.core import db, kafka, kafka_access, metrics, topics
from hookline.core.config import Settings

MAX_BODY = 2 * 1024 * 1024


def create_app(settings: Settings) -> web.Application:
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
    dialects.add_routes(app)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        await kafka.ensure_topics(settings)
        await kafka_access.check(settings, "api")
        pool = await db.connect(settings.database_url, max_size=20)
        await db.migrate(pool)
        producer = kafka.producer(settings)
        await producer.start()
        projector = subscriptions_projector(settings, pool, producer)
        await projector.start()
        await projector.catch_up()
        projector.run_in_background()
        catalog = Catalog(pool, producer, topics.catalog(settings))
        await catalog.seed()
        app[CONTEXT] = Context(
            settings=settings,
            pool=pool,
            producer=producer,
            store=SubscriptionStore(pool, producer, topics.subscriptions(settings)),
            catalog=catalog,
            policy=TargetPolicy(settings.allow_http_targets, settings.allow_private_targets),
            projectors=[projector],
        )
        yield
        await projector.stop()
        await producer.stop()
        await pool.close()

    app.cleanup_ctx.append(resources)
    app.cleanup_ctx.append(delivery.resources)  # needs the Context made by resources
    app.cleanup_ctx.append(replay.resources)  # the replay jobs; needs the Context too
    app.cleanup_ctx.append(quarantine.resources)  # the quarantine's projector; likewise
    return app


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
