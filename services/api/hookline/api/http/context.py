"""The API's shared state, as typed ``web.AppKey``s."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from hookline.api.catalog import Catalog
from hookline.api.http.validation import TargetPolicy
from hookline.api.jobs.replays import Jobs
from hookline.api.resources import Resources


@dataclass(kw_only=True)
class Context(Resources):
    catalog: Catalog
    policy: TargetPolicy
    # The replay jobs, when this process runs the worker role too; else None, and a
    # new replay waits for a worker process to take it (``jobs/replays.py``).
    jobs: Jobs | None = None

    def base_url(self, request: web.Request) -> str:
        return self.settings.public_url or f"{request.scheme}://{request.host}"


CONTEXT: web.AppKey[Context] = web.AppKey("context", Context)


def ctx(request: web.Request) -> Context:
    return request.app[CONTEXT]
