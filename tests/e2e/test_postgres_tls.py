"""PostgreSQL over TLS: ``HOOKLINE_DATABASE_URL`` with ``sslmode=verify-full`` and the CA
that signed the server, on a PostgreSQL of this module's own that refuses plain
connections. The API migrates, writes and reads there; an untrusted CA is refused."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator

import aiohttp
import asyncpg
import pytest

from support import postgres_tls
from support import stack as support_stack
from support.client import Api
from support.postgres_tls import TlsPostgres
from support.stack import ROOT, Service, free_port


@pytest.fixture(scope="module")
def pg() -> Iterator[TlsPostgres]:
    server = postgres_tls.start()
    try:
        yield server
    finally:
        postgres_tls.stop(server)


async def test_verify_full_connects_and_plain_or_untrusted_is_refused(pg: TlsPostgres) -> None:
    conn = await asyncpg.connect(pg.verify_full("hookline"))
    try:
        assert await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    finally:
        await conn.close()
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError, match="no encryption"):
        await asyncpg.connect(pg.url("hookline", sslmode="disable"))
    untrusted = pg.url("hookline", sslmode="verify-full", sslrootcert=str(pg.other_ca))
    with pytest.raises(ssl.SSLCertVerificationError):
        await asyncpg.connect(untrusted)


async def test_the_api_runs_on_postgres_over_verify_full(
    pg: TlsPostgres, infra: dict[str, str], http: aiohttp.ClientSession
) -> None:
    env = support_stack.test_settings(infra, pg.verify_full("hookline"))
    logs = ROOT / ".local" / "test-logs" / env["HOOKLINE_TOPIC_PREFIX"]
    logs.mkdir(parents=True, exist_ok=True)
    api = Service("api", {**env, "HOOKLINE_HTTP_PORT": str(free_port())}, logs / "api.log")
    api.start()
    try:
        await asyncio.to_thread(api.wait_healthy)
        admin = Api(f"http://127.0.0.1:{api.port}", http, env["HOOKLINE_ADMIN_TOKEN"])
        status, made = await admin.call("POST", "/v2/admin/tenants", {"name": "over-tls"})
        assert status == 201, made
    finally:
        api.kill()
    conn = await asyncpg.connect(pg.verify_full("hookline"))
    try:
        assert await conn.fetchval("SELECT count(*) FROM tenants WHERE name = 'over-tls'") == 1
    finally:
        await conn.close()
