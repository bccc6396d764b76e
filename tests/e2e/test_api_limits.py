"""Issue 11's smaller defects on the real stack: input limits at publish (422, never a
500 or a wedge downstream), replays, repeated ``eventId``s, the address every service
binds, and a token in a target's query kept out of the deliverer's log."""

from __future__ import annotations

import asyncio
import secrets
import socket
from typing import Any

import orjson
from router_support import bodies, eventually, publish, subscribe, wait_drained
from test_api_publish import new_tenant, on_topic

from hookline.core.limits import MAX_DEPTH
from support.client import Api
from support.receiver import Receiver
from support.stack import Stack

PUBLISH = "/v2/event/publish"


def nested_raw(levels: int) -> bytes:
    """An event whose ``value`` nests ``levels`` objects (built as bytes: the client's
    json module would not write it)."""
    value = b'{"a":' * (levels - 1) + b"{}" + b"}" * (levels - 1)
    return b'{"event": "product.update", "id": 1, "value": ' + value + b"}"


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


async def test_values_that_could_not_be_encoded_or_stored_are_refused_with_the_field(
    tenant: Api,
) -> None:
    for levels in (MAX_DEPTH + 1, 252, 253, 300, 1023):  # 252: broke batches; 254+: a 500
        status, body = await tenant.call("POST", PUBLISH, raw=nested_raw(levels))
        assert status == 422, (levels, body)
        (detail,) = body["validationMessages"]
        assert detail["field"].startswith("value.a") and f"{MAX_DEPTH} levels" in body["message"]
    hostile: list[tuple[dict[str, Any], str]] = [
        ({"id": "42\x00"}, "id"),
        ({"eventId": "e-\x00"}, "eventId"),
        ({"value": {"name": "Widget\x00"}}, "value.name"),
        ({"value": {"na\x00me": "Widget"}}, "value"),
        ({"value": {"k" * 300: 1}}, "value"),
    ]
    for fields, where in hostile:
        fine = {"event": "product.update", "id": 1, "value": {"id": 1}}
        status, body = await tenant.call("POST", PUBLISH, [fine, {**fine, **fields}])
        assert status == 422, (fields, body)
        assert body["validationMessages"][0]["field"] == f"[1].{where}", body
    deep_name = b'{"event": ' + b"[" * 1020 + b"]" * 1020 + b', "id": 1}'  # repr() raised
    assert (await tenant.call("POST", PUBLISH, raw=deep_name))[0] == 422
    deep_sub = b'{"event": "product.update", "targetUrl": ' + b"[" * 1020 + b"]" * 1020 + b"}"
    status, body = await tenant.call("POST", "/v2/event/subscription", raw=deep_sub)
    assert status == 422 and "levels" in body["message"], body


async def test_the_deepest_value_allowed_reaches_default_and_batch_subscribers(
    stack: Stack, tenant: Api, receiver: Receiver
) -> None:
    await subscribe(tenant, receiver, path="/one")
    await subscribe(tenant, receiver, path="/batch", format="batch")
    await publish(tenant, {"event": "product.update", "id": 1, "value": nested(MAX_DEPTH)})
    await receiver.wait_for(2, timeout_s=20)
    (one,) = bodies(receiver, "/one")
    (batch,) = bodies(receiver, "/batch")
    assert one["value"] == nested(MAX_DEPTH)
    assert batch["data"] == {"products": [nested(MAX_DEPTH)]}
    other = await tenant.call("GET", "/healthz")
    assert other[0] == 200  # the API, and so the stack's router, still answers
    assert stack.services["router"].proc is not None
    assert stack.services["router"].proc.poll() is None  # the router did not exit (70)


async def test_a_list_that_repeats_an_event_id_keeps_the_others_in_order(
    admin: Api, stack: Stack
) -> None:
    tenant_id, api = await new_tenant(admin)
    e1, e2 = f"e1-{secrets.token_hex(3)}", f"e2-{secrets.token_hex(3)}"
    x, y = (
        {"event": "product.update", "id": 9, "eventId": e1, "value": {"id": 9, "v": "X"}},
        {"event": "product.update", "id": 9, "eventId": e2, "value": {"id": 9, "v": "Y"}},
    )
    x2 = {**x, "value": {"id": 9, "v": "X2"}}
    status, got = await api.call("POST", PUBLISH, [x, y, x2])
    assert status == 202 and got["value"]["eventIds"] == [e1, e2, e1]
    landed = await on_topic(stack, tenant_id)  # one object: one partition, in order
    assert [(e.event_id, e.value) for _, e in landed] == [
        (e1, {"id": 9, "v": "X"}),
        (e2, {"id": 9, "v": "Y"}),
    ]


async def finished(tenant: Api, path: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def done() -> bool:
        status, body = await tenant.call("GET", path)
        assert status == 200, body
        found.update(body["value"])
        return bool(body["value"]["status"] != "RUNNING")

    await eventually(done, timeout_s=30)
    return found


async def test_a_replay_since_year_one_counts_only_the_tenants_events(
    stack: Stack, admin: Api, tenant: Api, receiver: Receiver
) -> None:
    sub = await subscribe(tenant, receiver)
    await publish(
        tenant, [{"event": "product.update", "id": n, "value": {"id": n}} for n in (1, 2)]
    )
    await publish(tenant, {"event": "product.create", "id": 3, "value": {"id": 3}})  # not its type
    _, other = await new_tenant(admin)
    await publish(other, [{"event": "product.update", "id": n} for n in range(20)])
    await wait_drained(stack)
    path = f"/v2/event/subscription/{sub['id']}/replay"
    status, started = await tenant.call("POST", path, {"since": "0001-01-01"})
    assert status == 202, started  # was a 500
    assert started["value"]["since"] == "1970-01-01T00:00:00.000Z"
    assert started["value"]["total"] is None and 0 <= started["value"]["progress"] <= 1
    done = await finished(tenant, f"{path}/{started['value']['id']}")
    assert done["status"] == "DONE", done
    # every event of the tenant in the range, not every tenant's (20 more of those)
    assert (done["total"], done["processed"], done["replayed"], done["progress"]) == (3, 3, 2, 1.0)
    for bad in ("rpl_\x00", "%00", "rpl_0123456789abcdef%00", "x" * 300):
        status, body = await tenant.call("GET", f"{path}/{bad}")
        assert status == 404, (bad, body)  # a NUL was a 500


def connects(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


async def test_every_service_listens_only_on_the_configured_host(stack: Stack) -> None:
    """HOOKLINE_HTTP_HOST is 127.0.0.1 here; 127.0.0.2 is loopback too, so a server that
    bound 0.0.0.0 (the router did, through Faust's web_bind) answers there as well."""
    for name, service in stack.services.items():
        assert connects("127.0.0.1", service.port), name
        assert not connects("127.0.0.2", service.port), f"{name} listens beyond 127.0.0.1"


async def test_a_token_in_a_target_urls_query_never_reaches_the_deliverer_log(
    stack: Stack, tenant: Api
) -> None:
    """aiohttp names the URL in the error for a malformed answer; the log masks the query."""

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    token = "tok" + secrets.token_hex(8)
    query = f"shop=7&access_token={token}1&api_token={token}2&key={token}3"
    url = f"http://127.0.0.1:{port}/hook?{query}"
    body = {"event": "product.update", "targetUrl": url}
    status, created = await tenant.call("POST", "/v2/event/subscription", body)
    assert status == 201, created
    log = stack.services["deliverer"].log
    start = log.stat().st_size
    try:
        await publish(tenant, {"event": "product.update", "id": 1, "value": {"id": 1}})

        async def logged() -> bool:
            return f"127.0.0.1:{port}/hook?shop=7" in log.read_text()[start:]

        await eventually(logged, timeout_s=20)
    finally:
        server.close()
        await tenant.call("DELETE", f"/v2/event/subscription/{created['value']['id']}")
    text = log.read_text()[start:]
    assert token not in text
    assert "access_token=****&api_token=****&key=****" in text
    assert orjson.loads(text.splitlines()[-1])  # still one JSON object per line
