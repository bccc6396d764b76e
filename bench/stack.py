"""The services under test, as child processes on the real broker and database.

Each bench run gets its own topic prefix (``hlbench-<hex>``) and a fresh database, so
it neither reads nor disturbs a stack started by ``make up`` or a test session.
Kafka and PostgreSQL are the ones named by ``HOOKLINE_KAFKA_BOOTSTRAP`` and
``HOOKLINE_DATABASE_URL``, or else those ``deploy/local/stack.py infra`` starts (or
finds running), so ``make bench`` works from a clean clone.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from hookline.core import kafka
from hookline.core.config import Settings
from hookline.core.keyring import new_key_entry

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` ports free now and distinct: each held until all are chosen (one at a
    time, the system may hand the same port out twice)."""
    held = [socket.socket() for _ in range(count)]
    try:
        for s in held:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in held]
    finally:
        for s in held:
            s.close()


def listening_inodes(port: int, table: str) -> set[str]:
    """Pure: the socket inodes that listen on ``port`` in a ``/proc/net/tcp`` table."""
    found = set()
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            found.add(fields[9])
    return found


def listens_on(pid: int, port: int) -> bool:
    """Whether process ``pid`` itself holds the socket listening on ``port`` (another
    process on that port may answer ``/healthz`` too, while this one failed to bind)."""
    try:
        tables = [Path(f"/proc/net/{t}").read_text() for t in ("tcp", "tcp6")]
        inodes = set().union(*(listening_inodes(port, table) for table in tables))
        fds = Path(f"/proc/{pid}/fd").iterdir()
        return any(os.readlink(fd).removeprefix("socket:[").rstrip("]") in inodes for fd in fds)
    except OSError:
        return False


def infra_env() -> dict[str, str]:
    names = ("HOOKLINE_KAFKA_BOOTSTRAP", "HOOKLINE_DATABASE_URL")
    if all(os.environ.get(n) for n in names):
        return {n: os.environ[n] for n in names}
    done = subprocess.run(
        [sys.executable, str(ROOT / "deploy/local/stack.py"), "infra"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"could not start Kafka and PostgreSQL:\n{done.stderr}")
    env: dict[str, str] = {}
    for line in (ROOT / ".local/infra.env").read_text().splitlines():
        key, _, value = line.partition("=")
        env[key] = value.strip("'")
    return env


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def drop_topics(env: Mapping[str, str], prefix: str) -> None:
    """Delete a run's topics (Faust's too, ``<prefix>-router-...``): a shared broker
    should not collect hundreds of partitions from benchmarks. ``env``: the run's
    ``HOOKLINE_*`` settings (bootstrap and security)."""
    admin = kafka.admin(Settings.from_env(env))
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


# The API's two roles run as two processes, as ``make up`` runs them
# (``deploy/local/stack.py``): its HTTP server, and its worker (the projectors of the
# attempts and dead letters, the purge, the replays). Their CPU is reported apart.
COMMANDS = {"api": ["hookline.api", "serve"], "api_worker": ["hookline.api", "worker"]}


def kind_of(name: str) -> str:
    """Pure: ``router1`` and ``deliverer0`` are of the kinds ``router`` and ``deliverer``."""
    return name.rstrip("0123456789")


@dataclass
class Proc:
    name: str
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        return int(self.env["HOOKLINE_HTTP_PORT"])

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> None:
        kind = kind_of(self.name)
        command = COMMANDS.get(kind, [f"hookline.{kind}"])
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", *command],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )

    def wait_healthy(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.popen is not None and self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log}")
            try:
                url = f"http://127.0.0.1:{self.port}/healthz"
                with urllib.request.urlopen(url, timeout=1):
                    if listens_on(self.pid, self.port):
                        return
                    time.sleep(0.2)  # someone else's answer: wait for this one's
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} not healthy within {timeout_s:.0f}s; see {self.log}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(sig)
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


@dataclass
class BenchStack:
    """The API (its HTTP role and its worker role, two processes), ``routers`` router
    workers, ``deliverers`` deliverers and the retry scheduler on their own prefix."""

    deliverers: int = 1
    routers: int = 1
    partitions: int = 6
    extra_env: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)
    logs: Path = ROOT / ".local" / "bench"
    _admin_url: str = ""
    _db: str = ""

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.procs['api'].port}"

    @property
    def admin_token(self) -> str:
        return self.env["HOOKLINE_ADMIN_TOKEN"]

    @property
    def prefix(self) -> str:
        return self.env["HOOKLINE_TOPIC_PREFIX"]

    def pids(self, kind: str) -> list[int]:
        return [p.pid for n, p in self.procs.items() if kind_of(n) == kind]

    async def start(self) -> None:
        infra = infra_env()
        run = secrets.token_hex(4)
        self._admin_url = infra["HOOKLINE_DATABASE_URL"]
        self._db = f"hookline_bench_{run}"
        conn = await asyncpg.connect(self._admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{self._db}"')
        finally:
            await conn.close()
        self.logs = ROOT / ".local" / "bench" / f"hlbench-{run}"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")},
            **infra,
            "HOOKLINE_DATABASE_URL": with_database(self._admin_url, self._db),
            "HOOKLINE_TOPIC_PREFIX": f"hlbench-{run}",
            "HOOKLINE_ADMIN_TOKEN": secrets.token_urlsafe(16),
            "HOOKLINE_SECRETS_KEYS": new_key_entry(f"run-{run}"),
            "HOOKLINE_ALLOW_PRIVATE_TARGETS": "1",
            "HOOKLINE_ALLOW_HTTP_TARGETS": "1",
            "HOOKLINE_PARTITIONS": str(self.partitions),
            # 64 clients publish on one tenant's key: a limit far above what the API can
            # answer, so the figures are never throttled (the limiter still runs).
            "HOOKLINE_API_RATE": "1000000",
            "HOOKLINE_API_BURST": "1000000",
            **self.extra_env,
        }
        names = [
            "api",
            "api_worker",
            "router",  # the first router worker; the others are router1, router2, ...
            *[f"router{i}" for i in range(1, self.routers)],
            *[f"deliverer{i}" for i in range(self.deliverers)],
        ]
        ports = free_ports(len(names) + 1)
        for name, port in zip([*names, "retry_scheduler"], ports, strict=True):
            env = {**self.env, "HOOKLINE_HTTP_PORT": str(port)}
            if name.startswith("router"):
                # Faust keeps a data directory per worker, not in the working directory.
                env["APP_DATADIR"] = str(self.logs / f"{name}-data")
            self.procs[name] = Proc(name, env, self.logs / f"{name}.log")
        # The API creates the topics and the schema: it goes first.
        self.procs["api"].start()
        self.procs["api"].wait_healthy()
        for name in list(self.procs)[1:]:
            self.procs[name].start()
        for name in list(self.procs)[1:]:
            self.procs[name].wait_healthy()

    async def stop(self) -> None:
        for proc in reversed(self.procs.values()):
            proc.stop()
        if self.env:
            await drop_topics(self.env, self.prefix)
        if self._db:
            conn = await asyncpg.connect(self._admin_url)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self._db}" WITH (FORCE)')
            finally:
                await conn.close()
