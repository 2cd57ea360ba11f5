"""Every Kubernetes object of deploy/k8s passes its schema in strict mode, as the API server
with strict field validation (``kubectl apply``'s default) would take it.

Core kinds against kubernetes-validate's strict schemas of the oldest Kubernetes the README
supports and of the newest pinned; KEDA and Prometheus Operator objects against the
openAPIV3Schema of their CRDs (tests/unit/deploy/crds/), closed as structural schemas are.
Both the rendered kustomization and the files it leaves out on purpose are checked.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.deploy.deploy_helpers import K8S, OPTIONAL_MANIFEST, rendered, the, yaml_docs
from tests.unit.deploy.k8s_schemas import (
    CRDS,
    KUBERNETES_VERSIONS,
    crd_validators,
    duplicate_keys,
    schema_errors,
    structural,
)

pytestmark = pytest.mark.unit

CUSTOM_KINDS = {
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}


def errors(docs: list[dict[str, Any]]) -> list[str]:
    return [e for v in KUBERNETES_VERSIONS for d in docs for e in schema_errors(d, v)]


def test_every_rendered_object_passes_its_schema_strictly() -> None:
    # Given deploy/k8s rendered as `kubectl apply -k` renders it (fails under CI without
    # a renderer), custom resources included
    docs = rendered()
    assert CUSTOM_KINDS - {("keda.sh/v1alpha1", "TriggerAuthentication")} <= {
        (d["apiVersion"], d["kind"]) for d in docs
    }
    # When each object is validated at every pinned Kubernetes version
    # Then no schema is missing and no field is unknown, misspelt or of the wrong type
    assert errors(docs) == []


def test_manifests_left_out_of_the_kustomization_pass_their_schemas_strictly() -> None:
    # Given the files deliberately not listed (the CPU HPA, the example Secrets and
    # TriggerAuthentication), as a user would apply them
    files = sorted(p for p in K8S.glob("*.yaml") if p.name.endswith(OPTIONAL_MANIFEST))
    assert {p.name for p in files} == {"hpa-cpu.optional.yaml", "secret.example.yaml"}
    docs = [doc for path in files for doc in yaml_docs(path)]
    assert {"HorizontalPodAutoscaler", "Secret", "TriggerAuthentication"} <= {
        d["kind"] for d in docs
    }
    # When each is validated
    # Then each passes
    assert errors(docs) == []


def test_no_yaml_file_under_deploy_k8s_repeats_a_key() -> None:
    # Given every YAML file kustomize or a user reads there (the policy too)
    files = sorted(K8S.rglob("*.yaml"))
    assert len(files) > len(list(K8S.glob("*.yaml")))
    # Then no mapping names a key twice (PyYAML would keep the last, kubectl refuses)
    repeated = {str(p.relative_to(K8S)): duplicate_keys(p.read_text()) for p in files}
    assert {p: keys for p, keys in repeated.items() if keys} == {}
    assert duplicate_keys("a: 1\nb:\n  c: 2\n  c: 3\n") == ["line 4: c"]  # the probe says no


def _set(*path: str | int, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        node: Any = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


@pytest.mark.parametrize(
    ("kind", "mutate", "versions", "says"),
    [
        pytest.param(
            "ScaledObject",
            _set("spec", "minReplicas", value=2),  # the HPA's spelling, not KEDA's
            KUBERNETES_VERSIONS,
            "'minReplicas' was unexpected",
            id="unknown-crd-field",
        ),
        pytest.param(
            "ScaledObject",
            _set("spec", "triggers", 0, "metadata", "lagThreshold", value=2000),
            KUBERNETES_VERSIONS,
            "is not of type 'string'",
            id="crd-map-of-strings",
        ),
        pytest.param(
            "ScaledObject",
            _set("metadata", "label", value={"a": "b"}),
            KUBERNETES_VERSIONS,
            "'label' was unexpected",
            id="custom-resource-metadata-is-objectmeta",
        ),
        pytest.param(
            "ServiceMonitor",
            _set("spec", "endpoints", 0, "scrape_interval", value="15s"),
            KUBERNETES_VERSIONS,
            "'scrape_interval' was unexpected",
            id="prometheus-config-spelling-in-a-servicemonitor",
        ),
        pytest.param(
            "PrometheusRule",
            _set("spec", "groups", 0, "rules", 0, "for", value="2 minutes"),
            KUBERNETES_VERSIONS,
            "does not match",
            id="crd-pattern",
        ),
        pytest.param(
            "Deployment",
            _set("spec", "template", "spec", "containers", 0, "envfrom", value=[]),
            KUBERNETES_VERSIONS,
            "'envfrom' was unexpected",
            id="misspelt-core-field",
        ),
        pytest.param(
            "Deployment",
            _set("spec", "template", "spec", "schedulingGates", value=[]),
            KUBERNETES_VERSIONS[:1],
            "'schedulingGates' was unexpected",
            id="field-newer-than-the-oldest-supported-kubernetes",
        ),
    ],
)
def test_strict_validation_rejects_what_the_api_server_would(
    kind: str, mutate: Callable[[dict[str, Any]], None], versions: tuple[str, ...], says: str
) -> None:
    # Given a valid manifest of deploy/k8s
    doc = copy.deepcopy(the(kind, "dispatcher"))
    assert errors([doc]) == []
    # When one field is wrong
    mutate(doc)
    # Then validation names it at each version it is wrong for
    found = [e for v in versions for e in schema_errors(doc, v)]
    assert len(found) == len(versions) and all(says in e for e in found), found
    assert [
        e for v in KUBERNETES_VERSIONS if v not in versions for e in schema_errors(doc, v)
    ] == []


def test_crd_schemas_close_objects_but_keep_maps_and_preserved_fields() -> None:
    # Given a CRD-style schema: a closed object, a string map, a preserve-unknown object
    schema = structural(
        {
            "type": "object",
            "properties": {
                "metadata": {"type": "object"},
                "spec": {
                    "type": "object",
                    "properties": {
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        "gone": {"type": "string", "nullable": True},
                    },
                },
            },
        }
    )
    spec = schema["properties"]["spec"]
    # Then unknown fields are refused where the server prunes them and kept where it keeps
    assert schema["additionalProperties"] is False and spec["additionalProperties"] is False
    assert spec["properties"]["labels"]["additionalProperties"] == {"type": "string"}
    assert "additionalProperties" not in spec["properties"]["raw"]
    assert spec["properties"]["gone"]["type"] == ["string", "null"]
    assert schema["properties"]["metadata"] == {"type": "object"}  # checked as ObjectMeta


def test_vendored_crds_cover_the_custom_kinds_and_name_their_source() -> None:
    # Given the CRD schemas in tests/unit/deploy/crds/ and their README
    readme = (CRDS / "README.md").read_text(encoding="utf-8")
    # Then there is one per custom kind deploy/k8s uses, each traced to a module release
    assert set(crd_validators()) == CUSTOM_KINDS
    for path in sorted(CRDS.glob("*.json")):
        source = json.loads(path.read_text(encoding="utf-8"))["source"]
        assert {"module", "version", "file", "sha256"} <= set(source), path.name
        for named in (path.name, source["module"], source["version"], source["file"]):
            assert named in readme, (path.name, named)
