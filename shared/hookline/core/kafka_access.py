"""What each service may do on the broker, checked at start, so that a missing ACL stops
the service in one line instead of failing at its first send or its first poll.

``needs`` is the table of docs/operations.md ("ACLs"): the topics each service reads and
writes; a test keeps the two the same. ``check`` asks the broker, as the service's own
principal and without side effects:

- for topics, a Metadata request (v8, KIP-430) with the operations the principal is
  authorized for on each topic;
- for a consumer group or a transactional id, FindCoordinator, which the broker refuses
  without Describe on it (which any grant of Read or Write on it implies).

A broker too old for Metadata v8 (before Kafka 2.3) gets no topic check; each client
then reports a missing ACL when it meets it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import (
    GroupAuthorizationFailedError,
    IncompatibleBrokerVersion,
    KafkaConnectionError,
    NodeNotReadyError,
    RequestTimedOutError,
    TransactionalIdAuthorizationFailed,
)
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.coordination import FindCoordinatorRequest
from aiokafka.protocol.types import Array, Boolean, Int16, Int32, Schema, String

from hookline.core import kafka, topics
from hookline.core.config import Settings
from hookline.core.errors import KafkaRefused
from hookline.core.kafka_auth import principal

log = logging.getLogger(__name__)

# Kafka's AclOperation codes, as the bits of ``topic_authorized_operations``.
READ, WRITE, DESCRIBE = 3, 4, 8
OPERATION_NAMES = {READ: "Read", WRITE: "Write", DESCRIBE: "Describe"}
NOT_REQUESTED = -(2**31)  # what the broker sends when it did not compute the operations
TOPIC_AUTHORIZATION_FAILED = 29
COORDINATOR_GROUP, COORDINATOR_TRANSACTION = 0, 1


@dataclass(frozen=True)
class Needs:
    """The topics a service reads and writes (names as ``hookline.core.topics`` gives)."""

    read: tuple[str, ...]
    write: tuple[str, ...]

    def operations(self) -> dict[str, set[int]]:
        wanted: dict[str, set[int]] = {}
        for topic in self.read:
            wanted.setdefault(topic, set()).add(READ)
        for topic in self.write:
            wanted.setdefault(topic, set()).add(WRITE)
        return wanted


def needs(settings: Settings, service: str) -> Needs:
    """Pure: docs/operations.md's ACL table for ``service``, with this prefix and delays."""
    t = settings
    retry = tuple(topics.retry_topics(t))
    lanes = (topics.deliveries(t), topics.deliveries_bulk(t))
    router_own = (topics.routed(t), topics.batch_items(t), topics.fan_out(t))
    table = {
        "api": Needs(
            read=(
                topics.events(t),
                topics.subscriptions(t),
                topics.catalog(t),
                topics.sources(t),
                topics.attempts(t),
                topics.dead_letters(t),
                topics.quarantine(t),
            ),
            write=(
                topics.events(t),
                topics.subscriptions(t),
                topics.catalog(t),
                topics.sources(t),
                # dead letters redelivered: one on the main lane, "all" and replays bulk
                topics.deliveries(t),
                topics.deliveries_bulk(t),
                topics.quarantine(t),
            ),
        ),
        "router": Needs(
            read=(
                topics.events(t),
                topics.subscriptions(t),
                topics.catalog(t),
                topics.sources(t),
                *router_own,
            ),
            # events: what the sources read (hookline.router.sources) becomes events.
            write=(topics.events(t), *lanes, *router_own, topics.quarantine(t)),
        ),
        "deliverer": Needs(
            read=(*lanes, topics.subscriptions(t), topics.catalog(t)),
            write=(topics.attempts(t), topics.dead_letters(t), *retry, topics.quarantine(t)),
        ),
        "retry-scheduler": Needs(read=retry, write=(*lanes, topics.quarantine(t))),
    }
    return table[service]


def missing_on_topics(
    wanted: Mapping[str, set[int]], granted: Mapping[str, int | None]
) -> list[str]:
    """Pure: what ``granted`` (the broker's bits per topic, None where it refused to
    describe the topic at all) lacks of ``wanted``, as "Write on topic x" phrases.
    A topic the broker did not report on, or reported ``NOT_REQUESTED`` for, passes."""
    lacking = []
    for topic in sorted(wanted):
        if topic not in granted:
            continue
        bits = granted[topic]
        if bits == NOT_REQUESTED:
            continue
        ops = sorted(wanted[topic] | {DESCRIBE}) if bits is None else sorted(wanted[topic])
        absent = [op for op in ops if bits is None or not bits & (1 << op)]
        if absent:
            names = " and ".join(OPERATION_NAMES[op] for op in absent)
            lacking.append(f"{names} on topic {topic}")
    return lacking


def refusal(who: str, lacking: Iterable[str]) -> str | None:
    """Pure: the one line a service stops with, or None when nothing lacks."""
    items = list(lacking)
    if not items:
        return None
    return (
        f"a missing ACL for {who}: it needs {'; '.join(items)} "
        "(docs/operations.md, ACLs, lists what each service needs)"
    )


async def check(
    settings: Settings,
    service: str,
    *,
    groups: Iterable[str] = (),
    transactional_ids: Iterable[str] = (),
) -> None:
    """Raise ``KafkaRefused`` naming every operation ``service`` is not granted. Asks
    each broker in turn until one answers; if none does (a rolling restart), the check
    is skipped with a warning and each client meets what it lacks itself."""
    found = await lacking(
        settings,
        needs(settings, service).operations(),
        groups=groups,
        transactional_ids=transactional_ids,
    )
    if found is None:
        log.warning("no broker answered the ACL check: not checked at start")
        return
    line = refusal(principal(settings), found)
    if line is not None:
        raise KafkaRefused(line)


async def lacking(
    settings: Settings,
    wanted: Mapping[str, set[int]],
    *,
    groups: Iterable[str] = (),
    transactional_ids: Iterable[str] = (),
) -> list[str] | None:
    """What this principal lacks of ``wanted`` (operations by topic), ``groups`` and
    ``transactional_ids``, as "Read on topic x" phrases; None when no broker answered."""
    groups, transactional_ids = list(groups), list(transactional_ids)
    admin = kafka.admin(settings)
    await admin.start()
    try:
        client = admin._client
        for node in _nodes(client):
            try:
                return await _ask(
                    client,
                    node,
                    wanted=wanted,
                    groups=groups,
                    transactional_ids=transactional_ids,
                )
            except (KafkaConnectionError, NodeNotReadyError, RequestTimedOutError, OSError) as exc:
                log.info("broker %s did not answer the ACL check (%s); asking another", node, exc)
    finally:
        await admin.close()
    return None


def _nodes(client: Any) -> list[int]:
    """Every broker the metadata names, a random one first (spreading the checks)."""
    first = client.get_random_node()
    rest = sorted(b.nodeId for b in client.cluster.brokers() if b.nodeId != first)
    return [first, *rest] if first is not None else rest


async def _ask(
    client: Any,
    node: int,
    *,
    wanted: Mapping[str, set[int]],
    groups: list[str],
    transactional_ids: list[str],
) -> list[str]:
    found = await _topics_lacking(client, node, wanted)
    for group in groups:
        if not await _may_describe(client, node, group, COORDINATOR_GROUP):
            found.append(f"Read on group {group}")
    for tid in transactional_ids:
        if not await _may_describe(client, node, tid, COORDINATOR_TRANSACTION):
            found.append(f"Write and Describe on transactional id {tid}")
    return found


async def _topics_lacking(client: object, node: int, wanted: Mapping[str, set[int]]) -> list[str]:
    try:
        response = await client.send(node, _AuthorizedOperations(sorted(wanted)))  # type: ignore[attr-defined]
    except (IncompatibleBrokerVersion, NotImplementedError) as exc:
        log.warning("the broker cannot tell a topic's ACLs (%s): not checked at start", exc)
        return []
    granted: dict[str, int | None] = {}
    for error_code, name, _internal, _partitions, bits in response.topics:
        if error_code == TOPIC_AUTHORIZATION_FAILED:
            granted[name] = None
        elif error_code == 0:
            granted[name] = bits
    return missing_on_topics(wanted, granted)


async def _may_describe(client: object, node: int, key: str, kind: int) -> bool:
    """False only when the broker refuses to name the coordinator for want of an ACL;
    any other answer (a coordinator on the move, say) is left to the clients."""
    response = await client.send(node, FindCoordinatorRequest(key, kind))  # type: ignore[attr-defined]
    return response.error_code not in _REFUSED


_REFUSED = {GroupAuthorizationFailedError.errno, TransactionalIdAuthorizationFailed.errno}


class _MetadataResponseV8(Response):  # type: ignore[misc]
    API_KEY = 3
    API_VERSION = 8
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "brokers",
            Array(
                ("node_id", Int32),
                ("host", String("utf-8")),
                ("port", Int32),
                ("rack", String("utf-8")),
            ),
        ),
        ("cluster_id", String("utf-8")),
        ("controller_id", Int32),
        (
            "topics",
            Array(
                ("error_code", Int16),
                ("topic", String("utf-8")),
                ("is_internal", Boolean),
                (
                    "partitions",
                    Array(
                        ("error_code", Int16),
                        ("partition", Int32),
                        ("leader", Int32),
                        ("leader_epoch", Int32),
                        ("replicas", Array(Int32)),
                        ("isr", Array(Int32)),
                        ("offline_replicas", Array(Int32)),
                    ),
                ),
                ("topic_authorized_operations", Int32),
            ),
        ),
        ("cluster_authorized_operations", Int32),
    )


class _MetadataRequestV8(RequestStruct):  # type: ignore[misc]
    API_KEY = 3
    API_VERSION = 8
    RESPONSE_TYPE = _MetadataResponseV8
    SCHEMA = Schema(
        ("topics", Array(String("utf-8"))),
        ("allow_auto_topic_creation", Boolean),
        ("include_cluster_authorized_operations", Boolean),
        ("include_topic_authorized_operations", Boolean),
    )


class _AuthorizedOperations(Request[_MetadataRequestV8]):  # type: ignore[misc]
    """Metadata for ``topics`` with the operations the caller may do on each."""

    API_KEY = 3

    def __init__(self, names: list[str]) -> None:
        self._names = names

    def build(self, request_struct_class: type[_MetadataRequestV8]) -> _MetadataRequestV8:
        return request_struct_class(self._names, False, False, True)
