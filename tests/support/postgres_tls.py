"""A PostgreSQL of a test's own that speaks TLS only, on a free port, with a certificate
from a CA made at test time: the shared database is never reconfigured.

Debian's binaries, as deploy/local/stack.py uses them; as root the server runs as the
``postgres`` user, in a directory under /tmp that it can reach.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import trustme

from support.stack import free_port

HBA = """\
local all all trust
hostssl all all 127.0.0.1/32 trust
hostnossl all all 127.0.0.1/32 reject
"""


@dataclass
class TlsPostgres:
    port: int
    dir: Path
    ca: Path  # the CA that signed the server's certificate
    other_ca: Path  # one that did not

    def url(self, database: str, **params: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"postgresql://hookline@127.0.0.1:{self.port}/{database}?{query}"

    def verify_full(self, database: str) -> str:
        return self.url(database, sslmode="verify-full", sslrootcert=str(self.ca))


def _bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL's binaries are missing: deploy/local/stack.py installs them")
    return found[-1].parent


def _as_server(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _run(argv: list[str]) -> None:
    done = subprocess.run(_as_server(argv), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {done.stdout[-1500:]}{done.stderr[-1500:]}")


def start() -> TlsPostgres:
    top = Path("/tmp") / f"hookline-pgtls-{secrets.token_hex(4)}"
    data = top / "data"
    top.mkdir(mode=0o755)
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(top / "ca.pem"))
    trustme.CA().cert_pem.write_to_path(str(top / "other-ca.pem"))
    if os.geteuid() == 0:
        shutil.chown(top, "postgres", "postgres")
    _run([str(_bin() / "initdb"), "-D", str(data), "-U", "hookline", "--auth=trust", "-E", "UTF8"])
    server = ca.issue_cert("127.0.0.1", "localhost")
    server.cert_chain_pems[0].write_to_path(str(data / "server.crt"))
    server.private_key_pem.write_to_path(str(data / "server.key"))
    (data / "pg_hba.conf").write_text(HBA)
    for name in ("server.crt", "server.key", "pg_hba.conf"):
        if os.geteuid() == 0:
            shutil.chown(data / name, "postgres", "postgres")
    (data / "server.key").chmod(0o600)
    port = free_port()
    opts = (
        f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c ssl=on "
        "-c ssl_cert_file=server.crt -c ssl_key_file=server.key"
    )
    pg_ctl = str(_bin() / "pg_ctl")
    _run([pg_ctl, "-D", str(data), "-o", opts, "-l", str(top / "server.log"), "-w", "start"])
    _run([str(_bin() / "createdb"), "-h", str(data), "-p", str(port), "-U", "hookline", "hookline"])
    return TlsPostgres(port, top, top / "ca.pem", top / "other-ca.pem")


def stop(pg: TlsPostgres) -> None:
    pg_ctl = str(_bin() / "pg_ctl")
    subprocess.run(
        _as_server([pg_ctl, "-D", str(pg.dir / "data"), "-m", "immediate", "-w", "stop"]),
        capture_output=True,
        check=False,
    )
    shutil.rmtree(pg.dir, ignore_errors=True)
