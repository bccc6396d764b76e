"""The workspace: five distributions sharing the ``hookline.*`` namespace, each with a
build backend, its commands and the dependencies its code imports (no more, no fewer)."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from support.stack import ROOT

# Each distribution's folder, and the hookline.* packages it holds.
MEMBERS = {
    "hookline-core": ("shared", ("core", "cli")),
    "hookline-api": ("services/api", ("api",)),
    "hookline-router": ("services/router", ("router",)),
    "hookline-deliverer": ("services/deliverer", ("deliverer",)),
    "hookline-retry-scheduler": ("services/retry-scheduler", ("retry_scheduler",)),
}
SCRIPTS = {
    "hookline-core": {"hookline": "hookline.cli.main:main"},
    "hookline-api": {"hookline-api": "hookline.api.__main__:main"},
    "hookline-router": {"hookline-router": "hookline.router.__main__:main"},
    "hookline-deliverer": {"hookline-deliverer": "hookline.deliverer.__main__:main"},
    "hookline-retry-scheduler": {
        "hookline-retry-scheduler": "hookline.retry_scheduler.__main__:main"
    },
}


def pyproject(folder: str) -> dict[str, Any]:
    return tomllib.loads((ROOT / folder / "pyproject.toml").read_text())


def imported_top_levels(folder: Path) -> set[str]:
    """The top-level names every module under ``folder`` imports (``hookline.core`` for
    the namespace package's portions, as each is a distribution of its own)."""
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                parts = module.split(".")
                names.add(".".join(parts[:2]) if parts[0] == "hookline" else parts[0])
    return names


def distributions_of(names: set[str]) -> set[str]:
    """The distributions that provide these imports; the standard library needs none."""
    installed = packages_distributions()
    found = set()
    for name in names - set(sys.stdlib_module_names) - {"__future__"}:
        if name.startswith("hookline."):
            package = name.removeprefix("hookline.")
            (dist,) = [d for d, (_, packages) in MEMBERS.items() if package in packages]
            found.add(dist)
            continue
        assert name in installed, f"{name} is imported but no installed distribution has it"
        found.update(canonicalize_name(d) for d in installed[name])
    return found


def test_the_root_is_a_uv_workspace_of_the_five_distributions() -> None:
    root = pyproject(".")
    assert root["tool"]["uv"]["package"] is False, "the root is no package of its own"
    members = {Requirement(r).name for r in root["project"]["dependencies"]}
    assert members == set(MEMBERS)
    assert set(root["tool"]["uv"]["sources"]) == set(MEMBERS)
    folders = [folder for folder, _ in MEMBERS.values()]
    globbed = {
        str(p.relative_to(ROOT))
        for g in root["tool"]["uv"]["workspace"]["members"]
        for p in ROOT.glob(g)
        if (p / "pyproject.toml").is_file()
    }
    assert globbed == set(folders)
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    locked = {p["name"]: p for p in lock["package"]}
    assert set(MEMBERS) <= set(locked), "uv.lock lacks a member: run make lock"
    # Every third-party package in the lock comes from the registry at one version.
    for name, package in locked.items():
        if name not in MEMBERS and name != "hookline":
            assert package["source"] == {"registry": "https://pypi.org/simple"}, name
            assert package["version"], name


def test_each_distribution_builds_its_part_of_the_namespace_package() -> None:
    version = pyproject(".")["project"]["version"]
    for dist, (folder, packages) in MEMBERS.items():
        project = pyproject(folder)
        assert project["project"]["name"] == dist
        assert project["project"]["version"] == version, f"{dist} is not at {version}"
        backend = project["build-system"]
        assert backend["build-backend"] == "hatchling.build"
        assert all("==" in r for r in backend["requires"]), f"{dist}: pin the backend"
        assert project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["hookline"]
        assert project["project"]["scripts"] == SCRIPTS[dist]
        # No hookline/__init__.py: the namespace package is spread over the five.
        assert not (ROOT / folder / "hookline" / "__init__.py").exists(), dist
        on_disk = {p.name for p in (ROOT / folder / "hookline").iterdir() if p.is_dir()}
        assert on_disk - {"__pycache__"} == set(packages), dist
        for package in packages:
            assert (ROOT / folder / "hookline" / package / "py.typed").is_file(), package


def test_each_distribution_depends_on_what_its_code_imports() -> None:
    for dist, (folder, _) in MEMBERS.items():
        declared = {
            canonicalize_name(Requirement(r).name)
            for r in pyproject(folder)["project"]["dependencies"]
        }
        needed = distributions_of(imported_top_levels(ROOT / folder / "hookline")) - {dist}
        assert needed <= declared, f"{dist} imports {needed - declared} without declaring it"
        assert declared <= needed, f"{dist} declares {declared - needed} it never imports"
    router = pyproject("services/router")["project"]["dependencies"]
    assert any(r.startswith("faust-streaming") for r in router)
