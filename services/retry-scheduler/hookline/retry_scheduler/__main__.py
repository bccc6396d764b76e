"""``python -m hookline.retry_scheduler`` runs the retry scheduler."""

from __future__ import annotations

import asyncio

from hookline.core import service
from hookline.core.config import Settings
from hookline.retry_scheduler.scheduler import RetryScheduler


async def main(settings: Settings, stopping: asyncio.Event) -> None:
    scheduler = RetryScheduler(settings)
    await scheduler.start()
    runner = await service.serve(service.health_app(lambda: True), settings)
    try:
        await scheduler.run(stopping)
    finally:
        await scheduler.stop()
        await runner.cleanup()


if __name__ == "__main__":
    service.run(main)
