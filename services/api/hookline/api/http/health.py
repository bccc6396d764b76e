"""The API's ``/readyz`` (PostgreSQL and Kafka answer) and ``/metrics``; ``/healthz``
stays in ``app.py``. The server listens only once the read model has caught up with
``hookline.subscriptions`` (``app.py``'s start-up), so "caught up" holds from then."""

from __future__ import annotations

from aiohttp import web

from hookline.api.http.context import Context, ctx
from hookline.core import service

routes = web.RouteTableDef()


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    c = ctx(request)

    async def database() -> bool:
        return bool(await c.pool.fetchval("SELECT 1") == 1)

    async def kafka() -> bool:
        return await _kafka_answers(c)

    def projectors() -> bool:
        return all(p.alive() for p in c.projectors)

    return await service.readiness_response(
        {"database": database, "kafka": kafka, "projectors": projectors}
    )


async def _kafka_answers(c: Context) -> bool:
    # A metadata request is the cheapest call that every broker answers.
    await c.producer.client.fetch_all_metadata()
    return True


routes.get("/metrics")(service.metrics_view)
