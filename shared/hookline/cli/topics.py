"""``hookline topics plan``: the topics a platform team creates for Hookline, when the
services may create none (``HOOKLINE_CREATE_TOPICS=0``), as ``kafka-topics.sh``
commands and as Strimzi ``KafkaTopic`` manifests.

Pure: both are made from ``hookline.core.topics.all_specs``, the same list the services
check at start, so a plan that was applied passes that check.
"""

from __future__ import annotations

import json
import re
import shlex

from hookline.core.config import Settings
from hookline.core.topics import TopicSpec, all_specs

STRIMZI_API = "kafka.strimzi.io/v1beta2"
# A Kubernetes object name: lower-case letters, digits, '-' and '.', at most 253.
_K8S_NAME = re.compile(r"[^a-z0-9.-]+")


def commands(settings: Settings) -> str:
    """One ``kafka-topics.sh --create`` per topic; ``$BOOTSTRAP`` and ``$ADMIN_CONFIG``
    (a client properties file with the admin's credentials) are left to the shell."""
    lines = [
        "# Hookline's topics: run with an admin's credentials, e.g.",
        "#   BOOTSTRAP=broker:9093 ADMIN_CONFIG=admin.properties sh this-file",
    ]
    lines += [_command(spec, settings.replication_factor) for spec in all_specs(settings)]
    return "\n".join(lines) + "\n"


def _command(spec: TopicSpec, replicas: int) -> str:
    parts = [
        'kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN_CONFIG"',
        f"--create --if-not-exists --topic {shlex.quote(spec.name)}",
        f"--partitions {spec.partitions} --replication-factor {replicas}",
    ]
    parts += [f"--config {shlex.quote(f'{k}={v}')}" for k, v in sorted(spec.config.items())]
    return " ".join(parts)


def strimzi(settings: Settings, cluster: str, namespace: str | None) -> str:
    """One ``KafkaTopic`` document per topic, for the Topic Operator of ``cluster``.
    Strings are written as JSON strings, which YAML reads as they are."""
    docs = [
        _manifest(spec, settings.replication_factor, cluster, namespace)
        for spec in all_specs(settings)
    ]
    return "".join(docs)


def _manifest(spec: TopicSpec, replicas: int, cluster: str, namespace: str | None) -> str:
    q = json.dumps
    meta = [f"  name: {q(k8s_name(spec.name))}"]
    if namespace:
        meta.append(f"  namespace: {q(namespace)}")
    meta += ["  labels:", f"    strimzi.io/cluster: {q(cluster)}"]
    body = [
        "---",
        f"apiVersion: {STRIMZI_API}",
        "kind: KafkaTopic",
        "metadata:",
        *meta,
        "spec:",
        f"  topicName: {q(spec.name)}",
        f"  partitions: {spec.partitions}",
        f"  replicas: {replicas}",
    ]
    if spec.config:
        body.append("  config:")
        body += [f"    {q(k)}: {q(v)}" for k, v in sorted(spec.config.items())]
    return "\n".join(body) + "\n"


def k8s_name(topic: str) -> str:
    """Pure: a valid object name for ``topic`` (``spec.topicName`` keeps the real one)."""
    name = _K8S_NAME.sub("-", topic.lower()).strip(".-")[:253].rstrip(".-")
    return name or "hookline-topic"
