"""Session fixtures: the real broker and database, the four services, a receiver.

Kafka and PostgreSQL are the ones in ``HOOKLINE_KAFKA_BOOTSTRAP`` and
``HOOKLINE_DATABASE_URL`` or else started by ``deploy/local/stack.py infra``. The
services run as child processes with their own topic prefix and a fresh database,
so a test run never touches a stack started by ``make up``.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from hypothesis import settings as hypothesis_settings

from support.client import Api
from support.client import session as client_session
from support.database import own_database
from support.receiver import Receiver
from support.stack import ROOT, Stack, infra_env, test_settings


@pytest.fixture(scope="session")
def infra() -> dict[str, str]:
    return infra_env()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def database_url(infra: dict[str, str]) -> AsyncIterator[str]:
    async with own_database(infra["HOOKLINE_DATABASE_URL"]) as url:
        yield url


@pytest.fixture(scope="session")
def stack(infra: dict[str, str], database_url: str) -> Iterator[Stack]:
    env = test_settings(infra, database_url)
    running = Stack(env)
    logs = ROOT / ".local" / "test-logs" / env["HOOKLINE_TOPIC_PREFIX"]
    try:
        running.start(logs)
        yield running
    finally:
        running.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with client_session() as session:
        yield session


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def admin(stack: Stack, http: aiohttp.ClientSession) -> Api:
    return Api(stack.api_url, http, stack.admin_token)


@pytest_asyncio.fixture(loop_scope="session")
async def tenant(admin: Api) -> Api:
    """A new tenant for each test, so tests never see each other's subscriptions."""
    status, body = await admin.call(
        "POST", "/v2/admin/tenants", {"name": f"t-{secrets.token_hex(3)}"}
    )
    assert status == 201, body
    return admin.as_key(body["value"]["apiKey"])


@pytest_asyncio.fixture(loop_scope="session")
async def receiver() -> AsyncIterator[Receiver]:
    rcv = Receiver()
    await rcv.start()
    yield rcv
    await rcv.stop()


def pytest_configure(config: pytest.Config) -> None:
    (Path(ROOT) / ".local").mkdir(exist_ok=True)


# No per-example deadline: on a shared 2-core machine an example can take seconds for
# reasons of its neighbours, and a property is about results, not speed (make bench is).
hypothesis_settings.register_profile("hookline", deadline=None)
hypothesis_settings.load_profile("hookline")

# Fixtures that reach the real broker or database: a test that uses one (directly or
# through another fixture) is end to end.
REAL_FIXTURES = frozenset({"infra", "database_url", "stack"})
TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by what they need, so ``make test-unit`` can leave out the slow ones:
    ``chaos`` for tests/chaos, ``e2e`` for tests/e2e and for any test that uses the real
    broker or database through a fixture (see ``REAL_FIXTURES``)."""
    for item in items:
        part = item.path.relative_to(TESTS).parts[0]
        if part == "chaos":
            item.add_marker(pytest.mark.chaos)
        elif part == "e2e" or REAL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)
