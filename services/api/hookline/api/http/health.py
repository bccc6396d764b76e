"""The API's ``/readyz`` (PostgreSQL and Kafka answer, every projector of the process
follows its topic; ``resources.readiness``) and ``/metrics``; ``/healthz`` stays in
``app.py``. The server listens only once the read model has caught up with
``hookline.subscriptions`` (``app.py``'s start-up), so "caught up" holds from then."""

from __future__ import annotations

from aiohttp import web

from hookline.api.http.context import ctx
from hookline.api.resources import readiness
from hookline.core import service

routes = web.RouteTableDef()


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    return await service.readiness_response(readiness(ctx(request)))


routes.get("/metrics")(service.metrics_view)
