"""``hookline secrets rotate-key``: a new sealing key, every stored secret re-sealed under
it through the write path, the old key removed, and deliveries still signed right.

On a stack of its own, since its API and deliverer restart with other keys. One
subscription is written to the topic in clear, as a version before sealing wrote it:
it delivers as it is, and rotate-key seals it (the upgrade path).
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest_asyncio

from hookline.core import kafka, topics
from hookline.core.config import Settings
from hookline.core.keyring import new_key_entry
from hookline.core.messages import SubscriptionRecord
from hookline.core.sealed import key_ids
from hookline.core.signing import generate_secret, verify
from support import stack as stacks
from support.client import Api
from support.database import own_database
from support.receiver import Receiver
from support.scripted import attempts, eventually, header, subscribe
from support.stack import ROOT, Stack

HOOKLINE = Path(sys.executable).with_name("hookline")
K1, K2 = new_key_entry("k1"), new_key_entry("k2")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def keyed_stack(infra: dict[str, str]) -> AsyncIterator[Stack]:
    async with own_database(infra["HOOKLINE_DATABASE_URL"]) as url:
        env = {**stacks.test_settings(infra, url), "HOOKLINE_SECRETS_KEYS": K1}
        stack = Stack(env)
        try:
            logs = ROOT / ".local" / "test-logs" / env["HOOKLINE_TOPIC_PREFIX"]
            await asyncio.to_thread(stack.start, logs)
            yield stack
        finally:
            await asyncio.to_thread(stack.stop)


async def with_keys(stack: Stack, keys: str) -> None:
    """Restart the two services that seal and open, with ``keys``."""
    for name in ("api", "deliverer"):
        stack.services[name].env["HOOKLINE_SECRETS_KEYS"] = keys
        await asyncio.to_thread(stack.services[name].restart)


async def hookline(stack: Stack, *args: str) -> tuple[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    env.update(HOOKLINE_API_URL=stack.api_url, HOOKLINE_ADMIN_TOKEN=stack.admin_token)
    proc = await asyncio.create_subprocess_exec(
        str(HOOKLINE),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, (out, err)
    return out.decode(), err.decode()


async def latest_records(stack: Stack) -> dict[int, SubscriptionRecord]:
    """The newest record of each subscription on the topic of record, as stored."""
    settings = Settings.from_env(stack.env)
    consumer = kafka.consumer(settings, group=None)
    await consumer.start()
    try:
        partitions = await kafka.assign_all(consumer, topics.subscriptions(settings))
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        newest: dict[int, SubscriptionRecord] = {}
        while await kafka.lagging(consumer, ends):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    record = SubscriptionRecord.decode(r.value)
                    if record.id not in newest or newest[record.id].version < record.version:
                        newest[record.id] = record
        return newest
    finally:
        await consumer.stop()


async def write_in_clear(stack: Stack, record: SubscriptionRecord) -> None:
    producer = kafka.producer(Settings.from_env(stack.env))
    await producer.start()
    try:
        topic = topics.subscriptions(Settings.from_env(stack.env))
        await producer.send_and_wait(topic, record.encode(), key=record.key())
    finally:
        await producer.stop()


async def three_sealed_and_one_clear(
    stack: Stack, tenant: Api, tenant_id: int, userinfo_host: str, auth: dict[int, str]
) -> tuple[list[dict[str, Any]], SubscriptionRecord]:
    """Three subscriptions made through the API (sealed) and one written to the topic in
    clear, as a version before sealing wrote it."""
    sealed = [
        await subscribe(
            tenant,
            f"http://{userinfo_host}/s{n}",
            authHeaderName="X-Api-Key",
            authHeaderValue=auth[n],
        )
        for n in range(3)
    ]
    legacy = SubscriptionRecord(
        id=10**6 + secrets.randbelow(10**6),
        tenant=tenant_id,
        version=0,
        events=["product.create"],
        target_url=f"http://{userinfo_host}/legacy",
        status="ACTIVE",
        secret=generate_secret(),
        created_at=time.time(),
        updated_at=time.time(),
        auth_header_name="X-Api-Key",
        auth_header_value="auth-legacy",
    )
    await write_in_clear(stack, legacy)
    return sealed, legacy


async def test_rotate_key_reseals_everything_and_the_old_key_can_go(
    keyed_stack: Stack, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    stack = keyed_stack
    admin = Api(stack.api_url, http, stack.admin_token)
    status, made = await admin.call("POST", "/v2/admin/tenants", {"name": "rotating"})
    assert status == 201, made
    tenant = admin.as_key(made["value"]["apiKey"])
    auth = {n: f"auth-{n}-{secrets.token_hex(8)}" for n in range(3)}
    password = f"pw-{secrets.token_hex(8)}"
    sealed, legacy = await three_sealed_and_one_clear(
        stack, tenant, made["value"]["id"], f"u:{password}@127.0.0.1:{receiver.port}", auth
    )
    legacy_secret = legacy.secret

    async def projected() -> bool:
        status, _ = await tenant.call("GET", f"/v2/event/subscription/{legacy.id}")
        return status == 200

    await eventually(projected, 20, "the clear record in the read model")
    status, before = await admin.call("GET", "/v2/admin/secrets")
    assert status == 200, before
    assert before["value"]["stored"] == {"k1": 9, "clear": 3}  # 3 x (secret, auth, password)
    assert before["value"]["toReseal"] == 1

    # A new key first, the old one still opening; every secret re-sealed under it.
    await with_keys(stack, f"{K2},{K1}")
    out, progress = await hookline(stack, "secrets", "rotate-key", "--batch", "2")
    assert "done: 4 re-sealed under k2, 4 checked" in out, out
    assert "checked 2 subscriptions" in progress
    assert "no stored secret is under k1: it can be removed" in out
    again, _ = await hookline(stack, "secrets", "rotate-key")
    assert "done: 0 re-sealed under k2, 4 checked" in again, again
    for record in (await latest_records(stack)).values():
        assert set(key_ids(record)) == {"k2"}, record.id

    # The old key out: everything still opens and delivers, signed with the same secrets.
    await with_keys(stack, K2)
    status, after = await admin.call("GET", "/v2/admin/secrets")
    assert after["value"]["stored"] == {"k2": 12} and after["value"]["keyIds"] == ["k2"]
    status, shown = await tenant.call("GET", f"/v2/event/subscription/{sealed[0]['id']}/secret")
    assert status == 200 and shown["value"]["secret"] == sealed[0]["secret"]

    status, body = await tenant.call(
        "POST", "/v2/event/publish", {"event": "product.create", "id": 5, "value": {"id": 5}}
    )
    assert status == 202, body
    got = {r.path: r for r in await receiver.wait_for(4, timeout_s=30)}
    expected = {f"/s{n}": (sealed[n]["secret"], auth[n]) for n in range(3)}
    expected["/legacy"] = (legacy_secret, "auth-legacy")
    assert set(got) == set(expected)
    basic = "Basic " + base64.b64encode(f"u:{password}".encode()).decode()
    for path, (secret, value) in expected.items():
        r = got[path]
        assert header(r, "X-Api-Key") == value and header(r, "Authorization") == basic
        assert orjson.loads(r.body)["id"] == 5
        assert verify(
            secret,
            header(r, "webhook-id"),
            int(header(r, "webhook-timestamp")),
            r.body,
            header(r, "webhook-signature"),
            now=int(time.time()),
        )


async def test_rotate_key_killed_midway_is_finished_by_running_it_again(
    keyed_stack: Stack, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    """The API SIGKILLed while rotate-key runs: run it again and every secret is under
    the new key, the table agreeing with the topic of record on every version."""
    stack = keyed_stack
    admin = Api(stack.api_url, http, stack.admin_token)
    status, made = await admin.call("POST", "/v2/admin/tenants", {"name": "crashing"})
    assert status == 201, made
    tenant = admin.as_key(made["value"]["apiKey"])
    for n in range(150):
        await subscribe(tenant, f"{receiver.url}/c{n}", authHeaderName="X", authHeaderValue=f"v{n}")
    current = stack.services["api"].env["HOOKLINE_SECRETS_KEYS"]
    await with_keys(stack, f"{new_key_entry('k4')},{current}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    env.update(HOOKLINE_API_URL=stack.api_url, HOOKLINE_ADMIN_TOKEN=stack.admin_token)
    proc = await asyncio.create_subprocess_exec(
        str(HOOKLINE),
        "secrets",
        "rotate-key",
        "--batch",
        "5",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    first = await asyncio.wait_for(proc.stderr.readline(), 60)
    assert first.startswith(b"checked 5 subscriptions"), first
    stack.services["api"].kill()
    await asyncio.wait_for(proc.wait(), 60)
    assert proc.returncode != 0, "rotate-key should have lost its API"
    await asyncio.to_thread(stack.services["api"].start)
    await asyncio.to_thread(stack.services["api"].wait_healthy)
    _, midway = await admin.call("GET", "/v2/admin/secrets")
    assert 0 < midway["value"]["toReseal"] < 150, midway

    out, _ = await hookline(stack, "secrets", "rotate-key", "--batch", "50")
    assert "re-sealed under k4" in out, out
    _, after = await admin.call("GET", "/v2/admin/secrets")
    assert after["value"]["toReseal"] == 0 and set(after["value"]["stored"]) == {"k4"}
    newest = await latest_records(stack)
    assert all(set(key_ids(r)) == {"k4"} for r in newest.values())
    conn = await asyncpg.connect(stack.env["HOOKLINE_DATABASE_URL"])
    try:
        rows = {
            r["id"]: r["version"] for r in await conn.fetch("SELECT id, version FROM subscriptions")
        }
    finally:
        await conn.close()
    assert rows == {i: r.version for i, r in newest.items()}


async def test_without_the_key_nothing_is_sent_and_the_api_answers_503(
    keyed_stack: Stack, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    """A deliverer without the key sends nothing and says why in the attempt log; an API
    without it answers 503 (never a 500, never the value). Last: it changes the keys."""
    stack = keyed_stack
    admin = Api(stack.api_url, http, stack.admin_token)
    status, made = await admin.call("POST", "/v2/admin/tenants", {"name": "keyless"})
    assert status == 201, made
    tenant = admin.as_key(made["value"]["apiKey"])
    auth = f"auth-{secrets.token_hex(8)}"
    sub = await subscribe(
        tenant, f"{receiver.url}/k", authHeaderName="X-Api-Key", authHeaderValue=auth
    )
    sealing = stack.services["api"].env["HOOKLINE_SECRETS_KEYS"].split(":", 1)[0]
    stack.services["deliverer"].env["HOOKLINE_SECRETS_KEYS"] = new_key_entry("k3")
    await asyncio.to_thread(stack.services["deliverer"].restart)
    status, body = await tenant.call(
        "POST", "/v2/event/publish", {"event": "product.create", "id": 6, "value": {"id": 6}}
    )
    assert status == 202, body

    async def refused() -> list[dict[str, object]]:
        logged = await attempts(tenant, sub["id"])
        return [a for a in logged["values"] if "do not open" in str(a.get("reason"))]

    (first, *_) = await eventually(refused, 30, "the attempt that could not open the secrets")
    assert f"'{sealing}'" in str(first["reason"]) and auth not in str(first)
    assert not receiver.received, "nothing sent without the secrets"
    await with_keys(stack, new_key_entry("k3"))
    status, answer = await tenant.call("GET", f"/v2/event/subscription/{sub['id']}/secret")
    assert status == 503 and answer["code"] == "unavailable", answer
    assert sub["secret"] not in str(answer)
