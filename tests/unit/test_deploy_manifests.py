"""The deploy files agree with the code: parsed here, since no Docker engine or cluster runs.

Checked against the code, not against copies of its values: the HTTP port and consumer
group defaults come from ``engine.config.Settings``, the variables from what
``Settings.from_env`` actually reads, the partition count from ``default_topic_specs``,
the console script from pyproject.toml, metric names from ``engine.metrics`` and
``engine.sla_metrics``, the SLA tracker's input topics from ``engine.sla_pipeline``, the
processes ``dispatch run`` accepts from the CLI parser.

Both long-running processes are checked the same way: the dispatcher and the SLA tracker
each have a Deployment, Service, PodDisruptionBudget, ServiceMonitor and KEDA ScaledObject
named after the process (= the ``dispatch run`` argument = the compose service = the
Prometheus job).
"""

from __future__ import annotations

import argparse
import functools
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.adapters.kafka.admin import default_topic_specs
from engine.adapters.redis.connect import CLUSTER_SCHEMES, client_from_url, parse_url
from engine.cli import build_parser
from engine.config import ConfigError, Settings
from engine.metrics import DispatcherMetrics
from engine.policy_file import load_policy
from engine.sla_metrics import SlaMetrics
from engine.sla_pipeline import INPUT_TOPICS as SLA_INPUT_TOPICS
from tests.unit.test_prometheus_rules import promtool

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
DOCKERFILE = DEPLOY / "Dockerfile"
RUN_AS = 10001
DEFAULTS = Settings()
VARIABLE = re.compile(r"\bDISPATCH_[A-Z0-9_]*[A-Z0-9]\b")
OPTIONAL_MANIFEST = (".optional.yaml", ".example.yaml")
PROBES = {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}
# The long-running processes; each name is a `dispatch run` argument, the name of its
# Kubernetes objects and compose service, and its Prometheus job.
PROCESSES = ("dispatcher", "sla-tracker")
# Each process's consumer group variable (test_group_variables_set_the_processes_groups
# checks them against Settings) and the topics its KEDA triggers follow.
GROUP_VARIABLE = {"dispatcher": "DISPATCH_GROUP", "sla-tracker": "DISPATCH_SLA_GROUP"}
LAG_TOPICS = {"dispatcher": ("tickets.events",), "sla-tracker": SLA_INPUT_TOPICS}
# Prometheus rules per process: the PrometheusRule of deploy/k8s, the rules file it copies
# and the registry whose metrics they may name.
RULES: dict[str, tuple[Path, type[DispatcherMetrics] | type[SlaMetrics]]] = {
    "dispatcher": (DEPLOY / "prometheus" / "rules" / "dispatch.rules.yml", DispatcherMetrics),
    "sla-tracker": (DEPLOY / "prometheus" / "rules" / "sla.rules.yml", SlaMetrics),
}
per_process = pytest.mark.parametrize("process", PROCESSES)


# ---------------------------------------------------------------- loading


@functools.cache
def yaml_docs(path: Path) -> list[Any]:
    """The documents of a YAML file, parsed once per run (callers must not mutate them)."""
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def kustomization() -> dict[str, Any]:
    doc: dict[str, Any] = yaml_docs(K8S / "kustomization.yaml")[0]
    return doc


def manifests(*, optional: bool = True) -> list[dict[str, Any]]:
    """Every Kubernetes object under deploy/k8s (optional/example files too by default)."""
    files = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    if not optional:
        files = [p for p in files if not p.name.endswith(OPTIONAL_MANIFEST)]
    return [doc for path in files for doc in yaml_docs(path)]


def the(kind: str, name: str = "dispatcher") -> dict[str, Any]:
    found = [m for m in manifests() if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name} in deploy/k8s, found {len(found)}"
    return found[0]


def pod(process: str) -> dict[str, Any]:
    """The pod spec of a process's Deployment."""
    spec: dict[str, Any] = the("Deployment", process)["spec"]["template"]["spec"]
    return spec


def container(process: str) -> dict[str, Any]:
    """The one container of a process's Deployment."""
    (c,) = pod(process)["containers"]
    found: dict[str, Any] = c
    return found


def pod_labels(process: str) -> dict[str, str]:
    labels: dict[str, str] = the("Deployment", process)["spec"]["template"]["metadata"]["labels"]
    return labels


def consumer_group(settings: Settings, process: str) -> str:
    return settings.group if process == "dispatcher" else settings.sla_group


def run_choices() -> set[str]:
    """The processes `dispatch run` accepts, read from the CLI parser."""
    (sub,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    (arg,) = [a for a in sub.choices["run"]._actions if a.dest == "process"]
    return set(arg.choices or ())


def quantity(value: str | int) -> float:
    """A Kubernetes resource quantity (``250m``, ``"1"``, ``256Mi``) as a number."""
    units = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20}
    units |= {"Gi": 2**30}
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(value))
    assert match and match[2] in units, value
    return float(match[1]) * units[match[2]]


def pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    for m in manifests():
        spec = m.get("spec", {})
        spec = spec.get("jobTemplate", {}).get("spec", spec)  # CronJob
        if "template" in spec:
            yield f"{m['kind']}/{m['metadata']['name']}", spec["template"]["spec"]


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def generated_literals(name: str) -> dict[str, str]:
    """``KEY=VALUE`` literals of one configMapGenerator entry of the kustomization."""
    (gen,) = [g for g in kustomization().get("configMapGenerator", []) if g["name"] == name]
    return dict(str(lit).split("=", 1) for lit in gen.get("literals", []))


def container_env(container: dict[str, Any]) -> dict[str, str]:
    """What the dispatcher container sees: envFrom dispatch-config, then its own env."""
    refs = {ref.get("configMapRef", {}).get("name") for ref in container.get("envFrom", [])}
    env = generated_literals("dispatch-config") if "dispatch-config" in refs else {}
    env.update({e["name"]: str(e["value"]) for e in container.get("env", []) if "value" in e})
    return env


def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml_docs(DEPLOY / "compose.yaml")[0]
    return doc


def from_image(service: dict[str, Any]) -> bool:
    return bool(service.get("build", {}).get("dockerfile") == "deploy/Dockerfile")


def reads(name: str) -> bool:
    """Whether ``Settings.from_env`` reads ``name``: setting it to junk changes or fails it."""
    try:
        return bool(Settings.from_env({name: "junk value!"}) != Settings.from_env({}))
    except ConfigError:
        return True


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]


def final_stage() -> list[tuple[str, str]]:
    steps = dockerfile_instructions()
    start = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[start:]


# ---------------------------------------------------------------- configuration


def test_every_dispatch_variable_named_in_deploy_is_read_by_engine_config() -> None:
    files = [DOCKERFILE, DEPLOY / "compose.yaml", DEPLOY / "README.md", *K8S.glob("*.yaml")]
    named = {v: f.relative_to(ROOT) for f in files for v in VARIABLE.findall(f.read_text())}
    assert {"DISPATCH_KAFKA_BOOTSTRAP", "DISPATCH_POLICY", "DISPATCH_HTTP_PORT"} <= set(named)
    unknown = {v: str(f) for v, f in named.items() if not reads(v)}
    assert unknown == {}, "variables engine/config.py does not read"
    assert not reads("DISPATCH_NO_SUCH_SETTING")  # the probe itself can say no


def test_shipped_configuration_parses_under_engine_config() -> None:
    secret = the("Secret", "dispatch-secrets")["stringData"]
    envs = [container_env(container(p)) for p in PROCESSES]
    envs += [{**env, **secret} for env in envs]
    envs += [compose()["services"][p]["environment"] for p in PROCESSES]
    for env in envs:
        settings = Settings.from_env({k: str(v) for k, v in env.items()})
        assert settings.http_port == DEFAULTS.http_port
        assert settings.policy_path is not None
        assert (settings.group, settings.sla_group) == (DEFAULTS.group, DEFAULTS.sla_group)
    assert "CHANGE-ME" in secret["DISPATCH_KAFKA_SASL_PASSWORD"]  # placeholders, marked


def test_group_variables_set_the_processes_groups() -> None:
    for process, variable in GROUP_VARIABLE.items():
        assert consumer_group(Settings.from_env({variable: "g"}), process) == "g", variable
    assert DEFAULTS.group != DEFAULTS.sla_group  # two groups: each process sees every event


def test_policy_files_shipped_to_the_processes_are_valid() -> None:
    files = [
        K8S / spec.split("=", 1)[-1]
        for gen in kustomization()["configMapGenerator"]
        if gen["name"] == "dispatch-policy"
        for spec in gen["files"]
    ]
    for process in PROCESSES:
        service = compose()["services"][process]
        policy = service["environment"]["DISPATCH_POLICY"]
        mounted = [
            DEPLOY / v.split(":")[0] for v in service["volumes"] if v.split(":")[1] == policy
        ]
        assert len(mounted) == 1, process
        files += mounted
    assert len(files) == 1 + len(PROCESSES)
    for path in files:
        assert load_policy(path).queues, path


# ---------------------------------------------------------------- Kubernetes


def test_every_container_runs_non_root_with_a_restricted_security_context() -> None:
    pods = list(pod_specs())
    assert {f"Deployment/{p}" for p in PROCESSES} <= {where for where, _ in pods}
    for where, pod in pods:
        assert pod.get("automountServiceAccountToken") is False, where
        for c in containers(pod):
            ctx = c.get("securityContext", {})  # these three exist only per container
            assert ctx.get("readOnlyRootFilesystem") is True, where
            assert ctx.get("allowPrivilegeEscalation") is False, where
            assert ctx.get("capabilities", {}).get("drop") == ["ALL"], where
            ctx = {**pod.get("securityContext", {}), **ctx}  # the pod's, overridden
            assert ctx.get("runAsNonRoot") is True, where
            assert ctx.get("runAsUser") == RUN_AS, where
            assert ctx.get("seccompProfile", {}).get("type") == "RuntimeDefault", where


@per_process
def test_probes_hit_healthz_and_readyz_on_the_port_the_code_serves(process: str) -> None:
    for c in pod(process)["containers"]:
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        for probe, path in PROBES.items():
            get = c[probe]["httpGet"]
            assert get["path"] == path, probe
            assert ports.get(get["port"], get["port"]) == DEFAULTS.http_port, probe
        assert Settings.from_env(container_env(c)).http_port == DEFAULTS.http_port


@per_process
def test_deployment_is_sized_spread_and_stops_gracefully(process: str) -> None:
    deployment = the("Deployment", process)
    spec, pod = deployment["spec"], deployment["spec"]["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["replicas"] == 2
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert pod["terminationGracePeriodSeconds"] >= 30
    assert pod["topologySpreadConstraints"]
    for constraint in pod["topologySpreadConstraints"]:
        assert constraint["labelSelector"]["matchLabels"].items() <= labels.items()
    for c in pod["containers"]:
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c["resources"][bound]), bound
            for resource in ("cpu", "memory"):
                request, limit = c["resources"]["requests"], c["resources"]["limits"]
                assert quantity(request[resource]) <= quantity(limit[resource]), resource
        assert c["args"] == ["run", process] and process in run_choices()


def test_sla_tracker_asks_for_less_than_the_dispatcher() -> None:
    sla, dispatcher = container("sla-tracker")["resources"], container("dispatcher")["resources"]
    for bound in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            assert quantity(sla[bound][resource]) < quantity(dispatcher[bound][resource])


def test_sla_tracker_shares_the_dispatcher_image_configuration_and_mounts() -> None:
    sla, dispatcher = container("sla-tracker"), container("dispatcher")
    for key in ("image", "envFrom", "env", "ports", "volumeMounts", "securityContext"):
        assert sla[key] == dispatcher[key], key
    for key in ("volumes", "securityContext", "automountServiceAccountToken"):
        assert pod("sla-tracker")[key] == pod("dispatcher")[key], key
    assert pod_labels("sla-tracker") != pod_labels("dispatcher")


@per_process
def test_policy_is_mounted_where_dispatch_policy_points(process: str) -> None:
    c = container(process)
    policy = Path(container_env(c)["DISPATCH_POLICY"])
    volumes = {v["name"]: v for v in pod(process)["volumes"]}
    mounts = [m for m in c["volumeMounts"] if policy.parent == Path(m["mountPath"])]
    assert len(mounts) == 1 and mounts[0]["readOnly"] is True
    assert volumes[mounts[0]["name"]]["configMap"]["name"] == "dispatch-policy"
    (gen,) = [g for g in kustomization()["configMapGenerator"] if g["name"] == "dispatch-policy"]
    assert [f.split("=", 1)[0] for f in gen["files"]] == [policy.name]


def test_kustomization_lists_only_existing_files_and_every_required_manifest() -> None:
    k = kustomization()
    listed = [*k["resources"], *k.get("components", [])]
    listed += [p["path"] for p in k.get("patches", []) if "path" in p]
    for gen in [*k.get("configMapGenerator", []), *k.get("secretGenerator", [])]:
        listed += [f.split("=", 1)[-1] for f in [*gen.get("files", []), *gen.get("envs", [])]]
    missing = [p for p in listed if not (K8S / p).exists()]
    assert missing == []
    required = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    required = {n for n in required if not n.endswith(OPTIONAL_MANIFEST)}
    assert required <= set(k["resources"]), "a manifest is neither listed nor optional"
    assert not any(r.endswith(OPTIONAL_MANIFEST) for r in k["resources"])
    listed_kinds = {
        (doc["kind"], doc["metadata"]["name"]) for r in k["resources"] for doc in yaml_docs(K8S / r)
    }
    for process in PROCESSES:
        for kind in ("Deployment", "Service", "PodDisruptionBudget", "ServiceMonitor"):
            assert (kind, process) in listed_kinds, (kind, process)
        assert ("ScaledObject", process) in listed_kinds, process


@per_process
def test_pdb_and_service_select_the_deployment_pods_and_no_other(process: str) -> None:
    labels = pod_labels(process)
    others = [pod_labels(p) for p in PROCESSES if p != process]
    pdb = the("PodDisruptionBudget", process)["spec"]
    assert pdb["minAvailable"] == 1
    service = the("Service", process)["spec"]
    for selector in (pdb["selector"]["matchLabels"], service["selector"]):
        assert selector.items() <= labels.items()
        assert not any(selector.items() <= other.items() for other in others)
    names = {p["name"] for p in container(process)["ports"]}
    assert {p["targetPort"] for p in service["ports"]} <= names


def prometheus_job(monitor: dict[str, Any], service: dict[str, Any]) -> str:
    """The job label the Prometheus Operator gives a ServiceMonitor's targets."""
    job_label = monitor["spec"].get("jobLabel")
    job: str = (
        service["metadata"]["labels"][job_label] if job_label else service["metadata"]["name"]
    )
    return job


@per_process
def test_service_monitor_scrapes_the_metrics_port_of_the_service(process: str) -> None:
    monitor = the("ServiceMonitor", process)
    selector = monitor["spec"]["selector"]["matchLabels"]
    selected = [
        m
        for m in manifests()
        if m["kind"] == "Service" and selector.items() <= m["metadata"]["labels"].items()
    ]
    assert [s["metadata"]["name"] for s in selected] == [process]
    (service,) = selected
    ports = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in ports and endpoint["path"] == "/metrics"
    # the job the rules select, as the compose Prometheus config names it
    assert prometheus_job(monitor, service) == process
    compose_jobs = {
        j["job_name"] for j in yaml_docs(Path(prometheus_config()))[0]["scrape_configs"]
    }
    assert process in compose_jobs


@per_process
def test_scaled_object_follows_the_group_lag_within_the_partitions(process: str) -> None:
    scaled, config = the("ScaledObject", process)["spec"], generated_literals("dispatch-config")
    settings = Settings.from_env(config)
    assert scaled["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": the("Deployment", process)["metadata"]["name"],
    }
    triggers = scaled["triggers"]
    topics = [t["metadata"]["topic"] for t in triggers]
    assert sorted(topics) == sorted(settings.topic(t) for t in LAG_TOPICS[process])
    group = consumer_group(settings, process)
    assert group == consumer_group(DEFAULTS, process)
    partitions = {s.name: s.partitions for s in default_topic_specs(settings)}
    for trigger in triggers:
        meta = trigger["metadata"]
        assert trigger["type"] == "kafka"
        assert meta["consumerGroup"] == group
        assert meta["bootstrapServers"] == config["DISPATCH_KAFKA_BOOTSTRAP"]
        assert int(meta["lagThreshold"]) > 0
    assert the("PodDisruptionBudget", process)["spec"]["minAvailable"] < scaled["minReplicaCount"]
    # a member beyond the partitions of every input topic gets no work
    assert scaled["minReplicaCount"] <= scaled["maxReplicaCount"]
    assert scaled["maxReplicaCount"] <= max(partitions[t] for t in topics)
    fields = {
        (r["source"]["fieldPath"], path)
        for r in kustomization()["replacements"]
        for t in r["targets"]
        if t["select"] == {"kind": "ScaledObject", "name": process}
        for path in t["fieldPaths"]
    }
    assert fields == {
        (f"data.{variable}", f"spec.triggers.{i}.metadata.{key}")
        for i in range(len(triggers))
        for variable, key in (
            ("DISPATCH_KAFKA_BOOTSTRAP", "bootstrapServers"),
            (GROUP_VARIABLE[process], "consumerGroup"),
        )
    }


def test_cpu_hpa_is_an_optional_alternative_to_keda() -> None:
    hpa = the("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == the("Deployment")["metadata"]["name"]
    assert hpa["maxReplicas"] <= the("ScaledObject")["spec"]["maxReplicaCount"]
    # only in an optional file, and optional files are never listed in the kustomization
    assert not [m for m in manifests(optional=False) if m["kind"] == "HorizontalPodAutoscaler"]


@per_process
def test_prometheus_rule_carries_the_rules_file_of_the_process(process: str) -> None:
    rules_file, _ = RULES[process]
    groups = the("PrometheusRule", process)["spec"]["groups"]
    assert groups == yaml_docs(rules_file)[0]["groups"]


@per_process
def test_alert_rules_use_metrics_the_process_exports(process: str) -> None:
    _, metrics = RULES[process]
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    exported = {
        m.name + suffix
        for m in metrics().registry.collect()
        for suffix in suffixes.get(m.type, ("",))
    }
    rules = [r for g in the("PrometheusRule", process)["spec"]["groups"] for r in g["rules"]]
    used = {name for r in rules for name in re.findall(r"\bdispatch_[a-z_]+", r["expr"])}
    assert used and used <= exported
    jobs = {job for r in rules for job in re.findall(r'\bjob="([^"]+)"', r["expr"])}
    assert jobs == {process}  # the ServiceMonitor's job


def test_promtool_accepts_the_rules_and_the_compose_prometheus_config(tmp_path: Path) -> None:
    checks = [["check", "config", prometheus_config()]]
    for process in PROCESSES:
        rules = tmp_path / f"{process}.rules.yml"
        rules.write_text(yaml.safe_dump(the("PrometheusRule", process)["spec"]))
        checks.append(["check", "rules", str(rules)])
    for args in checks:
        done = promtool(*args)  # fails under CI when promtool is missing
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kustomize_renders_the_manifests() -> None:
    done = subprocess.run(
        ["kubectl", "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(K8S)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    rendered = [d for d in yaml.safe_load_all(done.stdout) if d]
    namespaces = {d["metadata"].get("namespace") for d in rendered if d["kind"] != "Namespace"}
    assert namespaces == {kustomization()["namespace"]}
    config_maps = {d["metadata"]["name"] for d in rendered if d["kind"] == "ConfigMap"}
    for process in PROCESSES:
        (scaled,) = [
            d for d in rendered if d["kind"] == "ScaledObject" and d["metadata"]["name"] == process
        ]
        for trigger in scaled["spec"]["triggers"]:
            assert trigger["metadata"]["consumerGroup"] == consumer_group(DEFAULTS, process)
        # the generated (hash-suffixed) ConfigMaps are the ones the pods reference
        (deployment,) = [
            d for d in rendered if d["kind"] == "Deployment" and d["metadata"]["name"] == process
        ]
        spec = deployment["spec"]["template"]["spec"]
        refs = {v["configMap"]["name"] for v in spec["volumes"] if "configMap" in v}
        refs |= {
            r["configMapRef"]["name"]
            for c in spec["containers"]
            for r in c["envFrom"]
            if "configMapRef" in r
        }
        assert len(refs) == 2 and refs <= config_maps, process


# ---------------------------------------------------------------- compose


def prometheus_config() -> str:
    (volume,) = compose()["services"]["prometheus"]["volumes"]
    return str(DEPLOY / volume.split(":")[0])


def test_compose_services_wait_for_healthy_dependencies() -> None:
    services = compose()["services"]
    assert {"kafka", "redis", "topics", *PROCESSES, "prometheus"} <= set(services)
    assert services["topics"]["command"] == ["topics", "create"]
    for name, service in services.items():
        one_shot = service.get("restart") == "no"
        assert one_shot or service["healthcheck"]["test"], f"{name} has no healthcheck"
        for dep, cond in service.get("depends_on", {}).items():
            target = services[dep]
            if cond["condition"] == "service_healthy":
                assert target["healthcheck"]["test"], f"{name} waits on {dep}'s health"
            elif cond["condition"] == "service_completed_successfully":
                assert target.get("restart") == "no", f"{dep} must be one-shot"
            else:
                assert cond["condition"] == "service_started"
    for process in PROCESSES:
        service = services[process]
        assert service["deploy"]["replicas"] == 2
        assert service["command"] == ["run", process] and process in run_choices()
        waits = service["depends_on"]
        assert waits["topics"]["condition"] == "service_completed_successfully"
        assert {"kafka", "redis"} <= set(waits)
        assert process in services["prometheus"]["depends_on"]


def test_compose_engine_services_are_hardened_like_the_pods() -> None:
    engine = {n: s for n, s in compose()["services"].items() if from_image(s)}
    assert set(engine) == {"topics", *PROCESSES}
    for name, s in engine.items():
        assert (ROOT / s["build"]["dockerfile"]).is_file()
        assert (DEPLOY / s["build"]["context"]).resolve() == ROOT
        assert s["user"] == f"{RUN_AS}:{RUN_AS}", name
        assert s["read_only"] is True and s["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in s["security_opt"], name
    assert engine["sla-tracker"]["image"] == engine["dispatcher"]["image"]
    assert engine["sla-tracker"]["build"] == engine["dispatcher"]["build"]


@per_process
def test_compose_health_and_scrape_use_the_port_the_code_serves(process: str) -> None:
    service = compose()["services"][process]
    port = Settings.from_env({k: str(v) for k, v in service["environment"].items()}).http_port
    assert port == DEFAULTS.http_port
    check = " ".join(service["healthcheck"]["test"])
    assert f":{port}/healthz" in check
    assert str(port) in service["expose"]
    assert not service.get("ports")  # replicas: nothing published on the host
    config = yaml_docs(Path(prometheus_config()))[0]
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == process]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == [process] and sd["port"] == port


def test_compose_bind_mounts_exist() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).is_file(), f"{name}: {source}"


# ---------------------------------------------------------------- Dockerfile


def test_dockerfile_is_multi_stage_on_python_slim() -> None:
    steps = dockerfile_instructions()
    args = dict(a.split("=", 1) for op, a in steps if op == "ARG" and "=" in a)
    bases = [a.split()[0] for op, a in steps if op == "FROM"]
    resolved = [re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], b) for b in bases]
    assert len(resolved) >= 2 and set(resolved) == {"python:3.11-slim"}
    assert any(op == "RUN" and "pip install ." in a for op, a in steps)
    assert any(op == "COPY" and a.startswith("--from=") for op, a in final_stage())


def test_dockerfile_runs_the_console_script_as_a_non_root_user() -> None:
    stage = final_stage()
    users = [a for op, a in stage if op == "USER"]
    assert users and users[-1].split(":")[0] == str(RUN_AS)
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    (entrypoint,) = [yaml.safe_load(a) for op, a in stage if op == "ENTRYPOINT"]
    assert entrypoint == ["dispatch"] and "dispatch" in scripts
    (cmd,) = [yaml.safe_load(a) for op, a in stage if op == "CMD"]
    assert cmd == ["run", "dispatcher"]
    assert str(DEFAULTS.http_port) in [p for op, a in stage if op == "EXPOSE" for p in a.split()]
    (health,) = [a for op, a in stage if op == "HEALTHCHECK"]
    assert "python" in health and "/healthz" in health and str(DEFAULTS.http_port) in health


def test_image_build_context_holds_what_pip_install_needs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {"pyproject.toml", project["project"]["readme"]}
    needed |= {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {
        src.rstrip("/")
        for op, a in dockerfile_instructions()
        if op == "COPY" and not a.startswith("--from=")
        for src in a.split()[:-1]
    }
    assert needed <= copied
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    patterns = [p.strip() for p in ignore if p.strip() and not p.startswith("#")]
    for path in copied:
        assert (ROOT / path).exists(), path
        verdict = [not p.startswith("!") for p in patterns if _ignores(p.lstrip("!"), path)]
        assert verdict and verdict[-1] is False, f"{path} is excluded from the build context"


def _ignores(pattern: str, path: str) -> bool:
    pattern = pattern.strip("/")
    return pattern in ("*", path) or pattern.removeprefix("**/") == path


# ---------------------------------------------------------------- Redis URLs in the README


def readme_redis_urls() -> list[str]:
    text = (DEPLOY / "README.md").read_text()
    urls = re.findall(r"`((?:rediss?(?:\+sentinel|\+cluster)?|unix)://[^`\s]+)`", text)
    assert any("+sentinel" in u for u in urls) and any("+cluster" in u for u in urls)
    return urls


def test_readme_redis_urls_are_understood_by_the_redis_adapter() -> None:
    for url in readme_redis_urls():
        if url.partition("://")[0] in CLUSTER_SCHEMES:
            assert parse_url(url).kind == "cluster"  # building a client would connect
        else:
            client_from_url(url).close()  # lazy: parses without connecting


def test_readme_redis_urls_are_accepted_by_settings() -> None:
    for url in readme_redis_urls():
        assert Settings.from_env({"DISPATCH_REDIS_URL": url}).redis_url == url
