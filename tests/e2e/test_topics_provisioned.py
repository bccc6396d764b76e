"""``HOOKLINE_CREATE_TOPICS=0`` on the real broker: the services create no topic, check
at start that every topic exists and will do, and stop with the list of what does not.

(The delivery path on provisioned topics, with no right to create any, runs in
tests/e2e/test_kafka_secured.py.)
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest_asyncio
from aiokafka.admin import NewTopic

from hookline.core import kafka
from hookline.core.config import Settings
from hookline.core.keyring import new_key_entry
from hookline.core.topics import TopicSpec, all_specs
from support.stack import ROOT, Service, free_port

WITHIN_S = 20.0


def provisioned_env(infra: dict[str, str]) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")},
        **infra,
        "HOOKLINE_TOPIC_PREFIX": f"hltest-prov-{secrets.token_hex(4)}",
        "HOOKLINE_PARTITIONS": "2",
        "HOOKLINE_CREATE_TOPICS": "0",
        "HOOKLINE_ADMIN_TOKEN": secrets.token_urlsafe(8),
        "HOOKLINE_SECRETS_KEYS": new_key_entry("prov"),
    }


async def create(settings: Settings, specs: list[TopicSpec]) -> None:
    admin = kafka.admin(settings)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(s.name, s.partitions, 1, topic_configs=s.config) for s in specs]
        )
    finally:
        await admin.close()


async def topics_of(settings: Settings) -> set[str]:
    admin = kafka.admin(settings)
    await admin.start()
    try:
        return {t for t in await admin.list_topics() if t.startswith(settings.topic_prefix)}
    finally:
        await admin.close()


@pytest_asyncio.fixture(loop_scope="session")
async def env(infra: dict[str, str]) -> AsyncIterator[dict[str, str]]:
    made = provisioned_env(infra)
    yield made
    admin = kafka.admin(Settings.from_env(made))
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(made["HOOKLINE_TOPIC_PREFIX"])]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


def start(env: dict[str, str], module: str) -> tuple[int, str, float]:
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", module],
        env={**env, "HOOKLINE_HTTP_PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=WITHIN_S + 30,
        cwd=ROOT,
        check=False,
    )
    return done.returncode, done.stderr.strip(), time.monotonic() - began


async def owns_every_events_partition(router: Service, partitions: int) -> None:
    """The router's Faust consumer joined its group: past where it would create topics."""
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            async with http.get(f"http://127.0.0.1:{router.port}/healthz") as rsp:
                if (await rsp.json())["eventPartitions"] == partitions:
                    return
            await asyncio.sleep(0.5)
    raise AssertionError(f"the router never owned the events partitions; see {router.log}")


async def test_with_no_topics_a_service_stops_listing_every_one_and_creates_none(
    env: dict[str, str],
) -> None:
    code, stderr, took = start(env, "hookline.api")
    assert code == 1
    assert "\n" not in stderr and "Traceback" not in stderr
    settings = Settings.from_env(env)
    specs = all_specs(settings)
    assert f"HOOKLINE_CREATE_TOPICS=0 and {len(specs)} topic(s) will not do" in stderr
    for spec in specs:
        assert f"{spec.name} ({spec.partitions} partitions" in stderr
    assert "missing (or this client may not Describe it)" in stderr
    assert "`hookline topics plan`" in stderr
    assert took < WITHIN_S
    # Not even the broker's auto-creation was set off by the check.
    assert await topics_of(settings) == set()


async def test_a_topic_that_is_not_compacted_is_named_with_what_it_must_be(
    env: dict[str, str],
) -> None:
    settings = Settings.from_env(env)
    specs = all_specs(settings)
    subscriptions = f"{settings.topic_prefix}.subscriptions"
    wrong = [TopicSpec(s.name, s.partitions) if s.name == subscriptions else s for s in specs]
    await create(settings, wrong)
    code, stderr, _ = start(env, "hookline.deliverer")
    assert code == 1
    assert "1 topic(s) will not do" in stderr
    assert f"{subscriptions} (" in stderr
    assert "cleanup.policy is delete, must be compact" in stderr


async def test_the_services_start_on_the_planned_topics_and_create_no_other(
    env: dict[str, str],
) -> None:
    settings = Settings.from_env(env)
    await create(settings, all_specs(settings))
    logs = ROOT / ".local" / "test-logs" / settings.topic_prefix
    logs.mkdir(parents=True, exist_ok=True)
    services = [
        Service(name, {**env, "HOOKLINE_HTTP_PORT": str(free_port())}, logs / f"{name}.log")
        for name in ("router", "retry_scheduler")
    ]
    services[0].env["APP_DATADIR"] = str(logs / "router-data")
    try:
        for svc in services:
            svc.start()
        for svc in services:
            svc.wait_healthy()
        await owns_every_events_partition(services[0], settings.partitions)
        assert await topics_of(settings) == {s.name for s in all_specs(settings)}
    finally:
        for svc in services:
            svc.kill()
