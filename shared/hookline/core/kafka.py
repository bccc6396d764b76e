"""Kafka clients set up the one way Hookline uses them, and topic creation.

Every aiokafka client of every service, the CLI and the bench is made here, so that each
gets the security settings (``hookline.core.kafka_auth``). aiokafka's errors are
translated here into ``KafkaUnavailable``, or ``KafkaRefused`` when the broker refused
this client (a wrong password, an untrusted certificate, a missing ACL): that one is
never waited out (both in ``hookline.core.errors``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition, errors
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError

from hookline.core.config import Settings
from hookline.core.errors import KafkaRefused, KafkaUnavailable, TopicsUnusable
from hookline.core.failure import Backoff, is_infra, retry
from hookline.core.kafka_auth import client_options, explain, principal
from hookline.core.topics import FoundTopic, all_specs, describe, topic_specs, unusable

log = logging.getLogger(__name__)


def producer(settings: Settings, **overrides: object) -> AIOKafkaProducer:
    """A producer that waits for every in-sync replica (``acks=all``) and never duplicates.

    No linger: aiokafka keeps one produce request in flight per broker, and every
    message handed over while it is in flight goes out together in the next one. So
    a lone message leaves at once, and under load the batches grow by themselves
    (a group commit: one ``acks=all`` round trip for every message waiting), where
    a linger made every message wait 5 ms, busy or idle.
    """
    options: dict[str, object] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        **client_options(settings),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 0,
        "max_batch_size": 256 * 1024,
        "compression_type": None,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


def consumer(
    settings: Settings, *topics: str, group: str | None, **overrides: object
) -> AIOKafkaConsumer:
    """A consumer whose offsets are committed by the caller, never automatically."""
    options: dict[str, object] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        **client_options(settings),
        "group_id": group,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": 500,
        "fetch_max_wait_ms": 100,
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


def admin(settings: Settings, **overrides: object) -> AIOKafkaAdminClient:
    """An admin client (topic creation and inspection)."""
    options: dict[str, object] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        **client_options(settings),
    }
    options.update(overrides)
    return AIOKafkaAdminClient(**options)


async def check_access(settings: Settings, timeout_s: float = 60.0) -> None:
    """Connect and authenticate the way every client will. A broker that is not up yet
    is waited for (at most ``timeout_s``); one that refuses raises ``KafkaRefused`` at once.

    aiokafka's clients log a refused connection and report only "Unable to bootstrap",
    so the refusal is looked for here, on one connection of its own.
    """

    async def connect() -> None:
        try:
            await _authenticate(settings, max(1.0, min(10.0, timeout_s)))
        except (TimeoutError, OSError, KafkaError) as exc:
            _raise_refused(exc, settings)
            raise KafkaUnavailable(
                f"cannot reach Kafka at {settings.kafka_bootstrap} "
                f"(HOOKLINE_KAFKA_BOOTSTRAP): {exc or type(exc).__name__}"
            ) from exc

    await _waiting_for_the_broker(connect, settings, timeout_s)


# A broker that is starting is asked again about every second.
_WAIT = Backoff(first_s=1.0, max_s=1.0)


def _not_up_yet(exc: BaseException) -> bool:
    """What waiting for the broker waits out: it is out of reach, it did not refuse us."""
    return isinstance(exc, KafkaUnavailable) and is_infra(exc)


async def _waiting_for_the_broker(
    op: Callable[[], Awaitable[None]], settings: Settings, timeout_s: float
) -> None:
    what = f"waiting for Kafka at {settings.kafka_bootstrap}"
    await retry(op, what=what, when=_not_up_yet, give_up_after_s=timeout_s, backoff=_WAIT)


async def _authenticate(settings: Settings, timeout_s: float) -> None:
    failure: BaseException | None = None
    for server in settings.kafka_bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            conn = await create_conn(
                host.strip("[]"),
                int(port),
                request_timeout_ms=int(timeout_s * 1000),
                **client_options(settings),
            )
        except (TimeoutError, OSError, KafkaError) as exc:
            _raise_refused(exc, settings)
            failure = exc
            continue
        conn.close()
        return
    assert failure is not None
    raise failure


def _raise_refused(exc: BaseException, settings: Settings) -> None:
    for cause in (exc, exc.__cause__, exc.__context__):
        refused = explain(cause, settings) if cause is not None else None
        if refused:
            raise KafkaRefused(f"Kafka at {settings.kafka_bootstrap} refused: {refused}") from exc


async def ensure_topics(settings: Settings, timeout_s: float = 60.0) -> None:
    """Create every topic in ``topic_specs`` that does not exist yet; safe to run twice.
    With ``HOOKLINE_CREATE_TOPICS=0``, check instead that every topic Hookline uses
    (``all_specs``) exists and will do, and raise ``TopicsUnusable`` if one does not."""
    await check_access(settings, timeout_s)

    async def make_or_check() -> None:
        try:
            if settings.create_topics:
                await _create_topics(settings)
            else:
                await _check_topics(settings)
        except KafkaError as exc:
            _raise_refused(exc, settings)
            raise KafkaUnavailable(
                f"cannot create topics on {settings.kafka_bootstrap}: {exc}"
            ) from exc

    await _waiting_for_the_broker(make_or_check, settings, timeout_s)


async def _create_topics(settings: Settings) -> None:
    client = admin(settings)
    await client.start()
    try:
        existing = set(await client.list_topics())
        missing = [
            NewTopic(
                name=spec.name,
                num_partitions=spec.partitions,
                replication_factor=settings.replication_factor,
                topic_configs=spec.config,
            )
            for spec in topic_specs(settings)
            if spec.name not in existing
        ]
        if missing:
            await _create(client, missing, settings)
    finally:
        await client.close()


async def _check_topics(settings: Settings) -> None:
    client = admin(settings)
    await client.start()
    try:
        found = await _found_topics(client, {spec.name for spec in all_specs(settings)})
    finally:
        await client.close()
    problems = [
        f"{describe(spec)}: {_hint(why)}"
        for spec in all_specs(settings)
        if (why := unusable(spec, found.get(spec.name)))
    ]
    if problems:
        raise TopicsUnusable(
            f"HOOKLINE_CREATE_TOPICS=0 and {len(problems)} topic(s) will not do: "
            + "; ".join(problems)
            + " (`hookline topics plan` prints how to create them)"
        )
    for spec in all_specs(settings):
        if found[spec.name].config is None:
            log.warning("cannot read the configs of %s (no DescribeConfigs ACL)", spec.name)


def _hint(why: str) -> str:
    if why == "missing":
        return "missing (or this client may not Describe it)"
    return why


async def _found_topics(client: AIOKafkaAdminClient, wanted: set[str]) -> dict[str, FoundTopic]:
    """The wanted topics that exist, with their configs. All topics' metadata is asked,
    never the wanted ones by name: that would create them on a broker that auto-creates."""
    partitions = {
        t["topic"]: len(t["partitions"])
        for t in await client.describe_topics(None)
        if t["topic"] in wanted and t["error_code"] == 0
    }
    configs: dict[str, dict[str, str] | None] = dict.fromkeys(partitions)
    if partitions:
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in partitions]
        for response in await client.describe_configs(resources):
            for res in response.to_object()["resources"]:
                if res["error_code"] == 0:
                    configs[res["resource_name"]] = {
                        e["config_names"]: e["config_value"] for e in res["config_entries"]
                    }
    return {name: FoundTopic(n, configs[name]) for name, n in partitions.items()}


_TOPIC_ALREADY_EXISTS = 36
_DENIED = (errors.TopicAuthorizationFailedError.errno, errors.ClusterAuthorizationFailedError.errno)


async def _create(
    admin: AIOKafkaAdminClient, topics: Iterable[NewTopic], settings: Settings
) -> None:
    response = await admin.create_topics(list(topics))
    # Another service may have created some at the same moment: that is the goal.
    failed = [e for e in response.topic_errors if e[1] not in (0, _TOPIC_ALREADY_EXISTS)]
    denied = sorted(e[0] for e in failed if e[1] in _DENIED)
    if denied:
        code = next(e[1] for e in failed if e[1] in _DENIED)
        raise KafkaRefused(
            f"the broker refused {principal(settings)} to create {', '.join(denied)} "
            f"({errors.for_code(code).message}: a missing ACL): grant it Create on them, or "
            "create them as `hookline topics plan` prints and set HOOKLINE_CREATE_TOPICS=0"
        )
    if failed:
        raise KafkaUnavailable(f"the broker refused to create topics: {failed}")


async def assign_all(client: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Assign every partition of ``topic`` to a consumer outside any group."""
    partitions: set[int] | None = None
    for _ in range(50):  # a topic created a moment ago takes a while to reach the metadata
        # consumer.topics() fetches metadata into a copy of the cluster view; ask it directly.
        partitions = (await client._client.fetch_all_metadata()).partitions_for_topic(topic)
        if partitions:
            break
        await asyncio.sleep(0.2)
    if not partitions:
        raise KafkaUnavailable(f"topic {topic} does not exist")
    assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
    client.assign(assigned)
    return assigned


async def lagging(client: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    """Whether the consumer's position is still before ``ends`` on any partition."""
    for tp, end in ends.items():
        if await client.position(tp) < end:
            return True
    return False
