"""Version order: a receiver never gets an older version of an object after a newer
one for the same subscription, retries included (docs/ordering.md)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from router_support import bodies, eventually, publish, router_counts, subscribe, wait_drained

from support.client import Api
from support.receiver import Receiver
from support.stack import Stack


def update(n: int, version: int | None, **value: object) -> dict[str, Any]:
    item: dict[str, Any] = {"event": "product.update", "id": n, "value": {"id": n, **value}}
    if version is not None:
        item["version"] = version
    return item


def seen(receiver: Receiver) -> list[tuple[int, int]]:
    """(rank, status) per request received, in arrival order."""
    return [
        (orjson.loads(r.body)["value"]["rank"], receiver.responder(n))
        for n, r in enumerate(receiver.received)
    ]


@pytest.mark.parametrize("versioned", [True, False], ids=["version", "publication-order"])
async def test_the_retry_of_an_older_version_is_not_sent_after_a_newer_one(
    stack: Stack, tenant: Api, receiver: Receiver, versioned: bool
) -> None:
    receiver.responder = lambda n: 500 if n == 0 else 200  # the first attempt of v1 fails
    await subscribe(tenant, receiver)
    await publish(
        tenant,
        [
            update(7, 1 if versioned else None, rank=1),
            update(7, 2 if versioned else None, rank=2),
        ],
    )
    await receiver.wait_for(2)
    await wait_drained(stack)  # v1's retry came due a second later and was dropped
    assert seen(receiver) == [(1, 500), (2, 200)]


async def test_many_quick_updates_with_failures_never_go_back(
    stack: Stack, tenant: Api, receiver: Receiver
) -> None:
    receiver.responder = lambda n: 500 if n % 3 == 1 else 200
    await subscribe(tenant, receiver)
    await publish(tenant, [update(9, v, rank=v) for v in range(1, 21)])
    await wait_drained(stack, timeout_s=60)
    ranks = [rank for rank, _ in seen(receiver)]
    assert ranks == sorted(ranks)  # never back to an older version
    assert seen(receiver)[-1] == (20, 200)  # and the latest one arrived


async def test_an_older_version_published_late_is_not_routed(
    stack: Stack, tenant: Api, receiver: Receiver
) -> None:
    await subscribe(tenant, receiver)
    before = (await router_counts(stack))["stale"]
    await publish(tenant, update(11, 3, rank=3))
    await publish(tenant, update(11, 2, rank=2))  # a producer that raced itself

    async def dropped() -> bool:
        return (await router_counts(stack))["stale"] > before

    await eventually(dropped)
    await wait_drained(stack)
    assert [b["value"]["rank"] for b in bodies(receiver)] == [3]
