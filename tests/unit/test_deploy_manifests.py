"""The deploy files agree with the code: parsed here, since no Docker engine or cluster runs.

Checked against the code, not against copies of its values: the HTTP port and consumer
group defaults come from ``engine.config.Settings``, the variables from what
``Settings.from_env`` actually reads, the partition count from ``default_topic_specs``,
the console script from pyproject.toml, metric names from ``engine.metrics``.
"""

from __future__ import annotations

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
from engine.config import ConfigError, Settings
from engine.metrics import DispatcherMetrics
from engine.policy_file import load_policy
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
    (deployment,) = the("Deployment")["spec"]["template"]["spec"]["containers"]
    k8s_env = container_env(deployment)
    secret = the("Secret", "dispatch-secrets")["stringData"]
    dispatcher = compose()["services"]["dispatcher"]["environment"]
    for env in (k8s_env, {**k8s_env, **secret}, dispatcher):
        settings = Settings.from_env({k: str(v) for k, v in env.items()})
        assert settings.http_port == DEFAULTS.http_port
        assert settings.policy_path is not None
    assert "CHANGE-ME" in secret["DISPATCH_KAFKA_SASL_PASSWORD"]  # placeholders, marked


def test_policy_files_shipped_to_the_dispatchers_are_valid() -> None:
    files = [
        K8S / spec.split("=", 1)[-1]
        for gen in kustomization()["configMapGenerator"]
        if gen["name"] == "dispatch-policy"
        for spec in gen["files"]
    ]
    dispatcher = compose()["services"]["dispatcher"]
    policy = dispatcher["environment"]["DISPATCH_POLICY"]
    files += [DEPLOY / v.split(":")[0] for v in dispatcher["volumes"] if v.split(":")[1] == policy]
    assert len(files) == 2
    for path in files:
        assert load_policy(path).queues, path


# ---------------------------------------------------------------- Kubernetes


def test_every_container_runs_non_root_with_a_restricted_security_context() -> None:
    pods = list(pod_specs())
    assert pods
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


def test_probes_hit_healthz_and_readyz_on_the_port_the_code_serves() -> None:
    pod = the("Deployment")["spec"]["template"]["spec"]
    for c in pod["containers"]:
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        for probe, path in PROBES.items():
            get = c[probe]["httpGet"]
            assert get["path"] == path, probe
            assert ports.get(get["port"], get["port"]) == DEFAULTS.http_port, probe
        assert Settings.from_env(container_env(c)).http_port == DEFAULTS.http_port


def test_deployment_is_sized_spread_and_stops_gracefully() -> None:
    deployment = the("Deployment")
    spec, pod = deployment["spec"], deployment["spec"]["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["replicas"] == 2
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert pod["terminationGracePeriodSeconds"] >= 30
    for constraint in pod["topologySpreadConstraints"]:
        assert constraint["labelSelector"]["matchLabels"].items() <= labels.items()
    for c in pod["containers"]:
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c["resources"][bound]), bound
        assert c["args"] == ["run", "dispatcher"]


def test_policy_is_mounted_where_dispatch_policy_points() -> None:
    pod = the("Deployment")["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    policy = Path(container_env(c)["DISPATCH_POLICY"])
    volumes = {v["name"]: v for v in pod["volumes"]}
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


def test_pdb_and_service_select_the_deployment_pods() -> None:
    labels = the("Deployment")["spec"]["template"]["metadata"]["labels"]
    pdb = the("PodDisruptionBudget")["spec"]
    assert pdb["minAvailable"] == 1
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    service = the("Service")["spec"]
    assert service["selector"].items() <= labels.items()
    (c,) = the("Deployment")["spec"]["template"]["spec"]["containers"]
    names = {p["name"] for p in c["ports"]}
    assert {p["targetPort"] for p in service["ports"]} <= names


def test_service_monitor_scrapes_the_metrics_port_of_the_service() -> None:
    monitor, service = the("ServiceMonitor"), the("Service")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    ports = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in ports and endpoint["path"] == "/metrics"


def test_scaled_object_follows_the_dispatcher_group_lag_within_the_partitions() -> None:
    scaled, config = the("ScaledObject")["spec"], generated_literals("dispatch-config")
    settings = Settings.from_env(config)
    assert scaled["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": the("Deployment")["metadata"]["name"],
    }
    (trigger,) = scaled["triggers"]
    meta = trigger["metadata"]
    assert trigger["type"] == "kafka"
    assert meta["consumerGroup"] == settings.group == DEFAULTS.group
    assert meta["topic"] == settings.topic("tickets.events")
    assert meta["bootstrapServers"] == config["DISPATCH_KAFKA_BOOTSTRAP"]
    assert int(meta["lagThreshold"]) > 0
    partitions = {s.name: s.partitions for s in default_topic_specs(settings)}
    assert the("PodDisruptionBudget")["spec"]["minAvailable"] < scaled["minReplicaCount"]
    assert scaled["minReplicaCount"] <= scaled["maxReplicaCount"] <= partitions[meta["topic"]]
    fields = {
        (r["source"]["fieldPath"], path)
        for r in kustomization()["replacements"]
        for t in r["targets"]
        if t["select"]["kind"] == "ScaledObject"
        for path in t["fieldPaths"]
    }
    assert fields == {
        ("data.DISPATCH_KAFKA_BOOTSTRAP", "spec.triggers.0.metadata.bootstrapServers"),
        ("data.DISPATCH_GROUP", "spec.triggers.0.metadata.consumerGroup"),
    }


def test_cpu_hpa_is_an_optional_alternative_to_keda() -> None:
    hpa = the("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == the("Deployment")["metadata"]["name"]
    assert hpa["maxReplicas"] <= the("ScaledObject")["spec"]["maxReplicaCount"]
    # only in an optional file, and optional files are never listed in the kustomization
    assert not [m for m in manifests(optional=False) if m["kind"] == "HorizontalPodAutoscaler"]


def test_alert_rules_use_metrics_the_dispatcher_exports() -> None:
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    exported = {
        m.name + suffix
        for m in DispatcherMetrics().registry.collect()
        for suffix in suffixes.get(m.type, ("",))
    }
    exprs = [r["expr"] for g in the("PrometheusRule")["spec"]["groups"] for r in g["rules"]]
    used = {name for e in exprs for name in re.findall(r"\bdispatch_[a-z_]+", e)}
    assert used and used <= exported


def test_promtool_accepts_the_rules_and_the_compose_prometheus_config(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(the("PrometheusRule")["spec"]))
    for args in (["check", "rules", str(rules)], ["check", "config", prometheus_config()]):
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
    (scaled,) = [d for d in rendered if d["kind"] == "ScaledObject"]
    assert scaled["spec"]["triggers"][0]["metadata"]["consumerGroup"] == DEFAULTS.group


# ---------------------------------------------------------------- compose


def prometheus_config() -> str:
    (volume,) = compose()["services"]["prometheus"]["volumes"]
    return str(DEPLOY / volume.split(":")[0])


def test_compose_services_wait_for_healthy_dependencies() -> None:
    services = compose()["services"]
    assert {"kafka", "redis", "topics", "dispatcher", "prometheus"} <= set(services)
    assert services["dispatcher"]["deploy"]["replicas"] == 2
    assert services["topics"]["command"] == ["topics", "create"]
    assert services["dispatcher"]["command"] == ["run", "dispatcher"]
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
    waits = services["dispatcher"]["depends_on"]
    assert waits["topics"]["condition"] == "service_completed_successfully"


def test_compose_engine_services_are_hardened_like_the_pods() -> None:
    engine = {n: s for n, s in compose()["services"].items() if from_image(s)}
    assert set(engine) == {"topics", "dispatcher"}
    for name, s in engine.items():
        assert (ROOT / s["build"]["dockerfile"]).is_file()
        assert (DEPLOY / s["build"]["context"]).resolve() == ROOT
        assert s["user"] == f"{RUN_AS}:{RUN_AS}", name
        assert s["read_only"] is True and s["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in s["security_opt"], name


def test_compose_health_and_scrape_use_the_port_the_code_serves() -> None:
    dispatcher = compose()["services"]["dispatcher"]
    check = " ".join(dispatcher["healthcheck"]["test"])
    assert f":{DEFAULTS.http_port}/healthz" in check
    assert str(DEFAULTS.http_port) in dispatcher["expose"]
    config = yaml_docs(Path(prometheus_config()))[0]
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "dispatcher"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == ["dispatcher"] and sd["port"] == DEFAULTS.http_port


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
