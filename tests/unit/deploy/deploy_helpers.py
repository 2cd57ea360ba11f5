"""Shared loading helpers and constants of the deploy-file tests (test_deploy_*.py)."""

from __future__ import annotations

import argparse
import functools
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.cli import build_parser
from engine.config import Settings
from engine.devstack import default_cache_root
from engine.dispatch.metrics import DispatcherMetrics
from engine.errors import ConfigError
from engine.sla.metrics import SlaMetrics
from engine.sla.pipeline import INPUT_TOPICS as SLA_INPUT_TOPICS
from tests.services import unavailable

ROOT = Path(__file__).resolve().parents[3]
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
# Where tests/run.sh builds kustomize (`go install`, through the Go module proxy) when the
# machine has neither kubectl nor kustomize.
TOOLS_BIN = default_cache_root() / "bin"


# ---------------------------------------------------------------- loading


@functools.cache
def yaml_docs(path: Path) -> list[Any]:
    """The documents of a YAML file, parsed once per run (callers must not mutate them)."""
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def kustomization() -> dict[str, Any]:
    doc: dict[str, Any] = yaml_docs(K8S / "kustomization.yaml")[0]
    return doc


def kustomization_files() -> list[str]:
    """Every path the kustomization reads, relative to deploy/k8s: resources, components,
    patches and the sources of its generators (``key=path`` gives ``path``)."""
    k = kustomization()
    listed = [*k["resources"], *k.get("components", [])]
    listed += [p["path"] for p in k.get("patches", []) if "path" in p]
    for gen in [*k.get("configMapGenerator", []), *k.get("secretGenerator", [])]:
        listed += [f.split("=", 1)[-1] for f in [*gen.get("files", []), *gen.get("envs", [])]]
    return listed


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


def prometheus_config() -> str:
    (volume,) = compose()["services"]["prometheus"]["volumes"]
    return str(DEPLOY / volume.split(":")[0])


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("promtool") is None:
        unavailable("promtool not installed (Debian package prometheus)")
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)


# ---------------------------------------------------------------- kustomize


def kustomize_command() -> list[str]:
    """The command that renders a kustomization, as ``kubectl apply -k`` does: ``kubectl
    kustomize``, else a ``kustomize`` on PATH, else the one tests/run.sh built into
    TOOLS_BIN. Fails under CI when there is none, skips elsewhere."""
    kubectl = shutil.which("kubectl")
    if kubectl:
        return [kubectl, "kustomize"]
    kustomize = shutil.which("kustomize") or shutil.which("kustomize", path=str(TOOLS_BIN))
    if kustomize:
        return [kustomize, "build"]
    unavailable(
        f"no kustomize renderer: neither kubectl nor kustomize on PATH nor in {TOOLS_BIN} "
        "(bash tests/run.sh builds it there with go install)"
    )


@functools.cache
def rendered(root: Path = K8S) -> list[dict[str, Any]]:
    """The objects of a kustomization as the renderer prints them, with the default load
    restrictor (no --load-restrictor flag). Rendered once per run; do not mutate."""
    done = subprocess.run(
        [*kustomize_command(), str(root)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]
