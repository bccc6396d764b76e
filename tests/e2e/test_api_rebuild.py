"""The read model is dropped and rebuilt from ``hookline.subscriptions`` and then answers
exactly as before (``python -m hookline.api rebuild``, run as ``make rebuild-read-model``)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import asyncpg

from support.client import Api
from support.stack import ROOT, Stack

BASE = "/v2/event/subscription"


async def snapshot(api: Api, ids: list[int]) -> list[Any]:
    """Everything a client can read about its subscriptions."""
    answers: list[Any] = [await api.call("GET", f"{BASE}?sorting=id")]
    answers.append(await api.call("GET", BASE))
    for sub_id in ids:
        answers.append(await api.call("GET", f"{BASE}/{sub_id}"))
        answers.append(await api.call("GET", f"{BASE}/{sub_id}/secret"))
    return answers


def run_rebuild(stack: Stack) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hookline.api", "rebuild"],
        env=stack.services["api"].env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def test_rebuild_answers_exactly_as_before(tenant: Api, stack: Stack) -> None:
    ids = []
    for n in range(5):
        status, got = await tenant.call(
            "POST",
            BASE,
            {
                "events": ["order.create", "order.update"] if n % 2 else ["product.create"],
                "targetUrl": f"https://user:pw{n}@example.com/{n}",
                "authHeaderName": "X-Key",
                "authHeaderValue": f"secret-{n}",
            },
        )
        assert status == 201, got
        ids.append(got["value"]["id"])
    assert (await tenant.call("PUT", f"{BASE}/{ids[0]}", {"fields": "id,name"}))[0] == 200
    assert (await tenant.call("PUT", f"{BASE}/{ids[0]}", {"version": 1, "format": "batch"}))[
        0
    ] == 200
    assert (await tenant.call("PUT", f"{BASE}/{ids[1]}", {"status": "DISABLED"}))[0] == 200
    assert (await tenant.call("DELETE", f"{BASE}/{ids[2]}"))[0] == 204
    before = await snapshot(tenant, ids)
    assert before[0][1]["fullResultSize"] == 4
    assert before[2 + 2 * 2][0] == 404  # the deleted one

    # Damage the read model behind the API's back: the rebuild must undo it from the log.
    conn = await asyncpg.connect(stack.env["HOOKLINE_DATABASE_URL"])
    try:
        await conn.execute(
            "UPDATE subscriptions SET target_url = 'https://tampered.example/' WHERE id = $1",
            ids[3],
        )
        await conn.execute("UPDATE subscriptions SET deleted = false WHERE id = $1", ids[2])
    finally:
        await conn.close()
    damaged = await snapshot(tenant, ids)
    assert damaged != before

    out = run_rebuild(stack)
    assert "rebuilt the subscriptions read model" in out
    after = await snapshot(tenant, ids)
    assert after == before

    # And the model goes on from there: the next write gets the next version.
    status, got = await tenant.call("PUT", f"{BASE}/{ids[0]}", {"version": 2, "fields": None})
    assert (status, got["value"]["version"]) == (200, 3)


async def test_rebuild_while_writing_loses_nothing(tenant: Api, stack: Stack) -> None:
    status, got = await tenant.call(
        "POST", BASE, {"event": "order.create", "targetUrl": "https://example.com/w"}
    )
    assert status == 201
    path = f"{BASE}/{got['value']['id']}"

    rebuild = asyncio.get_running_loop().run_in_executor(None, run_rebuild, stack)
    writes = 0
    # Write all through the rebuild (bounded), each write depending on the one before.
    while (not rebuild.done() or writes < 3) and writes < 2000:
        status, _ = await tenant.call("PUT", path, {"version": writes, "fields": f"f{writes + 1}"})
        assert status == 200, "a write during the rebuild failed"
        writes += 1
    await rebuild
    assert writes > 3, writes
    status, read = await tenant.call("GET", path)
    assert (read["value"]["version"], read["value"]["fields"]) == (writes, f"f{writes}")
