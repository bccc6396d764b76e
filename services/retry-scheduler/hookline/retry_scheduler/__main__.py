"""``python -m hookline.retry_scheduler`` runs the retry scheduler."""

from __future__ import annotations

import asyncio

from hookline.core import service
from hookline.core.config import Settings
from hookline.retry_scheduler.scheduler import GROUP, RetryScheduler


async def serve(settings: Settings, stopping: asyncio.Event) -> None:
    scheduler = RetryScheduler(settings)
    await scheduler.start()
    assert scheduler.consumer is not None
    # Its lag is the deliveries waiting to be due: reported, but never a readiness test.
    lag = service.LagTracker.of(scheduler.consumer, f"{settings.topic_prefix}-{GROUP}")
    lag.start()
    runner = await service.serve(service.health_app({"kafka": lag.connected}), settings)
    try:
        await scheduler.run(stopping)
    finally:
        await lag.stop()
        await scheduler.stop()
        await runner.cleanup()


def main() -> None:
    service.run(serve)


if __name__ == "__main__":
    main()
