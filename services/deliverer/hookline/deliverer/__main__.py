"""``python -m hookline.deliverer`` runs one deliverer; start more to scale out."""

from __future__ import annotations

import asyncio

from hookline.core import service
from hookline.core.config import Settings
from hookline.deliverer.worker import GROUP, Deliverer


async def serve(settings: Settings, stopping: asyncio.Event) -> None:
    service.keyring_for(settings, "deliverer")  # refuses to start without the keys
    deliverer = Deliverer(settings)
    try:
        await deliverer.start()
    except BaseException:
        # Such as a group the broker refuses to let it join: stop the feeds it started,
        # which would otherwise end the process as dead before the refusal is told.
        await deliverer.stop()
        raise
    assert deliverer.consumer is not None
    lag = service.LagTracker.of(deliverer.consumer, f"{settings.topic_prefix}-{GROUP}")
    lag.start()
    ready = {"subscriptions": deliverer.feed.alive, "kafka": lag.connected}
    runner = await service.serve(service.health_app(ready), settings)
    try:
        await deliverer.run(stopping)
    finally:
        await lag.stop()
        await deliverer.stop()
        await runner.cleanup()


def main() -> None:
    service.run(serve)


if __name__ == "__main__":
    main()
