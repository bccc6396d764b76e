"""The four services as child processes of the test session, on the real broker and
database, isolated from any other stack by their own topic prefix and database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.errors import KafkaError

# One copy of these, shared with the benchmark's own stack.
from bench.stack import drop_topics, free_port, infra_env

from hookline.core.keyring import new_key_entry
from support.database import own_database

__all__ = [
    "ROOT",
    "SERVICES",
    "Service",
    "Stack",
    "free_port",
    "infra_env",
    "own_stack",
    "test_settings",
]

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("api", "router", "deliverer", "retry_scheduler")


@dataclass
class Service:
    name: str
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    # ``python -m <module> <args>``; the module is ``hookline.<name>`` unless given.
    module: str = ""
    args: tuple[str, ...] = ()

    @property
    def port(self) -> int:
        return int(self.env["HOOKLINE_HTTP_PORT"])

    def start(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module or f"hookline.{self.name}", *self.args],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

    def wait_healthy(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited; its log:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(
            f"{self.name} not healthy in {timeout_s}s; log:\n{self.log.read_text()[-3000:]}"
        )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self) -> None:
        self.kill(signal.SIGKILL)
        self.start()
        self.wait_healthy()


@dataclass
class Stack:
    env: dict[str, str]
    services: dict[str, Service] = field(default_factory=dict)
    # The API's roles as two processes, "api" (serve) and "api_worker", instead of one.
    api_apart: bool = False

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.services['api'].port}"

    @property
    def admin_token(self) -> str:
        return self.env["HOOKLINE_ADMIN_TOKEN"]

    def start(self, logs: Path) -> None:
        logs.mkdir(parents=True, exist_ok=True)
        for name in SERVICES:
            env = {**self.env, "HOOKLINE_HTTP_PORT": str(free_port())}
            self.services[name] = Service(name, env, logs / f"{name}.log")
        if self.api_apart:
            self.services["api"].args = ("serve",)
            env = {**self.env, "HOOKLINE_HTTP_PORT": str(free_port())}
            self.services["api_worker"] = Service(
                "api_worker", env, logs / "api_worker.log", module="hookline.api", args=("worker",)
            )
        # The API creates the topics and the schema; start it first.
        self.services["api"].start()
        self.services["api"].wait_healthy()
        rest = [name for name in self.services if name != "api"]
        for name in rest:
            self.services[name].start()
        for name in rest:
            self.services[name].wait_healthy()

    def stop(self) -> None:
        for svc in self.services.values():
            svc.kill(signal.SIGTERM)


def test_settings(infra: dict[str, str], database_url: str) -> dict[str, str]:
    run = secrets.token_hex(4)
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")},
        **infra,
        "HOOKLINE_DATABASE_URL": database_url,
        "HOOKLINE_TOPIC_PREFIX": f"hltest-{run}",
        "HOOKLINE_ADMIN_TOKEN": secrets.token_urlsafe(16),
        "HOOKLINE_SECRETS_KEYS": new_key_entry(f"run-{run}"),
        "HOOKLINE_ALLOW_PRIVATE_TARGETS": "1",
        "HOOKLINE_ALLOW_HTTP_TARGETS": "1",
        "HOOKLINE_RETRY_DELAYS": "1s,2s,3s",
        "HOOKLINE_DELIVERY_TIMEOUT": "2",
        "HOOKLINE_PARTITIONS": "2",
        "HOOKLINE_LOG_LEVEL": "INFO",
    }


@asynccontextmanager
async def own_stack(infra: dict[str, str], database: str) -> AsyncIterator[Stack]:
    """The four services on a prefix and database of their own (named ``database``), for
    a test whose records or settings must not meet the session's stack; stopped, and
    its topics dropped, at the end."""
    async with own_database(infra["HOOKLINE_DATABASE_URL"], database) as db_url:
        env = test_settings(infra, db_url)
        stack = Stack(env)
        logs = ROOT / ".local" / "test-logs" / env["HOOKLINE_TOPIC_PREFIX"]
        try:
            await asyncio.to_thread(stack.start, logs)
            yield stack
        finally:
            await asyncio.to_thread(stack.stop)
            with contextlib.suppress(KafkaError, OSError):
                await drop_topics(env, env["HOOKLINE_TOPIC_PREFIX"])
