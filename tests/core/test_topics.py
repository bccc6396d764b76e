"""Tests for the topics a platform provisions: ``unusable`` and ``hookline topics plan``."""

from __future__ import annotations

import re
import shlex

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hookline.cli.topics import commands, k8s_name, strimzi
from hookline.core import topics
from hookline.core.config import Settings
from hookline.core.topics import FoundTopic, TopicSpec, all_specs, unusable

SETTINGS = Settings.from_env(
    {
        "HOOKLINE_TOPIC_PREFIX": "acme",
        "HOOKLINE_PARTITIONS": "6",
        "HOOKLINE_REPLICATION_FACTOR": "3",
    }
)
COMPACT = TopicSpec("acme.subscriptions", 6, {"cleanup.policy": "compact"})
RETRY = TopicSpec("acme.retry.5s", 6, {"retention.ms": "86405000"}, min_retention_ms=3_605_000)


def test_the_router_topics_are_in_the_plan_and_nothing_twice() -> None:
    names = [spec.name for spec in all_specs(SETTINGS)]
    assert len(names) == len(set(names))
    assert {topics.routed(SETTINGS), topics.batch_items(SETTINGS), topics.events(SETTINGS)} <= set(
        names
    )


@pytest.mark.parametrize(
    ("spec", "found", "why"),
    [
        (COMPACT, None, "missing"),
        (COMPACT, FoundTopic(6, {"cleanup.policy": "compact"}), None),
        (COMPACT, FoundTopic(1, {"cleanup.policy": "compact"}), None),  # any count works
        (COMPACT, FoundTopic(6, None), None),  # configs not readable: not held against it
        (COMPACT, FoundTopic(6, {"cleanup.policy": "delete"}), "cleanup.policy is delete"),
        (COMPACT, FoundTopic(6, {"cleanup.policy": "compact,delete"}), "must be compact"),
        (RETRY, FoundTopic(6, {"cleanup.policy": "compact"}), "must be delete"),
        (RETRY, FoundTopic(6, {}), None),
        (RETRY, FoundTopic(6, {"retention.ms": "-1"}), None),
        (RETRY, FoundTopic(6, {"retention.ms": "3605000"}), None),
        (RETRY, FoundTopic(6, {"retention.ms": "60000"}), "retention.ms is 60000"),
        (RETRY, FoundTopic(0, {}), "has no partitions"),
    ],
)
def test_unusable(spec: TopicSpec, found: FoundTopic | None, why: str | None) -> None:
    said = unusable(spec, found)
    if why is None:
        assert said is None
    else:
        assert said is not None and why in said


def test_what_the_plan_makes_is_usable() -> None:
    for spec in all_specs(SETTINGS):
        assert unusable(spec, FoundTopic(spec.partitions, dict(spec.config))) is None


def test_the_commands_create_every_topic_as_specified() -> None:
    lines = [line for line in commands(SETTINGS).splitlines() if not line.startswith("#")]
    made = {}
    for line in lines:
        argv = shlex.split(line)
        assert argv[0] == "kafka-topics.sh" and "--create" in argv and "--if-not-exists" in argv
        configs = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--config")
        partitions = int(argv[argv.index("--partitions") + 1])
        assert argv[argv.index("--replication-factor") + 1] == "3"
        made[argv[argv.index("--topic") + 1]] = (partitions, configs)
    assert made == {s.name: (s.partitions, s.config) for s in all_specs(SETTINGS)}


def test_the_strimzi_manifests_are_kafka_topics_as_specified() -> None:
    docs = list(yaml.safe_load_all(strimzi(SETTINGS, "prod", "streaming")))
    assert len(docs) == len(all_specs(SETTINGS))
    for doc, spec in zip(docs, all_specs(SETTINGS), strict=True):
        assert doc["apiVersion"] == "kafka.strimzi.io/v1beta2" and doc["kind"] == "KafkaTopic"
        assert doc["metadata"]["labels"] == {"strimzi.io/cluster": "prod"}
        assert doc["metadata"]["namespace"] == "streaming"
        assert doc["spec"]["topicName"] == spec.name
        assert doc["spec"]["partitions"] == spec.partitions and doc["spec"]["replicas"] == 3
        assert doc["spec"].get("config", {}) == spec.config


DNS_1123 = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")


@settings(max_examples=200, deadline=None, database=None)
@given(st.text(min_size=1, max_size=300))
def test_every_topic_name_gives_a_valid_object_name(topic: str) -> None:
    assert DNS_1123.match(k8s_name(topic))


def test_an_object_name_keeps_a_plain_topic_name() -> None:
    assert k8s_name("hookline.retry.5s") == "hookline.retry.5s"
    assert k8s_name("Team_A.events") == "team-a.events"
