"""The API's shared state, as typed ``web.AppKey``s."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from aiohttp import web
from aiokafka import AIOKafkaProducer

from hookline.api.catalog import Catalog
from hookline.api.store import SubscriptionStore
from hookline.api.validation import TargetPolicy
from hookline.core.config import Settings


@dataclass
class Context:
    settings: Settings
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    store: SubscriptionStore
    catalog: Catalog
    policy: TargetPolicy

    def base_url(self, request: web.Request) -> str:
        return self.settings.public_url or f"{request.scheme}://{request.host}"


CONTEXT: web.AppKey[Context] = web.AppKey("context", Context)


def ctx(request: web.Request) -> Context:
    return request.app[CONTEXT]
