"""``python -m hookline.deliverer`` runs one deliverer; start more to scale out."""

from __future__ import annotations

import asyncio

from hookline.core import service
from hookline.core.config import Settings
from hookline.deliverer.worker import Deliverer


async def main(settings: Settings, stopping: asyncio.Event) -> None:
    deliverer = Deliverer(settings)
    await deliverer.start()
    runner = await service.serve(service.health_app(deliverer.feed.ready.is_set), settings)
    try:
        await deliverer.run(stopping)
    finally:
        await deliverer.stop()
        await runner.cleanup()


if __name__ == "__main__":
    service.run(main)
