"""The API's shared state, as typed ``web.AppKey``s."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg
from aiohttp import web
from aiokafka import AIOKafkaProducer

from hookline.api.catalog import Catalog
from hookline.api.http.validation import TargetPolicy
from hookline.api.projection.topic_projector import TopicProjector
from hookline.api.store import SubscriptionStore
from hookline.core.config import Settings


@dataclass
class Context:
    settings: Settings
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    store: SubscriptionStore
    catalog: Catalog
    policy: TargetPolicy
    # Every projector running in this process: /readyz asks each whether it is alive.
    projectors: list[TopicProjector] = field(default_factory=list)

    def base_url(self, request: web.Request) -> str:
        return self.settings.public_url or f"{request.scheme}://{request.host}"


CONTEXT: web.AppKey[Context] = web.AppKey("context", Context)


def ctx(request: web.Request) -> Context:
    return request.app[CONTEXT]
