"""A Kafka broker of a test's own, started on free ports through deploy/local/stack.py
(the same jars as the shared one), so that stopping it or securing it touches no one else."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass

from aiokafka.protocol.admin import CreateAclsRequest

from hookline.core import kafka
from hookline.core.config import Settings
from support.stack import ROOT


def free_pair() -> int:
    """A port whose next port is free too: Kafka's listener and its controller."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue
    raise RuntimeError("no two free ports in a row")


class Broker:
    """A second Kafka broker, driven through deploy/local/stack.py."""

    def __init__(self, kind: str = "chaos-kafka", **listener: str) -> None:
        """``listener``: stack.py's ``HOOKLINE_LOCAL_KAFKA_*`` listener settings, by their
        last part in lower case (``protocol="SASL_SSL"``, ``tls_dir=...``)."""
        self.port = free_pair()
        self.dir = ROOT / ".local" / kind / secrets.token_hex(4)
        env = {k: v for k, v in os.environ.items() if k != "HOOKLINE_KAFKA_BOOTSTRAP"}
        self.env = {
            **env,
            "HOOKLINE_LOCAL_KAFKA_PORT": str(self.port),
            "HOOKLINE_LOCAL_KAFKA_DIR": str(self.dir),
            **{f"HOOKLINE_LOCAL_KAFKA_{k.upper()}": v for k, v in listener.items()},
        }

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _stack(self, command: str) -> None:
        done = subprocess.run(
            [sys.executable, str(ROOT / "deploy/local/stack.py"), command],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"stack.py {command}: {done.stderr}"

    def start(self) -> None:
        self._stack("kafka")

    def stop(self) -> None:
        self._stack("kafka-down")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# Kafka's ACL codes (org.apache.kafka.common.acl / resource), as CreateAcls sends them.
TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID = 2, 3, 4, 5
LITERAL, PREFIXED = 3, 4
ALL, READ, WRITE, CREATE = 2, 3, 4, 5
DENY, ALLOW = 2, 3


@dataclass(frozen=True)
class Acl:
    resource_type: int
    name: str
    pattern: int
    principal: str
    operation: int
    permission: int


async def grant(settings: Settings, acls: list[Acl]) -> None:
    """Create ``acls`` as ``settings``' client (a super user); aiokafka has no call for it."""
    admin = kafka.admin(settings)
    await admin.start()
    try:
        for acl in acls:
            request = CreateAclsRequest(
                acl.resource_type,
                acl.name,
                acl.pattern,
                acl.principal,
                "*",
                acl.operation,
                acl.permission,
            )
            response = await admin._client.send(admin._client.get_random_node(), request)
            for error_code, message in response.creation_responses:
                assert error_code == 0, f"CreateAcls {acl}: {error_code} {message}"
    finally:
        await admin.close()
