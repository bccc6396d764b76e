#!/usr/bin/env python3
"""Start and stop Hookline's local stack: Kafka, PostgreSQL and the four services (the
API as two processes, its HTTP server and its worker).

    python deploy/local/stack.py infra   # Kafka and PostgreSQL only (what the tests need)
    python deploy/local/stack.py up      # infra, then the four services; writes .local/stack.env
    python deploy/local/stack.py down    # stops everything this script started
    python deploy/local/stack.py kafka       # Kafka only (a second broker, see below)
    python deploy/local/stack.py kafka-down  # stops the Kafka that `kafka` started

No Docker: Kafka's jars come from Maven Central through ``mvn`` (deploy/local/pom.xml),
PostgreSQL from Debian's packages (installed when missing). Everything lives under
.local/ and is reused on the next start. ``HOOKLINE_KAFKA_BOOTSTRAP`` or
``HOOKLINE_DATABASE_URL``, when set, name a broker or database to use instead.
``HOOKLINE_LOCAL_KAFKA_PORT`` (and the port after it, for the controller) and
``HOOKLINE_LOCAL_KAFKA_DIR`` run a second broker beside the usual one, with its own
data, config, log and pid file in that directory (the jars stay shared): the fault
tests stop and restart such a broker without disturbing anyone else's.
Such a broker can listen securely, as the tests of the Kafka security settings need:
``HOOKLINE_LOCAL_KAFKA_PROTOCOL`` (``SASL_SSL`` or ``SSL``; default ``PLAINTEXT``) for
its listener, ``HOOKLINE_LOCAL_KAFKA_TLS_DIR`` holding ``broker.p12`` (its key and
certificate; the password in ``broker.p12.password``) and ``ca.pem`` (the CAs it trusts
for client certificates), ``HOOKLINE_LOCAL_KAFKA_SCRAM_USERS`` (``user=password,...``,
SCRAM-SHA-256 and -512; the first is the broker's own and a super user),
``HOOKLINE_LOCAL_KAFKA_MTLS_PORT``, a second listener that requires a client certificate,
and ``HOOKLINE_LOCAL_KAFKA_AUTHORIZER=1``: ACLs apply (to resources that have any).
Standard library only, so it runs before anything else is installed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / ".local"
LOGS = LOCAL / "logs"
RUN = LOCAL / "run"
KAFKA_LIBS = LOCAL / "kafka" / "libs"
KAFKA_DIR = ROOT / os.environ.get("HOOKLINE_LOCAL_KAFKA_DIR", str(LOCAL / "kafka"))
# A broker in a directory of its own keeps its pid file and log there too.
KAFKA_OWN_DIR = KAFKA_DIR != LOCAL / "kafka"
KAFKA_RUN = KAFKA_DIR if KAFKA_OWN_DIR else RUN
KAFKA_LOGS = KAFKA_DIR if KAFKA_OWN_DIR else LOGS
KAFKA_PORT = int(os.environ.get("HOOKLINE_LOCAL_KAFKA_PORT", "19092"))
PG_PORT = int(os.environ.get("HOOKLINE_LOCAL_PG_PORT", "15432"))
DEFAULT_BOOTSTRAP = f"127.0.0.1:{KAFKA_PORT}"
DEFAULT_DB_URL = f"postgresql://hookline@127.0.0.1:{PG_PORT}/hookline"
SERVICES = {
    "api": 8080,
    "api_worker": 8084,
    "router": 8081,
    "deliverer": 8082,
    "retry_scheduler": 8083,
}
# The API's two roles run as two processes: HTTP on 8080, the worker's health on 8084.
COMMANDS = {"api": ["hookline.api", "serve"], "api_worker": ["hookline.api", "worker"]}


class StackError(RuntimeError):
    """A part of the stack failed to start; the message names it and its log."""


def say(msg: str) -> None:
    print(f"stack: {msg}", file=sys.stderr, flush=True)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_until(check: object, what: str, log: Path | None, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.3)
    where = f"; its log is {log}" if log else ""
    raise StackError(f"{what} did not come up within {timeout_s:.0f}s{where}")


def pid_alive(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def spawn(
    name: str,
    argv: list[str],
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    *,
    logs: Path = LOGS,
    run: Path = RUN,
) -> None:
    logs.mkdir(parents=True, exist_ok=True)
    run.mkdir(parents=True, exist_ok=True)
    log = (logs / f"{name}.log").open("ab")
    proc = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
    )
    (run / f"{name}.pid").write_text(str(proc.pid))


# --- Kafka -----------------------------------------------------------------------------


def kafka_libs() -> Path:
    """Kafka's jars, fetched again whenever deploy/local/pom.xml changes."""
    libs = KAFKA_LIBS
    pom = ROOT / "deploy/local/pom.xml"
    stamp = libs / ".pom-sha256"
    want = hashlib.sha256(pom.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == want:
        return libs
    shutil.rmtree(libs, ignore_errors=True)
    if shutil.which("mvn") is None:
        raise StackError("Maven (mvn) is needed to fetch Kafka's jars: apt-get install maven")
    say("fetching Kafka's jars from Maven Central (once)")
    log = LOGS / "mvn.log"
    LOGS.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        done = subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={libs}",
                "-DincludeScope=runtime",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        raise StackError(f"mvn could not fetch Kafka's jars; see {log}")
    stamp.write_text(want)
    return libs


KAFKA_PROTOCOL = os.environ.get("HOOKLINE_LOCAL_KAFKA_PROTOCOL", "PLAINTEXT").upper()
KAFKA_TLS_DIR = Path(os.environ.get("HOOKLINE_LOCAL_KAFKA_TLS_DIR", str(KAFKA_DIR / "tls")))
KAFKA_MTLS_PORT = os.environ.get("HOOKLINE_LOCAL_KAFKA_MTLS_PORT", "")
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")


def scram_users() -> list[tuple[str, str]]:
    raw = os.environ.get("HOOKLINE_LOCAL_KAFKA_SCRAM_USERS", "")
    return [tuple(u.split("=", 1)) for u in raw.split(",") if u]  # type: ignore[misc]


def listener_config() -> list[str]:
    """The client listeners: PLAINTEXT, or SASL_SSL / SSL with TLS files, plus an mTLS one."""
    controller = KAFKA_PORT + 1
    listeners = [(KAFKA_PROTOCOL, KAFKA_PORT)]
    if KAFKA_MTLS_PORT:
        listeners.append(("MTLS", int(KAFKA_MTLS_PORT)))
    names = ",".join(f"{n}://127.0.0.1:{p}" for n, p in listeners)
    protocols = ",".join(f"{n}:{'SSL' if n == 'MTLS' else n}" for n, _ in listeners)
    lines = [
        f"listeners={names},CONTROLLER://127.0.0.1:{controller}",
        f"advertised.listeners={names}",
        f"listener.security.protocol.map=CONTROLLER:PLAINTEXT,{protocols}",
        f"inter.broker.listener.name={KAFKA_PROTOCOL}",
    ]
    if KAFKA_PROTOCOL != "PLAINTEXT" or KAFKA_MTLS_PORT:
        lines += tls_config()
    if KAFKA_PROTOCOL.startswith("SASL_"):
        lines += sasl_config()
    if os.environ.get("HOOKLINE_LOCAL_KAFKA_AUTHORIZER") == "1":
        # ACLs apply; a resource without any ACL stays open. The broker's own user (the
        # first SCRAM user) may do anything, and so may the broker forwarding requests to
        # its controller over the loopback PLAINTEXT controller listener (ANONYMOUS).
        lines += [
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            f"super.users=User:{scram_users()[0][0]};User:ANONYMOUS",
            "allow.everyone.if.no.acl.found=true",
        ]
    return lines


def tls_config() -> list[str]:
    password = (KAFKA_TLS_DIR / "broker.p12.password").read_text().strip()
    return [
        "ssl.keystore.type=PKCS12",
        f"ssl.keystore.location={KAFKA_TLS_DIR / 'broker.p12'}",
        f"ssl.keystore.password={password}",
        f"ssl.key.password={password}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={KAFKA_TLS_DIR / 'ca.pem'}",
        "listener.name.mtls.ssl.client.auth=required",
    ]


def sasl_config() -> list[str]:
    users = scram_users()
    if not users:
        raise StackError("a SASL listener needs HOOKLINE_LOCAL_KAFKA_SCRAM_USERS")
    broker, password = users[0]
    listener = KAFKA_PROTOCOL.lower()
    login = "org.apache.kafka.common.security.scram.ScramLoginModule"
    lines = [
        f"sasl.enabled.mechanisms={','.join(SCRAM_MECHANISMS)}",
        "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
    ]
    lines += [
        f"listener.name.{listener}.{m.lower()}.sasl.jaas.config={login} required "
        f'username="{broker}" password="{password}";'
        for m in SCRAM_MECHANISMS
    ]
    return lines


def scram_arguments() -> list[str]:
    """``kafka-storage format --add-scram``: the users exist from the first start on."""
    return [
        arg
        for name, password in scram_users()
        for m in SCRAM_MECHANISMS
        for arg in ("--add-scram", f"{m}=[name={name},password={password}]")
    ]


def kafka_config(data: Path) -> str:
    controller = KAFKA_PORT + 1
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller}",
            *listener_config(),
            "controller.listener.names=CONTROLLER",
            f"log.dirs={data}",
            "num.partitions=4",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=10",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=true",
            "log.segment.bytes=67108864",
            "",
        ]
    )


LOG4J = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
"""


def start_kafka() -> str:
    bootstrap = os.environ.get("HOOKLINE_KAFKA_BOOTSTRAP")
    if bootstrap:
        say(f"using the Kafka broker at {bootstrap}")
        return bootstrap
    if port_open(KAFKA_PORT):
        say(f"Kafka is already running on {DEFAULT_BOOTSTRAP}")
        return DEFAULT_BOOTSTRAP
    libs = kafka_libs()
    KAFKA_DIR.mkdir(parents=True, exist_ok=True)
    data = KAFKA_DIR / "data"
    props = KAFKA_DIR / "server.properties"
    props.write_text(kafka_config(data))
    (KAFKA_DIR / "log4j2.properties").write_text(LOG4J)
    classpath = f"{libs}/*"
    java = [
        "java",
        "-Xms256m",
        "-Xmx768m",
        "-XX:+UseG1GC",
        "-XX:TieredStopAtLevel=1",
        f"-Dlog4j2.configurationFile={KAFKA_DIR / 'log4j2.properties'}",
        "-cp",
        classpath,
    ]
    if not (data / "meta.properties").exists():
        cluster_id = kafka_cluster_id()
        say(f"formatting Kafka storage (cluster id {cluster_id})")
        done = subprocess.run(
            [
                *java,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(props),
                *scram_arguments(),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise StackError(f"Kafka storage format failed: {done.stdout}{done.stderr}")
    say(f"starting Kafka on {DEFAULT_BOOTSTRAP}")
    spawn("kafka", [*java, "kafka.Kafka", str(props)], logs=KAFKA_LOGS, run=KAFKA_RUN)
    wait_until(lambda: port_open(KAFKA_PORT), "Kafka", KAFKA_LOGS / "kafka.log", 90)
    return DEFAULT_BOOTSTRAP


def kafka_cluster_id() -> str:
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


# --- PostgreSQL ------------------------------------------------------------------------


def pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        say("installing PostgreSQL from Debian's packages")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "postgresql"]):
            done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
            if done.returncode != 0:
                raise StackError(f"{' '.join(argv)} failed: {done.stderr[-2000:]}")
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not found:
            raise StackError("PostgreSQL was installed but initdb is not under /usr/lib/postgresql")
    return found[-1].parent


def pg_user() -> str | None:
    """The server refuses to run as root: then it runs as ``postgres``."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
    return "postgres"


def as_user(user: str | None, argv: list[str]) -> list[str]:
    return ["runuser", "-u", user, "--", *argv] if user else argv


def start_postgres() -> str:
    url = os.environ.get("HOOKLINE_DATABASE_URL")
    if url:
        say("using the PostgreSQL database at HOOKLINE_DATABASE_URL")
        return url
    if port_open(PG_PORT):
        say(f"PostgreSQL is already running on port {PG_PORT}")
        return DEFAULT_DB_URL
    bindir = pg_bin()
    user = pg_user()
    data = pg_data_dir(user)
    log = LOGS / "postgres.log"
    LOGS.mkdir(parents=True, exist_ok=True)
    if not (data / "PG_VERSION").exists():
        say(f"creating a PostgreSQL cluster in {data}")
        run_checked(
            as_user(
                user,
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "hookline",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                ],
            ),
            "initdb",
        )
    say(f"starting PostgreSQL on port {PG_PORT}")
    opts = (
        f"-p {PG_PORT} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    )
    pg_log = data / "server.log"
    run_checked(
        as_user(
            user,
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                opts,
                "-l",
                str(pg_log),
                "-w",
                "-t",
                "60",
                "start",
            ],
        ),
        "pg_ctl start",
        pg_log,
    )
    (RUN / "postgres.datadir").write_text(str(data))
    psql = [
        str(bindir / "psql"),
        "-h",
        "127.0.0.1",
        "-p",
        str(PG_PORT),
        "-U",
        "hookline",
        "-d",
        "postgres",
    ]
    exists = subprocess.run(
        [*psql, "-tAc", "SELECT 1 FROM pg_database WHERE datname='hookline'"],
        capture_output=True,
        text=True,
        check=False,
    )
    if exists.stdout.strip() != "1":
        run_checked([*psql, "-c", "CREATE DATABASE hookline"], "createdb", log)
    return DEFAULT_DB_URL


def pg_data_dir(user: str | None) -> Path:
    data = LOCAL / "postgres"
    if user is None:
        data.mkdir(parents=True, exist_ok=True)
        return data
    RUN.mkdir(parents=True, exist_ok=True)
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    shutil.chown(data, user, user)
    reachable = subprocess.run(["runuser", "-u", user, "--", "test", "-w", str(data)], check=False)
    if reachable.returncode == 0:
        return data
    # The checkout sits where the postgres user cannot reach: keep the cluster in /tmp.
    data = Path("/tmp") / f"hookline-pg-{abs(hash(str(ROOT))) % 10**8}"
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    shutil.chown(data, user, user)
    return data


def run_checked(argv: list[str], what: str, log: Path | None = None) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        where = f"; see {log}" if log else ""
        raise StackError(f"{what} failed: {done.stdout[-1500:]}{done.stderr[-1500:]}{where}")


# --- services --------------------------------------------------------------------------


def admin_token() -> str:
    path = LOCAL / "admin-token"
    if not path.exists():
        LOCAL.mkdir(exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def secrets_keys_file() -> Path:
    """A key of its own for this checkout, made once: the services seal subscription
    secrets with it (docs/operations.md). Kept in a file, so stack.env shows no key."""
    path = LOCAL / "secrets-keys"
    if not path.exists():
        LOCAL.mkdir(exist_ok=True)
        key = base64.b64encode(os.urandom(32)).decode()
        path.write_text(f"local-{secrets.token_hex(2)}:{key}\n")
        path.chmod(0o600)
    return path


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as rsp:
            return bool(rsp.status == 200)
    except OSError:
        return False


def start_services(stack_env: dict[str, str]) -> None:
    env = {
        **os.environ,
        "HOOKLINE_ALLOW_PRIVATE_TARGETS": os.environ.get("HOOKLINE_ALLOW_PRIVATE_TARGETS", "1"),
        "HOOKLINE_ALLOW_HTTP_TARGETS": os.environ.get("HOOKLINE_ALLOW_HTTP_TARGETS", "1"),
        **stack_env,
    }
    for name, port in SERVICES.items():
        if pid_alive(RUN / f"{name}.pid") and healthy(port):
            say(f"{name} is already running")
            continue
        say(f"starting {name}")
        spawn(
            name,
            [sys.executable, "-m", *COMMANDS.get(name, [f"hookline.{name}"])],
            env={**env, "HOOKLINE_HTTP_PORT": str(port)},
        )
    for name, port in SERVICES.items():
        wait_until(lambda p=port: healthy(p), name, LOGS / f"{name}.log", 90)  # type: ignore[misc]
        say(f"{name} is healthy on port {port}")


def infra() -> dict[str, str]:
    LOGS.mkdir(parents=True, exist_ok=True)
    env = {
        "HOOKLINE_KAFKA_BOOTSTRAP": start_kafka(),
        "HOOKLINE_DATABASE_URL": start_postgres(),
    }
    write_env(LOCAL / "infra.env", env)
    return env


def up() -> None:
    env = infra()
    env["HOOKLINE_ADMIN_TOKEN"] = admin_token()
    env["HOOKLINE_SECRETS_KEYS_FILE"] = str(secrets_keys_file())
    env["HOOKLINE_API_URL"] = f"http://127.0.0.1:{SERVICES['api']}"
    start_services({k: v for k, v in env.items() if k != "HOOKLINE_API_URL"})
    path = LOCAL / "stack.env"
    write_env(path, env)
    print(path.read_text(), end="")


def write_env(path: Path, env: dict[str, str]) -> None:
    path.write_text("".join(f"{k}='{v}'\n" for k, v in sorted(env.items())))
    path.chmod(0o600)


def stop_pid(name: str, timeout_s: float = 20, run: Path = RUN) -> None:
    pidfile = run / f"{name}.pid"
    pid = pid_alive(pidfile)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return
    say(f"stopping {name}")
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and pid_alive(pidfile):
        time.sleep(0.2)
    if pid_alive(pidfile):
        os.killpg(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)


def down() -> None:
    for name in SERVICES:
        stop_pid(name)
    stop_pid("kafka", run=KAFKA_RUN)
    datafile = RUN / "postgres.datadir"
    if datafile.exists():
        data = datafile.read_text().strip()
        say("stopping PostgreSQL")
        argv = [str(pg_bin() / "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"]
        subprocess.run(as_user(pg_user(), argv), capture_output=True, check=False)
        datafile.unlink()


def kafka_only() -> None:
    print(start_kafka())


def kafka_down() -> None:
    stop_pid("kafka", run=KAFKA_RUN)


def main(argv: list[str]) -> int:
    commands = {
        "infra": infra,
        "up": up,
        "down": down,
        "kafka": kafka_only,
        "kafka-down": kafka_down,
    }
    if len(argv) != 2 or argv[1] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        commands[argv[1]]()
    except StackError as exc:
        say(f"failed: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
