"""The archiver's Kubernetes manifests (deploy/k8s/archiver-*.yaml) agree with the code: the
command `dispatch run archiver` accepts, the schema migration before it, probes on the port
it serves, its Service, PDB and ServiceMonitor selecting only its pods, its PrometheusRule
equal to deploy/prometheus/rules/archive.rules.yml, its group and the decision log's
retention from the shared ConfigMap, its database URL from the Secret. (The security
context of every container, the init container's too, is checked by
test_deploy_manifests.py for every pod.)"""

from __future__ import annotations

import re

import pytest

from engine.archive.metrics import ArchiverMetrics
from engine.config import Settings
from tests.unit.deploy.deploy_helpers import (
    DEFAULTS,
    DEPLOY,
    PROBES,
    PROCESSES,
    container,
    container_env,
    generated_literals,
    kustomization,
    pod,
    pod_labels,
    run_choices,
    the,
    yaml_docs,
)

pytestmark = pytest.mark.unit

NAME = "archiver"
RULES = DEPLOY / "prometheus" / "rules" / "archive.rules.yml"


def test_the_archiver_runs_after_the_schema_migration() -> None:
    (init,) = pod(NAME)["initContainers"]
    assert init["args"] == ["db", "upgrade"]
    assert container(NAME)["args"] == ["run", NAME] and NAME in run_choices()
    assert init["image"] == container(NAME)["image"] == container("dispatcher")["image"]
    # both read the database URL from the same place
    assert init["envFrom"] == container(NAME)["envFrom"]
    secrets = {r["secretRef"]["name"] for r in init["envFrom"] if "secretRef" in r}
    assert secrets == {"dispatch-secrets"}


def test_the_database_url_comes_from_the_secret_and_parses() -> None:
    (secret,) = [
        d for d in yaml_docs(DEPLOY / "k8s" / "secret.example.yaml") if d["kind"] == "Secret"
    ][:1]
    url = secret["stringData"]["DISPATCH_ARCHIVE_URL"]
    assert url.startswith("postgresql://") and "CHANGE-ME" in url
    env = {**container_env(container(NAME)), **secret["stringData"]}
    settings = Settings.from_env(env)
    assert settings.archive_url == url
    assert "DISPATCH_ARCHIVE_URL" not in generated_literals("dispatch-config")  # a password


def test_group_and_retention_come_from_the_shared_config() -> None:
    settings = Settings.from_env(container_env(container(NAME)))
    assert settings.archiver_group == DEFAULTS.archiver_group
    assert settings.archiver_group not in (settings.group, settings.sla_group)
    assert settings.decision_log_retention_days == DEFAULTS.decision_log_retention_days
    assert settings.http_port == DEFAULTS.http_port


def test_probes_hit_healthz_and_readyz_on_the_port_the_code_serves() -> None:
    c = container(NAME)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    for probe, path in PROBES.items():
        get = c[probe]["httpGet"]
        assert get["path"] == path
        assert ports[get["port"]] == DEFAULTS.http_port


def test_deployment_stops_gracefully_and_has_resources() -> None:
    deployment = the("Deployment", NAME)
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["selector"]["matchLabels"].items() <= pod_labels(NAME).items()
    assert pod(NAME)["terminationGracePeriodSeconds"] >= 30
    for c in (*pod(NAME)["initContainers"], container(NAME)):
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c["resources"][bound])
    assert "DISPATCH_POLICY" not in container_env(container(NAME))  # no routing


def test_service_pdb_and_monitor_select_the_archiver_pods_only() -> None:
    labels = pod_labels(NAME)
    others = [pod_labels(p) for p in PROCESSES]
    service = the("Service", NAME)
    pdb = the("PodDisruptionBudget", NAME)["spec"]
    for selector in (pdb["selector"]["matchLabels"], service["spec"]["selector"]):
        assert selector.items() <= labels.items()
        assert not any(selector.items() <= other.items() for other in others)
    monitor = the("ServiceMonitor", NAME)["spec"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["endpoints"]] == ["http-metrics"]
    assert service["metadata"]["name"] == NAME  # the Prometheus job the rules select


def test_the_prometheus_rule_is_the_rules_file_and_names_exported_metrics() -> None:
    groups = the("PrometheusRule", NAME)["spec"]["groups"]
    assert groups == yaml_docs(RULES)[0]["groups"]
    exported = {
        m.name + s
        for m in ArchiverMetrics().registry.collect()
        for s in {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}.get(
            m.type, ("",)
        )
    }
    rules = [r for g in groups for r in g["rules"]]
    used = {n for r in rules for n in re.findall(r"\bdispatch_[a-z_]+", r["expr"])}
    assert used and used <= exported
    assert {j for r in rules for j in re.findall(r'\bjob="([^"]+)"', r["expr"])} == {NAME}


def test_the_kustomization_lists_every_archiver_manifest() -> None:
    resources = kustomization()["resources"]
    for kind in ("deployment", "service", "pdb", "servicemonitor", "prometheusrule"):
        assert f"archiver-{kind}.yaml" in resources


def test_a_cronjob_keeps_the_report_rollups_warm_without_overlapping() -> None:
    from engine.cli.main import build_parser

    cron = the("CronJob", "archive-warm")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    job = cron["spec"]["jobTemplate"]["spec"]
    minutes = int(cron["spec"]["schedule"].split()[0].removeprefix("*/"))
    assert job["activeDeadlineSeconds"] < minutes * 60  # done before the next is due
    spec = job["template"]["spec"]
    assert spec["restartPolicy"] == "Never"
    (c,) = spec["containers"]
    # the arguments parse with the real CLI, and name the command that warms
    args = build_parser().parse_args(c["args"])
    assert (args.command, args.action, args.days) == ("db", "warm", 2)
    # same image and the same database as the archiver
    assert c["image"] == container(NAME)["image"]
    assert c["envFrom"] == container(NAME)["envFrom"]
    assert "archive-warm-cronjob.yaml" in kustomization()["resources"]
