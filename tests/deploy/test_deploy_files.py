"""The files users run without us: the README's settings table, docker-compose.yml and
the Dockerfile's image per service."""

from __future__ import annotations

import re
import tomllib

import yaml

from hookline.core.config import SETTINGS, settings_table
from hookline.retry_scheduler import scheduler
from support.stack import ROOT


def test_readme_settings_table_is_the_generated_one() -> None:
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- settings:start -->\n(.*?)\n<!-- settings:end -->", readme, re.S)
    assert found, "README.md lost its settings markers"
    assert found.group(1) == settings_table()


# Each service: its Dockerfile target (the image), its distribution, its console script.
SERVICES = {
    "api": "hookline-api",
    "router": "hookline-router",
    "deliverer": "hookline-deliverer",
    "retry-scheduler": "hookline-retry-scheduler",
}


def dockerfile_stages() -> dict[str, list[str]]:
    """The Dockerfile's stages by name, each with its instruction lines."""
    stages: dict[str, list[str]] = {}
    lines: list[str] = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        found = re.fullmatch(r"FROM \S+ AS (\S+)", line)
        if found:
            lines = stages.setdefault(found.group(1), [])
        elif line and not line.startswith("#"):
            lines.append(line)
    return stages


def scripts_of(folder: str) -> dict[str, str]:
    project = tomllib.loads((ROOT / "services" / folder / "pyproject.toml").read_text())
    scripts: dict[str, str] = project["project"]["scripts"]
    return scripts


def test_compose_runs_the_four_services_against_kafka_and_postgres() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"kafka", "postgres", "api-worker", *SERVICES}
    stages = dockerfile_stages()
    # The API's two roles: one image, two commands.
    commands = {name: [script] for name, script in SERVICES.items()}
    commands |= {"api": ["hookline-api", "serve"], "api-worker": ["hookline-api", "worker"]}
    targets = {**{name: name for name in SERVICES}, "api-worker": "api"}
    for name, target in targets.items():
        svc = services[name]
        # Its own image, from its own target of the Dockerfile, running its own command.
        assert svc["build"] == {"context": ".", "target": target}, name
        assert target in stages, f"the Dockerfile has no target {target}"
        assert svc["image"].split(":")[0] == SERVICES[target]
        assert svc["command"] == commands[name]
        env = svc["environment"]
        assert env["HOOKLINE_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["HOOKLINE_DATABASE_URL"].startswith("postgresql://")
        unknown = set(env) - {s.name for s in SETTINGS}
        assert not unknown, f"compose sets variables the code does not read: {unknown}"
        assert "ports" not in svc or name == "api", "only the API is published"
    # The deliverer and the API's worker must be scalable: no fixed container name or port.
    for scaled in ("deliverer", "api-worker"):
        assert "container_name" not in services[scaled] and "ports" not in services[scaled]
    assert services["kafka"]["image"].startswith("apache/kafka:4.")


def test_each_image_holds_its_own_service_from_the_lock_and_runs_its_script() -> None:
    stages = dockerfile_stages()
    for name, dist in SERVICES.items():
        assert scripts_of(name).get(dist), f"services/{name} declares no {dist} command"
        (copy,) = [ln for ln in stages[name] if ln.startswith("COPY")]
        assert copy == f"COPY --from=build-{name} /venv /venv", name
        assert stages[name][-1] == f'CMD ["{dist}"]', name
        # Only this service's distribution (and hookline-core), exactly as uv.lock pins it.
        (sync,) = [ln for ln in stages[f"build-{name}"] if ln.startswith("RUN")]
        assert "uv sync --frozen --no-dev --no-editable" in sync
        assert sync.endswith(f"--package {dist}"), sync
    assert "COPY pyproject.toml uv.lock ./" in stages["build"]
    every_line = [ln for lines in stages.values() for ln in lines]
    assert not any("requirements" in ln or "PYTHONPATH" in ln for ln in every_line)


def test_the_retry_schedulers_promise_is_the_one_its_deployment_keeps() -> None:
    """deploy/k8s runs it as a Deployment (pod names change), and a partition can move
    while its old owner lives: "neither lost nor copied" holds for a crash, not for a
    rebalance, so the code and the docs say "at least once across rebalances"."""
    manifest = yaml.safe_load((ROOT / "deploy/k8s/retry-scheduler.yaml").read_text())
    assert manifest["kind"] == "Deployment"
    doc = scheduler.__doc__ or ""
    assert "At least once across rebalances" in doc and "Neither lost nor copied" not in doc
    delivery = " ".join((ROOT / "docs/delivery.md").read_text().split())
    assert "**At least once across rebalances**, for the retry scheduler too" in delivery
