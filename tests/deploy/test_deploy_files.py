"""The files users run without us: the README's settings table, docker-compose.yml."""

from __future__ import annotations

import re

import yaml

from hookline.core.config import SETTINGS, settings_table
from hookline.retry_scheduler import scheduler
from support.stack import ROOT


def test_readme_settings_table_is_the_generated_one() -> None:
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- settings:start -->\n(.*?)\n<!-- settings:end -->", readme, re.S)
    assert found, "README.md lost its settings markers"
    assert found.group(1) == settings_table()


def test_compose_runs_the_four_services_against_kafka_and_postgres() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"kafka", "postgres", "api", "router", "deliverer", "retry-scheduler"} <= set(services)
    modules = {
        "api": "hookline.api",
        "router": "hookline.router",
        "deliverer": "hookline.deliverer",
        "retry-scheduler": "hookline.retry_scheduler",
    }
    for name, module in modules.items():
        svc = services[name]
        assert svc["command"] == ["python", "-m", module]
        env = svc["environment"]
        assert env["HOOKLINE_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["HOOKLINE_DATABASE_URL"].startswith("postgresql://")
        unknown = set(env) - {s.name for s in SETTINGS}
        assert not unknown, f"compose sets variables the code does not read: {unknown}"
        assert "ports" not in svc or name == "api", "only the API is published"
    # The deliverer must be scalable: no fixed container name or host port.
    assert "container_name" not in services["deliverer"] and "ports" not in services["deliverer"]
    assert services["kafka"]["image"].startswith("apache/kafka:4.")


def test_dockerfile_puts_every_package_directory_on_the_path() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    parts = ("shared", "services/api", "services/router", "services/deliverer")
    for part in (*parts, "services/retry-scheduler"):
        assert f"/app/{part}" in dockerfile


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
