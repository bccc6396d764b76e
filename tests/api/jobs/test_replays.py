"""hookline.api.jobs.replays: taking over replays outlives the database being away."""

from __future__ import annotations

import asyncio
import contextlib

from hookline.api.jobs.replays import Jobs
from hookline.core.errors import DatabaseUnavailable


async def test_taking_over_replays_goes_on_after_the_database_was_away() -> None:
    jobs = Jobs(None)  # type: ignore[arg-type]  # no resources: _adopt_one is replaced
    looks = 0

    async def adopt_one() -> bool:
        nonlocal looks
        looks += 1
        if looks == 1:  # what store.get raises while PostgreSQL is away
            raise DatabaseUnavailable("the database is out of reach")
        return False

    jobs._adopt_one = adopt_one  # type: ignore[method-assign]
    task = asyncio.create_task(jobs.adopt_forever(every_s=0.01))
    try:
        for _ in range(200):
            if looks >= 3:
                break
            await asyncio.sleep(0.01)
        assert looks >= 3 and not task.done()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
