"""The gateway's deploy files agree with the code (see test_deploy_manifests.py for how the
consumers' files are checked): `dispatch run gateway` serves the API, /metrics and the
probes on DISPATCH_GATEWAY_PORT, not on DISPATCH_HTTP_PORT, and it is scaled on CPU (it
consumes no topic as a group, so there is no lag for KEDA to follow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import Settings
from tests.unit.deploy.deploy_helpers import (
    DEFAULTS,
    PROBES,
    compose,
    container,
    container_env,
    kustomization,
    manifests,
    pod,
    pod_labels,
    prometheus_config,
    run_choices,
    the,
    yaml_docs,
)

pytestmark = pytest.mark.unit

GATEWAY = "gateway"


def test_gateway_runs_the_gateway_process_with_the_dispatcher_configuration() -> None:
    c = container(GATEWAY)
    assert c["args"] == ["run", GATEWAY] and GATEWAY in run_choices()
    dispatcher = container("dispatcher")
    for key in ("image", "envFrom", "volumeMounts", "securityContext"):
        assert c[key] == dispatcher[key], key
    for key in ("volumes", "securityContext", "automountServiceAccountToken"):
        assert pod(GATEWAY)[key] == pod("dispatcher")[key], key
    assert container_env(c)["DISPATCH_POLICY"] == container_env(dispatcher)["DISPATCH_POLICY"]


def test_gateway_probes_and_port_are_those_the_code_serves() -> None:
    c = container(GATEWAY)
    settings = Settings.from_env(container_env(c))
    assert settings.gateway.port == DEFAULTS.gateway.port
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    for probe, path in PROBES.items():
        get = c[probe]["httpGet"]
        assert get["path"] == path, probe
        assert ports[get["port"]] == settings.gateway.port, probe


def test_gateway_is_sized_spread_and_scaled_on_cpu() -> None:
    deployment = the("Deployment", GATEWAY)
    spec, pod_spec = deployment["spec"], deployment["spec"]["template"]["spec"]
    assert spec["replicas"] == 2 and pod_spec["terminationGracePeriodSeconds"] >= 30
    labels = pod_labels(GATEWAY)
    for constraint in pod_spec["topologySpreadConstraints"]:
        assert constraint["labelSelector"]["matchLabels"].items() <= labels.items()
    hpa = the("HorizontalPodAutoscaler", GATEWAY)["spec"]
    assert hpa["scaleTargetRef"]["name"] == GATEWAY
    assert 2 <= hpa["minReplicas"] < hpa["maxReplicas"]
    assert not [
        m for m in manifests() if m["kind"] == "ScaledObject" and m["metadata"]["name"] == GATEWAY
    ]


def test_gateway_service_pdb_and_monitor_select_only_gateway_pods() -> None:
    labels = pod_labels(GATEWAY)
    others = [pod_labels(p) for p in ("dispatcher", "sla-tracker")]
    service = the("Service", GATEWAY)
    pdb = the("PodDisruptionBudget", GATEWAY)["spec"]
    monitor = the("ServiceMonitor", GATEWAY)["spec"]
    for selector in (service["spec"]["selector"], pdb["selector"]["matchLabels"]):
        assert selector.items() <= labels.items()
        assert not any(selector.items() <= other.items() for other in others)
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    names = {p["name"] for p in container(GATEWAY)["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= names
    service_ports = {p["name"] for p in service["spec"]["ports"]}
    assert [e["port"] for e in monitor["endpoints"]] == ["http"] and "http" in service_ports
    listed = set(kustomization()["resources"])
    for name in ("deployment", "service", "pdb", "hpa", "servicemonitor"):
        assert f"gateway-{name}.yaml" in listed


def test_compose_gateway_publishes_the_api_and_is_scraped() -> None:
    service = compose()["services"][GATEWAY]
    assert service["command"] == ["run", GATEWAY]
    env = {k: str(v) for k, v in service["environment"].items()}
    port = Settings.from_env(env).gateway.port
    assert f"127.0.0.1:{port}:{port}" in service["ports"]
    assert f":{port}/readyz" in " ".join(service["healthcheck"]["test"])
    config = yaml_docs(Path(prometheus_config()))[0]
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == GATEWAY]
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == [GATEWAY] and sd["port"] == port
