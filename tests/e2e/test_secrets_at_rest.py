"""Customer secrets are sealed at rest: delivered right, stored nowhere in clear.

Subscriptions with a signing secret (rotated, so the old one is kept too), an auth
header and URL credentials receive an event; one answers 410, so its delivery reaches
the dead letters and its subscription is disabled through the API's write path. Then
every record of every topic of the stack (values, keys and headers) and every row of
every table of its database is read raw, and none holds any of those secrets.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import AsyncIterator

import asyncpg
import orjson
import pytest_asyncio
from aiokafka import TopicPartition

from hookline.core import kafka
from hookline.core.config import Settings
from hookline.core.signing import verify
from support.client import Api
from support.receiver import Receiver
from support.scripted import attempts, eventually, header, subscribe
from support.stack import Stack


@pytest_asyncio.fixture(loop_scope="session")
async def gone() -> AsyncIterator[Receiver]:
    rcv = Receiver(responder=lambda _n: 410)
    await rcv.start()
    yield rcv
    await rcv.stop()


async def raw_topics(stack: Stack) -> list[bytes]:
    """Every key, value and header value on every topic of this stack, as stored."""
    settings = Settings.from_env(stack.env)
    consumer = kafka.consumer(settings, group=None)
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()  # as kafka.assign_all does
        partitions = [
            TopicPartition(t, p)
            for t in cluster.topics()
            if t.startswith(settings.topic_prefix)
            for p in cluster.partitions_for_topic(t) or ()
        ]
        assert len({tp.topic for tp in partitions}) >= 8, "the stack's topics"
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[bytes] = []
        deadline = time.monotonic() + 60
        while await kafka.lagging(consumer, ends):
            assert time.monotonic() < deadline, "could not read every topic to its end"
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    found += [r.key or b"", r.value or b"", *(v for _, v in r.headers or ())]
        return found
    finally:
        await consumer.stop()


async def raw_tables(stack: Stack) -> dict[str, list[str]]:
    """Every row of every table of this stack's database, as PostgreSQL prints it."""
    conn = await asyncpg.connect(stack.env["HOOKLINE_DATABASE_URL"])
    try:
        names = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        return {
            n["tablename"]: [r[0] for r in await conn.fetch(f'SELECT t::text FROM "{n[0]}" t')]
            for n in names
        }
    finally:
        await conn.close()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_no_secret_is_stored_in_clear_and_every_one_is_delivered(
    stack: Stack, tenant: Api, receiver: Receiver, gone: Receiver
) -> None:
    password, token = f"pw-{secrets.token_hex(12)}", f"tk{secrets.token_hex(12)}"
    auth_a, auth_c = f"av-{secrets.token_hex(12)}", f"ac-{secrets.token_hex(12)}"
    port = receiver.port
    a = await subscribe(
        tenant,
        f"http://hluser:{password}@127.0.0.1:{port}/a",
        authHeaderName="X-Api-Key",
        authHeaderValue=auth_a,
    )
    status, rotated = await tenant.call("POST", f"/v2/event/subscription/{a['id']}/secret/rotate")
    assert status == 200, rotated
    old_secret, new_secret = a["secret"], rotated["value"]["secret"]
    b = await subscribe(tenant, f"http://{token}@127.0.0.1:{port}/b")
    c = await subscribe(tenant, f"{gone.url}/c", authHeaderName="X-Api-Key", authHeaderValue=auth_c)
    status, body = await tenant.call(
        "POST", "/v2/event/publish", {"event": "product.create", "id": 1, "value": {"id": 1}}
    )
    assert status == 202, body

    # Delivered with every secret in clear where the receiver needs it.
    got = {r.path: r for r in await receiver.wait_for(2, timeout_s=20)}
    to_a, to_b = got["/a"], got["/b"]
    assert header(to_a, "X-Api-Key") == auth_a
    assert header(to_a, "Authorization") == basic("hluser", password)
    assert header(to_b, "Authorization") == basic(token, "")
    signature = header(to_a, "webhook-signature")
    assert len(signature.split()) == 2  # the new secret and, during the overlap, the old
    for secret in (new_secret, old_secret):
        assert verify(
            secret,
            header(to_a, "webhook-id"),
            int(header(to_a, "webhook-timestamp")),
            to_a.body,
            signature,
            now=int(time.time()),
        )
    (to_c,) = await gone.wait_for(1, timeout_s=20)
    assert header(to_c, "X-Api-Key") == auth_c

    # Shown in clear to its owner only where it was before; masked elsewhere.
    status, shown = await tenant.call("GET", f"/v2/event/subscription/{a['id']}/secret")
    assert status == 200 and shown["value"]["secret"] == new_secret
    status, read = await tenant.call("GET", f"/v2/event/subscription/{a['id']}")
    assert read["value"]["targetUrl"] == f"http://hluser:****@127.0.0.1:{port}/a"
    assert read["value"]["authHeaderValue"] == "****"
    status, listed = await tenant.call(
        "GET", "/v2/event/subscription?targetUrl=" + f"http://****@127.0.0.1:{port}/b"
    )
    assert status == 200 and [v["id"] for v in listed["values"]] == [b["id"]]

    # The 410 disabled C through the write path and dead-lettered its delivery; wait
    # until the attempts and the dead letter are in their tables too.
    async def settled() -> bool:
        _, sub_c = await tenant.call("GET", f"/v2/event/subscription/{c['id']}")
        _, dead = await tenant.call("GET", f"/v2/event/subscription/{c['id']}/deadletters")
        logged = await attempts(tenant, a["id"])
        return bool(
            sub_c["value"]["status"] == "DISABLED_GONE" and dead["values"] and logged["values"]
        )

    await eventually(settled, 30, "C disabled, its dead letter and A's attempt stored")

    clear = [password, token, auth_a, auth_c, old_secret, new_secret]
    clear += [basic("hluser", password).split()[1], basic(token, "").split()[1]]
    clear += [s.removeprefix("whsec_") for s in (old_secret, new_secret)]

    stored = await raw_topics(stack)
    prefix = stack.env["HOOKLINE_TOPIC_PREFIX"]
    ours = [
        orjson.loads(v)
        for v in stored
        if v.startswith(b'{"v":1,"id":') and b'"secret":' in v and str(a["id"]).encode() in v
    ]
    assert any(r["id"] == a["id"] and r["secret"].startswith("enc.v1.") for r in ours), prefix
    for secret in clear:
        assert not any(secret.encode() in v for v in stored), f"{secret[:6]}… on a topic"

    tables = await raw_tables(stack)
    assert {"subscriptions", "attempts", "dead_letters", "quarantine"} <= set(tables)
    row_a = [r for r in tables["subscriptions"] if r.startswith(f"({a['id']},")]
    assert row_a and "enc.v1." in row_a[0]
    for name, rows in tables.items():
        for secret in clear:
            assert not any(secret in r for r in rows), f"{secret[:6]}… in table {name}"
