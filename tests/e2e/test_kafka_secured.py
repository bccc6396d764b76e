"""Hookline on a secured Kafka: a broker of this module's own (the same jars, started by
deploy/local/stack.py on free ports) with a SASL_SSL listener, SCRAM users and a CA made
at test time, and a second listener that requires a client certificate (mutual TLS).

ACLs apply: the services' user may read and write its topics but create none, so the
topics are made beforehand by the broker's admin from ``hookline topics plan``'s list and
the services run with ``HOOKLINE_CREATE_TOPICS=0``. The delivery path runs end to end
over SASL_SSL; a wrong password, an untrusted certificate, a refused ACL and a missing
client certificate each stop a service at start, at once, with one line that names it; so does a
missing ACL on a topic, a group or a transactional id, found before the first send.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest
import pytest_asyncio
from aiokafka.admin import NewTopic

from hookline.core import kafka
from hookline.core.config import Settings
from hookline.core.errors import KafkaRefused
from hookline.core.keyring import new_key_entry
from hookline.core.topics import all_specs, retry_topics
from support import stack as support_stack
from support.broker import (
    ALL,
    ALLOW,
    CLUSTER,
    CREATE,
    DENY,
    GROUP,
    LITERAL,
    PREFIXED,
    READ,
    TOPIC,
    TRANSACTIONAL_ID,
    WRITE,
    Acl,
    Broker,
    grant,
)
from support.client import Api
from support.database import own_database
from support.receiver import Receiver
from support.stack import ROOT, Stack, free_port
from support.tls import TlsFiles, make_tls

PASSWORD = secrets.token_urlsafe(12)
ADMIN_PASSWORD = secrets.token_urlsafe(12)
PREFIX = "hlsec-"  # the ACLs cover the topics named so
ACLS = [
    Acl(TOPIC, PREFIX, PREFIXED, "User:hookline", ALL, ALLOW),
    Acl(TOPIC, PREFIX, PREFIXED, "User:hookline", CREATE, DENY),
    Acl(CLUSTER, "kafka-cluster", LITERAL, "User:hookline", CREATE, DENY),
]
REFUSAL_WITHIN_S = 40.0  # below the 60 s a service waits for a broker that is not up (a loaded
# machine takes 20 s and more to start a Python process and its clients)


@pytest.fixture(scope="module")
def broker() -> Iterator[tuple[Broker, TlsFiles]]:
    own = Broker(
        "secured-kafka",
        protocol="SASL_SSL",
        scram_users=f"admin={ADMIN_PASSWORD},hookline={PASSWORD}",
        mtls_port=str(free_port()),
        authorizer="1",
    )
    tls = make_tls(own.dir / "tls")
    own.start()
    try:
        yield own, tls
    finally:
        own.remove()


@pytest.fixture(scope="module")
def sasl_env(broker: tuple[Broker, TlsFiles]) -> dict[str, str]:
    own, tls = broker
    password_file = tls.dir / "hookline.password"
    password_file.write_text(PASSWORD + "\n")  # as a Kubernetes Secret is mounted
    return {
        "HOOKLINE_KAFKA_BOOTSTRAP": own.bootstrap,
        "HOOKLINE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "HOOKLINE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "HOOKLINE_KAFKA_SASL_USERNAME": "hookline",
        "HOOKLINE_KAFKA_SASL_PASSWORD_FILE": str(password_file),
        "HOOKLINE_KAFKA_SSL_CA_FILE": str(tls.ca),
    }


def mtls_env(broker: tuple[Broker, TlsFiles]) -> dict[str, str]:
    own, tls = broker
    return {
        "HOOKLINE_KAFKA_BOOTSTRAP": f"127.0.0.1:{own.env['HOOKLINE_LOCAL_KAFKA_MTLS_PORT']}",
        "HOOKLINE_KAFKA_SECURITY_PROTOCOL": "SSL",
        "HOOKLINE_KAFKA_SSL_CA_FILE": str(tls.ca),
        "HOOKLINE_KAFKA_SSL_CERT_FILE": str(tls.client_cert),
        "HOOKLINE_KAFKA_SSL_KEY_FILE": str(tls.client_key),
    }


def as_admin(sasl_env: dict[str, str]) -> Settings:
    return Settings.from_env(
        {
            **sasl_env,
            "HOOKLINE_KAFKA_SASL_USERNAME": "admin",
            "HOOKLINE_KAFKA_SASL_PASSWORD_FILE": "",
            "HOOKLINE_KAFKA_SASL_PASSWORD": ADMIN_PASSWORD,
        }
    )


async def provision(admin: Settings, settings: Settings) -> None:
    """What the platform team does: the topics of ``hookline topics plan``, as admin."""
    client = kafka.admin(admin)
    await client.start()
    try:
        specs = all_specs(settings)
        response = await client.create_topics(
            [NewTopic(s.name, s.partitions, 1, topic_configs=s.config) for s in specs]
        )
        assert all(e[1] == 0 for e in response.topic_errors), response.topic_errors
    finally:
        await client.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def secured(infra: dict[str, str], sasl_env: dict[str, str]) -> AsyncIterator[Stack]:
    await grant(as_admin(sasl_env), ACLS)
    async with own_database(infra["HOOKLINE_DATABASE_URL"], "hookline_secured") as db_url:
        env = {
            **support_stack.test_settings(infra, db_url),
            **sasl_env,
            "HOOKLINE_TOPIC_PREFIX": f"{PREFIX}{secrets.token_hex(4)}",
            "HOOKLINE_CREATE_TOPICS": "0",
        }
        await provision(as_admin(sasl_env), Settings.from_env(env))
        stack = Stack(env)
        logs = ROOT / ".local" / "test-logs" / env["HOOKLINE_TOPIC_PREFIX"]
        env["APP_DATADIR"] = str(logs / "router-data")
        try:
            await asyncio.to_thread(stack.start, logs)
            yield stack
        finally:
            await asyncio.to_thread(stack.stop)


async def test_a_delivery_flows_end_to_end_over_sasl_ssl(
    secured: Stack, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    admin = Api(secured.api_url, http, secured.admin_token)
    status, made = await admin.call("POST", "/v2/admin/tenants", {"name": "secured"})
    assert status == 201, made
    tenant = admin.as_key(made["value"]["apiKey"])
    body = {"event": "product.create", "targetUrl": f"{receiver.url}/secured"}
    status, sub = await tenant.call("POST", "/v2/event/subscription", body)
    assert status == 201, sub
    value = {"id": 7, "name": "over TLS"}
    deadline = time.monotonic() + 30
    while not receiver.received and time.monotonic() < deadline:
        # The router may take a moment to see the new subscription: publish until it does.
        status, _ = await tenant.call(
            "POST", "/v2/event/publish", {"event": "product.create", "id": 7, "value": value}
        )
        assert status == 202
        await asyncio.sleep(1)
    got = await receiver.wait_for(1, timeout_s=5)
    assert got[0].path == "/secured"
    assert orjson.loads(got[0].body)["value"] == value


def start_refused(env: dict[str, str], module: str) -> tuple[int, str, float]:
    """Start a service that the broker will refuse; its exit code, stderr and time taken."""
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", module],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")},
            # Every setting but Kafka's is right, so the refusal is what stops it.
            "HOOKLINE_SECRETS_KEYS": new_key_entry("refused"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=REFUSAL_WITHIN_S + 30,
        cwd=ROOT,
        check=False,
    )
    return done.returncode, done.stderr.strip(), time.monotonic() - began


def one_line(stderr: str) -> str:
    assert "\n" not in stderr, stderr
    assert "Traceback" not in stderr
    return stderr


@pytest.mark.parametrize("module", ["hookline.deliverer", "hookline.router"])
def test_a_wrong_password_stops_a_service_at_once_naming_the_setting(
    sasl_env: dict[str, str], tmp_path: Path, module: str
) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password")
    env = {**sasl_env, "HOOKLINE_KAFKA_SASL_PASSWORD_FILE": str(wrong)}
    code, stderr, took = start_refused({**env, "HOOKLINE_HTTP_PORT": str(free_port())}, module)
    assert code == 1
    line = one_line(stderr)
    assert "HOOKLINE_KAFKA_SASL_PASSWORD" in line
    assert "user 'hookline' (SCRAM-SHA-512)" in line
    assert "Authentication failed" in line  # the broker's own words
    assert "not-the-password" not in line
    assert took < REFUSAL_WITHIN_S


def test_an_untrusted_broker_certificate_stops_a_service_naming_the_ca_setting(
    sasl_env: dict[str, str], broker: tuple[Broker, TlsFiles]
) -> None:
    env = {**sasl_env, "HOOKLINE_KAFKA_SSL_CA_FILE": str(broker[1].other_ca)}
    code, stderr, took = start_refused(env, "hookline.api")
    assert code == 1
    line = one_line(stderr)
    assert "HOOKLINE_KAFKA_SSL_CA_FILE: the broker's certificate is not trusted" in line
    assert took < REFUSAL_WITHIN_S


async def test_a_refused_acl_stops_a_service_naming_what_it_was_refused(
    secured: Stack, sasl_env: dict[str, str]
) -> None:
    # The services' user may not create topics (``ACLS``): with HOOKLINE_CREATE_TOPICS=1
    # on topics nobody provisioned, the API cannot start.
    env = {**sasl_env, "HOOKLINE_TOPIC_PREFIX": f"{PREFIX}{secrets.token_hex(4)}"}
    code, stderr, took = start_refused(env, "hookline.api")
    assert code == 1
    line = one_line(stderr)
    assert "the broker refused User:hookline to create" in line
    assert f"{env['HOOKLINE_TOPIC_PREFIX']}.events" in line
    assert "TOPIC_AUTHORIZATION_FAILED: a missing ACL" in line
    assert "HOOKLINE_CREATE_TOPICS=0" in line
    assert took < REFUSAL_WITHIN_S


async def _provisioned(secured: Stack, sasl_env: dict[str, str]) -> dict[str, str]:
    """Settings for a service on topics of its own, made by the admin."""
    prefix = f"{PREFIX}{secrets.token_hex(4)}"
    env = {**sasl_env, "HOOKLINE_TOPIC_PREFIX": prefix, "HOOKLINE_CREATE_TOPICS": "0"}
    env["HOOKLINE_DATABASE_URL"] = secured.env["HOOKLINE_DATABASE_URL"]
    env["HOOKLINE_HTTP_PORT"] = str(free_port())
    await provision(as_admin(sasl_env), Settings.from_env(env))
    return env


async def refused_for(env: dict[str, str], sasl_env: dict[str, str], acl: Acl, module: str) -> str:
    """Deny ``acl``, start ``module``: the one line it stops with, at once, exit 1."""
    await grant(as_admin(sasl_env), [acl])
    code, stderr, took = start_refused(env, module)
    assert code == 1
    assert took < REFUSAL_WITHIN_S
    return one_line(stderr)


@pytest.mark.parametrize("service", ["deliverer", "router"])
async def test_a_group_a_service_may_not_join_stops_it_naming_the_group(
    secured: Stack, sasl_env: dict[str, str], service: str
) -> None:
    env = await _provisioned(secured, sasl_env)
    group = f"{env['HOOKLINE_TOPIC_PREFIX']}-{service}"  # the router's: its Faust app's
    acl = Acl(GROUP, group, LITERAL, "User:hookline", READ, DENY)
    line = await refused_for(env, sasl_env, acl, f"hookline.{service}")
    assert f"a missing ACL for User:hookline: it needs Read on group {group}" in line


async def test_a_transactional_id_the_retry_scheduler_may_not_use_stops_it_naming_it(
    secured: Stack, sasl_env: dict[str, str]
) -> None:
    env = await _provisioned(secured, sasl_env)
    ids = f"{env['HOOKLINE_TOPIC_PREFIX']}-retry-scheduler-"
    acl = Acl(TRANSACTIONAL_ID, ids, PREFIXED, "User:hookline", ALL, DENY)
    line = await refused_for(env, sasl_env, acl, "hookline.retry_scheduler")
    assert f"Write and Describe on transactional id {ids}" in line


async def test_a_topic_the_deliverer_may_not_write_stops_it_at_start_naming_each(
    secured: Stack, sasl_env: dict[str, str]
) -> None:
    # Write on a topic is otherwise first needed at the first failed delivery.
    env = await _provisioned(secured, sasl_env)
    retries = f"{env['HOOKLINE_TOPIC_PREFIX']}.retry."
    acl = Acl(TOPIC, retries, PREFIXED, "User:hookline", WRITE, DENY)
    line = await refused_for(env, sasl_env, acl, "hookline.deliverer")
    for topic in retry_topics(Settings.from_env(env)):
        assert f"Write on topic {topic}" in line
    assert "Read on" not in line  # what it may do is not named


async def test_mutual_tls_clients_produce_and_consume(broker: tuple[Broker, TlsFiles]) -> None:
    settings = Settings.from_env(mtls_env(broker))
    await kafka.check_access(settings, timeout_s=10)
    topic = f"hltest-mtls-{secrets.token_hex(3)}"
    producer = kafka.producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"over mutual TLS")
    finally:
        await producer.stop()
    consumer = kafka.consumer(settings, topic, group=None)
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 20)
        assert record.value == b"over mutual TLS"
    finally:
        await consumer.stop()


async def test_without_a_client_certificate_the_mtls_listener_refuses_naming_it(
    broker: tuple[Broker, TlsFiles],
) -> None:
    env = mtls_env(broker)
    del env["HOOKLINE_KAFKA_SSL_CERT_FILE"], env["HOOKLINE_KAFKA_SSL_KEY_FILE"]
    began = time.monotonic()
    with pytest.raises(KafkaRefused, match="HOOKLINE_KAFKA_SSL_CERT_FILE"):
        await kafka.check_access(Settings.from_env(env), timeout_s=10)
    assert time.monotonic() - began < REFUSAL_WITHIN_S


async def test_a_source_the_router_may_not_read_is_one_line_and_the_router_goes_on(
    secured: Stack, sasl_env: dict[str, str], http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    admin = Api(secured.api_url, http, secured.admin_token)
    name = f"denied-{secrets.token_hex(3)}"
    topic = f"foreign-{secrets.token_hex(3)}"  # outside the services' prefix
    group = f"{secured.env['HOOKLINE_TOPIC_PREFIX']}-router-source-{name}"
    client = kafka.admin(as_admin(sasl_env))
    await client.start()
    try:
        await client.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await client.close()
    await grant(
        as_admin(sasl_env),
        [
            Acl(TOPIC, topic, LITERAL, "User:hookline", ALL, DENY),
            Acl(GROUP, group, LITERAL, "User:hookline", READ, DENY),
        ],
    )
    status, body = await admin.call(
        "PUT", f"/v2/admin/sources/{name}", {"topic": topic, "format": "cloudevents"}
    )
    assert status == 201, body

    log = secured.services["router"].log

    async def lines_of_the_source(at_least: int, within_s: float) -> list[str]:
        deadline = time.monotonic() + within_s
        while True:
            found = [line for line in log.read_text().splitlines() if f"source {name}" in line]
            if len(found) >= at_least or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.5)

    lines = await lines_of_the_source(1, 30)
    assert len(lines) == 1, lines  # one line, no traceback, until it tries again in 30 s
    assert (
        f"source {name} cannot read topic {topic}: a missing ACL for User:hookline: it needs"
        f" Read and Describe on topic {topic}; Read on group {group}"
    ) in lines[0]
    assert "it starts again in 30 s" in lines[0] and "Traceback" not in lines[0]
    deadline = time.monotonic() + 30

    # The router goes on: an event published now is delivered.
    status, made = await admin.call("POST", "/v2/admin/tenants", {"name": f"{name}-t"})
    assert status == 201, made
    tenant = admin.as_key(made["value"]["apiKey"])
    target = {"event": "product.update", "targetUrl": f"{receiver.url}/{name}"}
    status, sub = await tenant.call("POST", "/v2/event/subscription", target)
    assert status == 201, sub
    while not [r for r in receiver.received if r.path == f"/{name}"]:
        assert time.monotonic() < deadline + 30, "the router stopped delivering"
        status, _ = await tenant.call(
            "POST", "/v2/event/publish", {"event": "product.update", "id": 1, "value": {"id": 1}}
        )
        assert status == 202
        await asyncio.sleep(1)
    again = await lines_of_the_source(2, 45)  # it tried again, and said the same
    assert len(again) == 2 and again[1].split('"msg"')[1] == lines[0].split('"msg"')[1], again
    await admin.call("DELETE", f"/v2/admin/sources/{name}")
