"""A plural an admin sets in the catalog names the objects of a batch."""

from __future__ import annotations

import secrets

import orjson
from router_support import eventually, publish, subscribe

from support.client import Api
from support.receiver import Receiver


async def test_a_batch_uses_the_plural_an_admin_set(
    admin: Api, tenant: Api, receiver: Receiver
) -> None:
    # A new event type, so that no other test's batches are affected.
    name = f"wagon{secrets.token_hex(3)}.loaded"
    status, body = await admin.call(
        "PUT", f"/v2/admin/event/{name}", {"description": "A wagon was loaded", "plural": "wagonry"}
    )
    assert status == 200, body
    await subscribe(tenant, receiver, event=name, format="batch")
    await publish(tenant, [{"event": name, "id": n, "value": {"id": n}} for n in range(3)])

    def objects() -> list[object]:
        found = []
        for got in receiver.received:
            data = orjson.loads(got.body)["data"]
            assert list(data) == ["wagonry"], data
            found += data["wagonry"]
        return found

    async def all_there() -> bool:
        return len(objects()) >= 3

    await eventually(all_there, timeout_s=20)
    assert sorted(o["id"] for o in objects()) == [0, 1, 2]  # type: ignore[index]
