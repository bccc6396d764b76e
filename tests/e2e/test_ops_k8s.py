"""deploy/k8s: the manifests parse, and agree with the code (images, commands, settings,
probes, the deliverer's consumer group and topic for KEDA)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from hookline.core import topics
from hookline.core.config import SETTINGS, Settings
from support.stack import ROOT

K8S = ROOT / "deploy" / "k8s"
# Each service runs its own image (a target of the Dockerfile) and console script; the
# API's two roles run the one API image as two Deployments.
SERVICES = ("api", "router", "deliverer", "retry-scheduler")
DEPLOYMENTS = {
    "api": ("hookline-api", ["hookline-api", "serve"]),
    "api-worker": ("hookline-api", ["hookline-api", "worker"]),
    "router": ("hookline-router", ["hookline-router"]),
    "deliverer": ("hookline-deliverer", ["hookline-deliverer"]),
    "retry-scheduler": ("hookline-retry-scheduler", ["hookline-retry-scheduler"]),
}
KNOWN = {s.name for s in SETTINGS} | {s.file_variable for s in SETTINGS if s.secret}


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def kustomization() -> dict[str, Any]:
    return documents(K8S / "kustomization.yaml")[0]


def resources() -> list[dict[str, Any]]:
    return [d for name in kustomization()["resources"] for d in documents(K8S / name)]


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in resources() if d["kind"] == kind}


def config() -> dict[str, str]:
    data: dict[str, str] = of_kind("ConfigMap")["hookline-config"]["data"]
    return data


def secret_keys() -> set[str]:
    generators = {g["name"]: g for g in kustomization()["secretGenerator"]}
    assert set(generators) == {"hookline-secrets", "hookline-secrets-keys"}
    assert generators["hookline-secrets"]["envs"] == ["secret.env"]
    lines = (K8S / "secret.env.example").read_text().splitlines()
    return {ln.split("=", 1)[0] for ln in lines if ln.strip() and not ln.startswith("#")}


def test_every_file_parses_and_is_listed() -> None:
    listed = set(kustomization()["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk, "kustomization.yaml must list every manifest"
    for path in [*K8S.glob("*.yaml"), *K8S.glob("optional/*.yaml")]:
        for doc in documents(path):
            assert doc.get("apiVersion") and doc.get("kind"), path
    assert {"secret.env", "secrets-keys"} <= set((K8S / ".gitignore").read_text().split())


def test_the_api_roles_and_the_deliverers_alone_mount_the_sealing_keys() -> None:
    (keys,) = [g for g in kustomization()["secretGenerator"] if g["name"].endswith("-keys")]
    assert keys["files"] == ["keys=secrets-keys"]
    for name in DEPLOYMENTS:
        pod = of_kind("Deployment")[f"hookline-{name}"]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        secret_volumes = {
            v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v
        }
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        if name in ("api", "api-worker", "deliverer"):
            assert secret_volumes == {"secrets-keys": "hookline-secrets-keys"}, name
            path = env["HOOKLINE_SECRETS_KEYS_FILE"]
            assert path.rsplit("/", 1) == [mounts["secrets-keys"], "keys"], name
        else:
            assert not secret_volumes and "HOOKLINE_SECRETS_KEYS_FILE" not in env, name


def test_settings_are_ones_the_code_reads_and_secrets_stay_in_the_secret() -> None:
    cfg = config()
    assert set(cfg) <= KNOWN, set(cfg) - KNOWN
    assert secret_keys() <= KNOWN
    assert secret_keys() == {"HOOKLINE_DATABASE_URL", "HOOKLINE_ADMIN_TOKEN"}
    assert not secret_keys() & set(cfg), "a secret in the ConfigMap"
    settings = Settings.from_env(cfg)  # every value is valid
    assert settings.http_host == "0.0.0.0" and settings.replication_factor >= 3


def _connects_to_postgresql(image: str) -> bool:
    """Whether a service's own code opens a database pool (reads its database URL)."""
    package = ROOT / "services" / image.removeprefix("hookline-")
    return any("settings.database_url" in p.read_text() for p in package.rglob("*.py"))


def test_four_services_with_their_image_command_and_probes() -> None:
    deployments = of_kind("Deployment")
    assert set(deployments) == {f"hookline-{name}" for name in DEPLOYMENTS}
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    images = [{"name": f"hookline-{name}", "newTag": version} for name in SERVICES]
    assert kustomization()["images"] == images
    port = int(config()["HOOKLINE_HTTP_PORT"])
    for name, (image, command) in DEPLOYMENTS.items():
        spec = deployments[f"hookline-{name}"]["spec"]
        pod = spec["template"]["spec"]
        assert (
            spec["selector"]["matchLabels"].items()
            <= spec["template"]["metadata"]["labels"].items()
        )
        (container,) = pod["containers"]
        assert container["image"] == image, name
        assert container["command"] == command, name
        assert [p["containerPort"] for p in container["ports"]] == [port]
        sources = {
            ref.get("configMapRef", ref.get("secretRef", {})).get("name")
            for ref in container["envFrom"]
        }
        assert "hookline-config" in sources
        # The whole Secret (the admin token) for the API's two roles only; the database
        # URL for every service whose code connects to PostgreSQL.
        assert ("hookline-secrets" in sources) == name.startswith("api"), name
        env = {e["name"]: e for e in container.get("env", [])}
        from_secret = env.get("HOOKLINE_DATABASE_URL", {}).get("valueFrom", {})
        has_database = "hookline-secrets" in sources or (
            from_secret.get("secretKeyRef", {}).get("name") == "hookline-secrets"
        )
        assert has_database == _connects_to_postgresql(image), name
        names = set(env)
        assert names <= KNOWN, names - KNOWN
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert container[probe]["httpGet"]["port"] == "http"
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["terminationGracePeriodSeconds"] >= 30
        annotations = spec["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/path"] == "/metrics"
        assert annotations["prometheus.io/port"] == str(port)
    # KEDA owns the deliverer's replica count; a fixed one would fight it.
    assert "replicas" not in deployments["hookline-deliverer"]["spec"]


def test_the_apis_two_roles_scale_apart_and_only_the_http_role_takes_requests() -> None:
    deployments = of_kind("Deployment")
    api, worker = deployments["hookline-api"], deployments["hookline-api-worker"]
    assert api["spec"]["replicas"] >= 2 and worker["spec"]["replicas"] >= 1
    worker_pods = worker["spec"]["template"]["metadata"]["labels"]
    api_pods = api["spec"]["template"]["metadata"]["labels"]
    assert not api["spec"]["selector"]["matchLabels"].items() <= worker_pods.items()
    assert not worker["spec"]["selector"]["matchLabels"].items() <= api_pods.items()
    (service,) = of_kind("Service").values()
    assert service["metadata"]["name"] == "hookline-api"
    assert service["spec"]["selector"].items() <= api_pods.items()
    assert not service["spec"]["selector"].items() <= worker_pods.items()
    budget = of_kind("PodDisruptionBudget")["hookline-api"]["spec"]["selector"]["matchLabels"]
    assert not budget.items() <= worker_pods.items()


def test_the_router_has_a_writable_working_directory() -> None:
    pod = of_kind("Deployment")["hookline-router"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert container["workingDir"] in mounts
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts[container["workingDir"]]]


def test_deliverers_scale_on_their_consumer_group_lag_on_both_lanes() -> None:
    (scaled,) = of_kind("ScaledObject").values()
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == "hookline-deliverer"
    settings = Settings.from_env(config())
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= settings.partitions
    worker = (ROOT / "services/deliverer/hookline/deliverer/worker.py").read_text()
    group = re.search(r'^GROUP = "([^"]+)"', worker, re.M)
    assert group, "the deliverer's GROUP constant moved"
    lanes = set()
    for trigger in spec["triggers"]:
        assert trigger["type"] == "kafka"
        meta = trigger["metadata"]
        assert meta["bootstrapServers"] == settings.kafka_bootstrap
        assert meta["consumerGroup"] == f"{settings.topic_prefix}-{group.group(1)}"
        assert int(meta["lagThreshold"]) > 0
        lanes.add(meta["topic"])
    assert lanes == {topics.deliveries(settings), topics.deliveries_bulk(settings)}


SASL = K8S / "optional" / "kafka-sasl"
KEDA_KAFKA_AUTH = {"sasl", "username", "password", "tls", "ca", "cert", "key"}


def test_the_kafka_sasl_component_gives_every_service_and_keda_the_credentials() -> None:
    (component,) = documents(SASL / "kustomization.yaml")
    assert component["kind"] == "Component"
    (cfg,) = documents(SASL / "config.yaml")
    settings = cfg["data"]
    readable = KNOWN | {s.file_variable for s in SETTINGS if s.secret}
    assert cfg["metadata"]["name"] == "hookline-config" and set(settings) <= readable
    assert settings["HOOKLINE_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    (generator,) = component["secretGenerator"]
    files = dict(f.split("=", 1) for f in generator["files"])
    for f in [*files.values(), *generator["envs"]]:
        assert f in (SASL / ".gitignore").read_text().split(), f"{f} would be committed"
    env_keys = {
        ln.split("=", 1)[0]
        for ln in (SASL / "kafka.env.example").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    }
    keys = env_keys | set(files)
    deployment, scaled = (p for p in component["patches"] if "target" in p)
    volume, mount = yaml.safe_load(deployment["patch"])
    assert deployment["target"] == {"kind": "Deployment"}
    assert volume["value"]["secret"]["secretName"] == generator["name"]
    mounted = {i["path"]: i["key"] for i in volume["value"]["secret"]["items"]}
    where = mount["value"]["mountPath"]
    for name in ("HOOKLINE_KAFKA_SASL_PASSWORD_FILE", "HOOKLINE_KAFKA_SSL_CA_FILE"):
        directory, _, file = settings[name].rpartition("/")
        assert directory == where and mounted[file] in keys, name
    (auth,) = documents(SASL / "trigger-auth.yaml")
    refs = auth["spec"]["secretTargetRef"]
    assert {r["parameter"] for r in refs} <= KEDA_KAFKA_AUTH
    assert all(r["name"] == generator["name"] and r["key"] in keys for r in refs)
    (lanes,) = of_kind("ScaledObject").values()
    ops = yaml.safe_load(scaled["patch"])
    assert sorted(o["path"] for o in ops) == [
        f"/spec/triggers/{i}/authenticationRef" for i in range(len(lanes["spec"]["triggers"]))
    ]
    assert all(o["value"] == {"name": auth["metadata"]["name"]} for o in ops)
    (config_file,) = component["configurations"]
    (reference,) = yaml.safe_load((SASL / config_file).read_text())["nameReference"]
    assert reference["fieldSpecs"] == [
        {"kind": "TriggerAuthentication", "path": "spec/secretTargetRef/name"}
    ]  # else the Secret's hashed name would not reach KEDA


def test_the_optional_egress_policy_blocks_private_ranges() -> None:
    (policy,) = documents(K8S / "optional" / "deliverer-egress.yaml")
    assert policy["kind"] == "NetworkPolicy"
    blocks = [
        rule["to"][0]["ipBlock"] for rule in policy["spec"]["egress"] if "ipBlock" in rule["to"][0]
    ]
    (public,) = blocks
    assert public["cidr"] == "0.0.0.0/0"
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} <= set(
        public["except"]
    )
