"""``pip install ./shared ./services/deliverer`` into a virtualenv of its own, as a user
would, and ``pip wheel`` of every distribution: the wheels hold their part of the
``hookline.*`` namespace (no ``hookline/__init__.py``), ``py.typed`` and their data files.

Offline: the third-party packages come from uv's cache (filled by ``make venv``) at the
versions uv.lock pins (``uv sync --no-install-workspace`` into the new virtualenv), and
pip builds with the pinned hatchling installed beside them (``--no-build-isolation
--no-index``), so no index is asked for anything."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from support.stack import ROOT

pytestmark = pytest.mark.e2e

FOLDERS = (
    "shared",
    "services/api",
    "services/router",
    "services/deliverer",
    "services/retry-scheduler",
)
HATCHLING = "hatchling==1.33.0"  # the build-system pin of every pyproject.toml
TIMEOUT_S = 120


def uv() -> str:
    found = ROOT / ".uv" / "bin" / "uv"
    if found.is_file():
        return str(found)
    which = shutil.which("uv")
    assert which, "uv is missing: run `make venv`"
    return which


def run(*argv: str | Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never", **(env or {})},
        check=False,
    )
    assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def deliverer_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv (with pip) holding the locked dependencies of the deliverer
    and hookline-core, and hatchling, but neither hookline distribution yet."""
    tmp = tmp_path_factory.mktemp("pip-install")
    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", venv)
    # The locked third-party packages of the deliverer and hookline-core, no hookline code.
    run(
        uv(), "sync", "--offline", "--frozen", "--no-dev", "--package", "hookline-deliverer",
        "--no-install-workspace", "--inexact", "--quiet", env={"UV_PROJECT_ENVIRONMENT": str(venv)},
    )  # fmt: skip
    run(
        uv(),
        "pip",
        "install",
        "--offline",
        "--quiet",
        "--python",
        venv / "bin" / "python",
        HATCHLING,
    )
    return venv


def test_pip_installs_the_deliverer_with_hookline_core_alone(deliverer_venv: Path) -> None:
    pip: list[str | Path] = [deliverer_venv / "bin" / "python", "-m", "pip"]
    run(*pip, "install", "--quiet", "--no-index", "--no-build-isolation", "./shared",
        "./services/deliverer")  # fmt: skip
    installed = run(*pip, "list", "--format=freeze")
    assert "hookline-deliverer==0.1.0" in installed and "hookline-core==0.1.0" in installed
    run(*pip, "check")  # every declared dependency is there, at a version it accepts
    python = deliverer_venv / "bin" / "python"
    # Installed, not read from the work tree: run from elsewhere, with no path set.
    probe = (
        "import importlib.util as u, hookline.deliverer.worker as w, hookline.core.db;"
        "print(w.__file__);"
        "print([m for m in ('faust', 'hookline.router', 'hookline.api') if u.find_spec(m)])"
    )
    where, others = run(python, "-I", "-c", probe).splitlines()
    assert "site-packages" in where and str(ROOT) not in where
    assert others == "[]", "the deliverer's install holds another service's code or Faust"
    # Its console script runs its main(): a bad setting ends it in one line, exit 2.
    script = subprocess.run(
        [deliverer_venv / "bin" / "hookline-deliverer"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env={"PATH": os.environ["PATH"], "HOOKLINE_PARTITIONS": "many"},
        check=False,
    )
    assert script.returncode == 2, script.stderr
    assert script.stderr.startswith("hookline: bad setting: HOOKLINE_PARTITIONS"), script.stderr


def test_pip_wheel_builds_each_distribution(deliverer_venv: Path, tmp_path: Path) -> None:
    pip: list[str | Path] = [deliverer_venv / "bin" / "python", "-m", "pip"]
    run(*pip, "wheel", "--quiet", "--no-index", "--no-build-isolation", "--no-deps",
        "--wheel-dir", tmp_path, *(f"./{f}" for f in FOLDERS))  # fmt: skip
    wheels = {w.name.split("-")[0]: w for w in tmp_path.glob("*.whl")}
    assert set(wheels) == {
        "hookline_core", "hookline_api", "hookline_router", "hookline_deliverer",
        "hookline_retry_scheduler",
    }  # fmt: skip
    names = {dist: set(zipfile.ZipFile(w).namelist()) for dist, w in wheels.items()}
    for dist, files in names.items():
        assert "hookline/__init__.py" not in files, dist
        assert not any(f.startswith(("tests/", "bench/")) or "__pycache__" in f for f in files)
        package = dist.removeprefix("hookline_")
        packages = ("core", "cli") if package == "core" else (package,)
        for part in packages:
            assert f"hookline/{part}/py.typed" in files, dist
            assert f"hookline/{part}/__init__.py" in files, dist
    # Every file of the sources is in its wheel: the SQL migrations, the dashboard's files.
    for folder in FOLDERS:
        dist = "hookline_" + ("core" if folder == "shared" else Path(folder).name.replace("-", "_"))
        sources = {
            str(f.relative_to(ROOT / folder))
            for f in (ROOT / folder / "hookline").rglob("*")
            if f.is_file() and "__pycache__" not in f.parts
        }
        assert sources <= names[dist], sources - names[dist]
    assert "hookline/core/migrations/001_init.sql" in names["hookline_core"]
    entry_points = zipfile.ZipFile(wheels["hookline_router"]).read(
        "hookline_router-0.1.0.dist-info/entry_points.txt"
    )
    assert b"hookline-router = hookline.router.__main__:main" in entry_points
