"""The deploy files agree with the code: parsed here, since no Docker engine or cluster runs.

Checked against the code, not against copies of its values: the HTTP port and consumer
group defaults come from ``engine.config.Settings``, the variables from what
``Settings.from_env`` actually reads, the partition count from ``default_topic_specs``,
the console script from pyproject.toml, metric names from ``engine.dispatch.metrics`` and
``engine.sla.metrics``, the SLA tracker's input topics from ``engine.sla.pipeline``, the
processes ``dispatch run`` accepts from the CLI parser.

Both long-running processes are checked the same way: the dispatcher and the SLA tracker
each have a Deployment, Service, PodDisruptionBudget, ServiceMonitor and KEDA ScaledObject
named after the process (= the ``dispatch run`` argument = the compose service = the
Prometheus job).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.adapters.kafka.admin import default_topic_specs
from engine.config import Settings
from engine.policy_file import load_policy
from tests.unit.deploy.deploy_helpers import (
    DEFAULTS,
    DEPLOY,
    DOCKERFILE,
    GROUP_VARIABLE,
    K8S,
    LAG_TOPICS,
    OPTIONAL_MANIFEST,
    PROBES,
    PROCESSES,
    ROOT,
    RULES,
    RUN_AS,
    VARIABLE,
    compose,
    consumer_group,
    container,
    container_env,
    containers,
    generated_literals,
    kustomization,
    kustomization_files,
    manifests,
    per_process,
    pod,
    pod_labels,
    pod_specs,
    prometheus_config,
    promtool,
    quantity,
    reads,
    rendered,
    run_choices,
    the,
    yaml_docs,
)

pytestmark = pytest.mark.unit


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


def test_kustomization_loads_only_files_in_or_below_deploy_k8s() -> None:
    # Given every file the kustomization reads (resources, patches, generator sources)
    listed = kustomization_files()
    assert len(listed) > len(kustomization()["resources"])  # the policy file counted too
    # When each is resolved as kustomize's default load restrictor does (symlinks followed)
    outside = [p for p in listed if not (K8S / p).resolve().is_relative_to(K8S.resolve())]
    # Then none lies outside deploy/k8s: `kubectl apply -k deploy/k8s` needs no flag
    assert outside == []


def test_compose_mounts_the_policy_kubernetes_ships_through_a_symlink() -> None:
    # Given the policy the dispatch-policy generator ships and the one compose mounts
    (spec,) = [g for g in kustomization()["configMapGenerator"] if g["name"] == "dispatch-policy"]
    shipped = K8S / spec["files"][0].split("=", 1)[-1]
    services = [compose()["services"][p] for p in PROCESSES]
    (catalogue,) = {
        DEPLOY / v.split(":")[0]
        for s in services
        for v in s["volumes"]
        if v.split(":")[1] == s["environment"]["DISPATCH_POLICY"]
    }
    # Then there is one file: the catalogue entry is a symlink to the file under deploy/k8s
    assert not shipped.is_symlink()
    assert catalogue.is_symlink() and catalogue.resolve() == shipped.resolve()
    assert catalogue.read_bytes() == shipped.read_bytes()


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
    for where, spec in pods:
        assert spec.get("automountServiceAccountToken") is False, where
        for c in containers(spec):
            ctx = c.get("securityContext", {})  # these three exist only per container
            assert ctx.get("readOnlyRootFilesystem") is True, where
            assert ctx.get("allowPrivilegeEscalation") is False, where
            assert ctx.get("capabilities", {}).get("drop") == ["ALL"], where
            ctx = {**spec.get("securityContext", {}), **ctx}  # the pod's, overridden
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
    missing = [p for p in kustomization_files() if not (K8S / p).exists()]
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
    # (the gateway's CPU autoscaler is listed: it has no KEDA trigger to conflict with)
    hpas = [m for m in manifests(optional=False) if m["kind"] == "HorizontalPodAutoscaler"]
    assert [m["spec"]["scaleTargetRef"]["name"] for m in hpas] == ["gateway"]


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


def test_kustomize_renders_the_manifests_with_the_default_load_restrictor() -> None:
    # Given kubectl, a kustomize on PATH or the one tests/run.sh built (fails under CI
    # when there is none)
    # When deploy/k8s is rendered as `kubectl apply -k deploy/k8s` renders it
    docs = rendered()
    # Then every listed manifest and both generated ConfigMaps come out, in the namespace
    listed = {
        (d["kind"], d["metadata"]["name"])
        for r in kustomization()["resources"]
        for d in yaml_docs(K8S / r)
    }
    assert listed <= {(d["kind"], d["metadata"]["name"]) for d in docs}
    namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
    assert namespaces == {kustomization()["namespace"]}
    config_maps = {d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"}
    assert len(config_maps) == len(kustomization()["configMapGenerator"])
    for process in PROCESSES:
        (scaled,) = [
            d for d in docs if d["kind"] == "ScaledObject" and d["metadata"]["name"] == process
        ]
        for trigger in scaled["spec"]["triggers"]:
            assert trigger["metadata"]["consumerGroup"] == consumer_group(DEFAULTS, process)
        # the generated (hash-suffixed) ConfigMaps are the ones the pods reference
        (deployment,) = [
            d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == process
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
