"""The ``hookline`` command against the real stack: subscriptions, publish, tail, replay."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click
import orjson
import pytest
import pytest_asyncio
from aiohttp import web
from click.testing import CliRunner

from hookline.cli import cli
from hookline.core import kafka, topics
from hookline.core.config import Settings
from hookline.core.signing import verify
from support.client import Api
from support.receiver import Receiver
from support.stack import Stack, free_port

HOOKLINE = Path(sys.executable).with_name("hookline")  # what `make venv` installs


@dataclass
class Done:
    code: int
    out: str
    err: str


def cli_env(stack: Stack, key: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    env.update(
        HOOKLINE_API_URL=stack.api_url,
        HOOKLINE_ADMIN_TOKEN=stack.admin_token,
        HOOKLINE_KAFKA_BOOTSTRAP=stack.env["HOOKLINE_KAFKA_BOOTSTRAP"],
        HOOKLINE_TOPIC_PREFIX=stack.env["HOOKLINE_TOPIC_PREFIX"],
    )
    if key:
        env["HOOKLINE_API_KEY"] = key
    return env


async def run(env: dict[str, str], *args: str, timeout_s: float = 60) -> Done:
    """Runs ``hookline`` without blocking the loop (the test's receiver runs on it)."""
    proc = await asyncio.create_subprocess_exec(
        str(HOOKLINE),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    assert proc.returncode is not None
    return Done(proc.returncode, out.decode(), err.decode())


def walk(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += walk(command, (*path, name))
        else:
            found.append((*path, name))
    return found


def test_every_command_has_help_text() -> None:
    runner = CliRunner()
    commands = walk(cli)
    assert {("up",), ("down",), ("publish",), ("tail",), ("replay",)} <= set(commands)
    assert {("subscriptions", "list"), ("subscriptions", "create")} <= set(commands)
    for path in commands:
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        usage, _, rest = result.output.partition("\n\n")
        assert usage.startswith("Usage: "), path
        description = rest.strip().splitlines()[0]
        assert len(description) > 15 and not description.startswith("Options:"), (path, rest)


async def test_the_installed_command_runs() -> None:
    assert HOOKLINE.is_file(), "run `make venv`: it installs .venv/bin/hookline"
    done = await run({**os.environ}, "--help")
    assert done.code == 0 and "subscriptions" in done.out and "tail" in done.out


async def test_create_list_publish_and_tail_a_delivery(
    stack: Stack, tenant: Api, receiver: Receiver
) -> None:
    env = cli_env(stack, tenant.key)
    created = await run(
        env, "subscriptions", "create", "--event", "product.create",
        "--target-url", f"{receiver.url}/cli", "--fields", "id,name",
    )  # fmt: skip
    assert created.code == 0, created.err
    found = re.search(r"subscription (\d+) \(ACTIVE\) -> (\S+)", created.out)
    secret = re.search(r"signing secret, shown once: (whsec_\S+)", created.out)
    assert found and secret, created.out
    sub_id = int(found.group(1))
    assert found.group(2) == f"{receiver.url}/cli"

    listed = await run(env, "subscriptions", "list")
    assert listed.code == 0, listed.err
    row = next(line for line in listed.out.splitlines() if line.split()[:1] == [str(sub_id)])
    assert "ACTIVE" in row and "product.create" in row and f"{receiver.url}/cli" in row

    tail = await asyncio.create_subprocess_exec(
        str(HOOKLINE), "tail", "--subscription", str(sub_id), "--max", "1", "--timeout", "30",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert tail.stderr is not None and tail.stdout is not None
        first = await asyncio.wait_for(tail.stderr.readline(), 30)
        assert first.startswith(b"following ") and b".attempts" in first, first

        published = await run(
            env, "publish", "product.create", "--id", "42",
            "--value", '{"id": 42, "name": "Widget", "price": 9.5}',
        )  # fmt: skip
        assert published.code == 0 and published.out.startswith("published product.create")

        (got,) = await receiver.wait_for(1, timeout_s=15)
        assert orjson.loads(got.body) == {
            "subscriptionId": sub_id,
            "event": "product.create",
            "id": 42,
            "value": {"id": 42, "name": "Widget"},
        }
        headers = {k.lower(): v for k, v in got.headers.items()}
        assert verify(
            secret.group(1),
            headers["webhook-id"],
            int(headers["webhook-timestamp"]),
            got.body,
            headers["webhook-signature"],
            now=int(time.time()),
        )
        line = (await asyncio.wait_for(tail.stdout.readline(), 30)).decode()
        assert await asyncio.wait_for(tail.wait(), 30) == 0
    finally:
        if tail.returncode is None:
            tail.kill()
            await tail.wait()
    assert f"sub={sub_id} " in line and " success " in line and " 200 " in line, line
    assert headers["webhook-id"] in line and "product.create" in line


async def test_tenants_create_prints_a_key_that_works(stack: Stack, admin: Api) -> None:
    done = await run(cli_env(stack, None), "tenants", "create", "cli-made")
    assert done.code == 0, done.err
    key = re.search(r"export HOOKLINE_API_KEY=(hl_\S+)", done.out)
    assert key, done.out
    status, body = await admin.as_key(key.group(1)).call("GET", "/v2/event")
    assert status == 200 and "product.create" in body["value"]


async def test_a_missing_key_is_a_clear_error(stack: Stack) -> None:
    done = await run(cli_env(stack, None), "subscriptions", "list")
    assert done.code == 1
    assert "no API key: set HOOKLINE_API_KEY" in done.err


async def test_replay_on_the_real_api(stack: Stack, tenant: Api, receiver: Receiver) -> None:
    """Either the API replays (the receiver gets the event again) or the command says
    plainly that this API cannot replay yet."""
    since = datetime.now(UTC).isoformat(timespec="seconds")
    body = {"event": "product.create", "targetUrl": f"{receiver.url}/replay"}
    status, created = await tenant.call("POST", "/v2/event/subscription", body)
    assert status == 201
    sub_id = created["value"]["id"]
    events = [
        {"event": "product.create", "id": 5, "value": {"id": 5}},
        {"event": "product.update", "id": 5, "value": {"id": 5}},  # not subscribed to
    ]
    assert (await tenant.call("POST", "/v2/event/publish", events))[0] == 202
    await receiver.wait_for(1, timeout_s=15)

    env = cli_env(stack, tenant.key)
    done = await run(
        env, "replay", str(sub_id), "--since", since, "--timeout", "60", "--poll", "0.2"
    )
    if "cannot replay yet" in done.err:
        assert done.code == 1
        assert f"POST /v2/event/subscription/{sub_id}/replay answered 404" in done.err
        pytest.skip("this API has no replay endpoint yet; the command says so")
    assert done.code == 0, done.err
    # Every event on the topic since then is looked at, other tenants' too (other tests
    # publish in the same second); exactly one of them is this subscription's.
    replayed = re.search(
        rf"replayed 1 events to subscription {sub_id} \((\d+) looked at\)", done.out
    )
    assert replayed and int(replayed.group(1)) >= 2, done
    again = await receiver.wait_for(2, timeout_s=15)
    assert again[1].body == again[0].body


@pytest_asyncio.fixture(loop_scope="session")
async def fake_replay_api() -> AsyncIterator[tuple[str, list[str]]]:
    """An API that replays 3 events, one more on each poll."""
    seen: list[str] = []
    polls = 0

    async def start(request: web.Request) -> web.Response:
        seen.append(f"POST {request.path} {(await request.json())['since']}")
        value = {"id": 7, "status": "RUNNING", "total": 3, "done": 0}
        return web.json_response({"value": value}, status=202)

    async def progress(request: web.Request) -> web.Response:
        nonlocal polls
        polls += 1
        seen.append(f"GET {request.path}")
        done = min(polls, 3)
        state = "DONE" if done == 3 else "RUNNING"
        return web.json_response({"value": {"id": 7, "status": state, "total": 3, "done": done}})

    app = web.Application()
    app.router.add_post("/v2/event/subscription/5/replay", start)
    app.router.add_get("/v2/event/subscription/5/replay/7", progress)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


async def test_replay_follows_progress_until_done(fake_replay_api: tuple[str, list[str]]) -> None:
    base, seen = fake_replay_api
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    env.update(HOOKLINE_API_URL=base, HOOKLINE_API_KEY="hl_test")
    done = await run(env, "replay", "5", "--since", "2026-11-25T10:00:00+01:00", "--poll", "0.05")
    assert done.code == 0, done.err
    assert done.out.strip() == "replayed 3 events to subscription 5 (3 looked at)"
    assert "replaying subscription 5" in done.err
    assert seen[0] == "POST /v2/event/subscription/5/replay 2026-11-25T09:00:00Z"
    assert seen[1:] == ["GET /v2/event/subscription/5/replay/7"] * 3


async def test_receive_prints_a_delivery_and_checks_its_signature(
    stack: Stack, tenant: Api
) -> None:
    """The README's first delivery: `hookline receive` as the subscription's target."""
    port = free_port()
    body = {"event": "product.create", "targetUrl": f"http://127.0.0.1:{port}/hook"}
    status, created = await tenant.call("POST", "/v2/event/subscription", body)
    assert status == 201
    secret = created["value"]["secret"]
    proc = await asyncio.create_subprocess_exec(
        str(HOOKLINE), "receive", "--port", str(port), "--secret", secret,
        env=cli_env(stack, None), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stderr is not None and proc.stdout is not None
        ready = await asyncio.wait_for(proc.stderr.readline(), 15)
        assert ready.startswith(f"receiving on http://127.0.0.1:{port}/".encode()), ready
        event = {"event": "product.create", "id": 77, "value": {"id": 77, "name": "Lamp"}}
        assert (await tenant.call("POST", "/v2/event/publish", event))[0] == 202
        head = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode()
        payload = (await asyncio.wait_for(proc.stdout.readline(), 5)).decode()
    finally:
        proc.terminate()
        await proc.wait()
    assert " POST /hook msg_" in head and head.rstrip().endswith("signature ok -> 200"), head
    assert orjson.loads(payload) == {
        "subscriptionId": created["value"]["id"],
        "event": "product.create",
        "id": 77,
        "value": {"id": 77, "name": "Lamp"},
    }


async def test_quarantine_list_and_redrive(stack: Stack, admin: Api) -> None:
    settings = Settings.from_env(stack.env)
    marker = f"cli-{time.time_ns()}"
    producer = kafka.producer(settings)
    await producer.start()
    try:
        raw = orjson.dumps({"v": 1, "tenant": marker, "event": None})
        await producer.send_and_wait(topics.events(settings), raw, key=b"k")
    finally:
        await producer.stop()
    env = cli_env(stack, None)
    deadline = time.monotonic() + 30
    while True:
        listed = await run(env, "quarantine", "list", "--tenant", marker, "--held")
        assert listed.code == 0, listed.err
        if listed.out.strip() or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    [line] = listed.out.strip().splitlines()
    assert " router " in line and f"tenant={marker}" in line and "MessageError" in line
    entry_id = line.split()[0]
    done = await run(env, "quarantine", "redrive", entry_id, "--value", '{"v": 1, "fixed": true}')
    assert done.code == 0 and f"re-drove {entry_id} to {topics.events(settings)}" in done.out
    again = await run(env, "quarantine", "redrive", entry_id)
    assert again.code == 1 and "re-driven already" in again.err
