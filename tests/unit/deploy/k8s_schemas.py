"""Strict schema validation of Kubernetes objects, without a cluster.

Core kinds go to kubernetes-validate in strict mode (its ``-strict`` schemas close every
object: an unknown or misspelt field is an error, as with ``kubectl apply``'s default
``--validate=strict``). Custom resources (KEDA, Prometheus Operator) go to the
openAPIV3Schema of their CRD, vendored in ``crds/`` (see crds/README.md), read with the API
server's structural-schema semantics, which ``structural`` spells out for jsonschema.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

# The oldest Kubernetes deploy/README.md supports and the newest kubernetes-validate 1.37
# ships (pyproject.toml pins it to 1.37.x, so both stay there).
KUBERNETES_VERSIONS = ("1.25", "1.37")
CRDS = Path(__file__).resolve().parent / "crds"


def python_pattern(pattern: str) -> str:
    """A CRD ``pattern`` (Go RE2 syntax) as Python ``re`` takes it. RE2 allows a flag group
    after ``^`` (``^(?i)(abort|warn)?$``); Python wants global flags first."""
    moved = re.sub(r"^\^(\(\?[a-z]+\))", r"\1^", pattern)
    re.compile(moved)  # anything else untranslatable fails here, loudly
    return moved


def structural(schema: dict[str, Any], *, root: bool = True) -> dict[str, Any]:
    """A CRD openAPIV3Schema as a JSON schema that rejects what the API server drops.

    The server prunes every field a structural schema does not specify and, with strict
    field validation, rejects it; a plain JSON-schema validator would let it through,
    since controller-gen writes ``properties`` without ``additionalProperties: false``.
    So every object node reached through properties, items or additionalProperties is
    closed unless it has ``additionalProperties`` (a map) or
    ``x-kubernetes-preserve-unknown-fields: true``. Also: ``nullable`` admits null,
    ``x-kubernetes-list-type: set`` demands unique items, patterns move to Python syntax.
    The root's ``metadata`` stays open here: the server checks it as ObjectMeta
    (``object_meta_errors``). Value validations (allOf, anyOf, oneOf, not) are left as
    they are; CEL rules (``x-kubernetes-validations``) and list-map key uniqueness are
    not checked.
    """
    out = dict(schema)
    if "pattern" in out:
        out["pattern"] = python_pattern(out["pattern"])
    if "properties" in out:
        out["properties"] = {k: structural(v, root=False) for k, v in out["properties"].items()}
        if root and "metadata" in out["properties"]:
            out["properties"]["metadata"] = {"type": "object"}
    if isinstance(out.get("items"), dict):
        out["items"] = structural(out["items"], root=False)
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = structural(out["additionalProperties"], root=False)
    if out.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if out.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    if (
        out.get("type") == "object"
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def crd_validators() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    """(apiVersion, kind) -> a validator of the vendored CRD schema, closed by ``structural``."""
    validators = {}
    for path in sorted(CRDS.glob("*.json")):
        crd = json.loads(path.read_text(encoding="utf-8"))
        schema = structural(crd["openAPIV3Schema"])
        jsonschema.Draft4Validator.check_schema(schema)  # OpenAPI 3.0 schemas are draft 4-ish
        validators[(crd["apiVersion"], crd["kind"])] = jsonschema.Draft4Validator(schema)
    return validators


def where(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def at(path: Iterable[Any]) -> str:
    return ".".join(map(str, path)) or "(top level)"


def duplicate_keys(text: str) -> list[str]:
    """Keys given twice in one mapping of a YAML text: PyYAML keeps the last one silently,
    kubectl's strict decoding refuses the object."""
    found = []
    for document in yaml.compose_all(text, Loader=yaml.SafeLoader):
        nodes = [document] if document is not None else []
        while nodes:
            node = nodes.pop()
            if isinstance(node, yaml.MappingNode):
                seen: set[str] = set()
                for key, value in node.value:
                    if isinstance(key, yaml.ScalarNode):
                        if key.value in seen:
                            found.append(f"line {key.start_mark.line + 1}: {key.value}")
                        seen.add(key.value)
                    nodes.append(value)
            elif isinstance(node, yaml.SequenceNode):
                nodes.extend(node.value)
    return found


def object_meta_errors(doc: dict[str, Any], version: str) -> list[str]:
    """A custom resource's metadata checked as ObjectMeta, as the API server does: through
    kubernetes-validate's strict schema of a ConfigMap that has only that metadata."""
    carrier = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": doc.get("metadata")}
    try:
        kubernetes_validate.validate(carrier, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{where(doc)} (Kubernetes {version}) {at(e.path)}: {e.message}"]
    return []


def schema_errors(doc: dict[str, Any], version: str) -> list[str]:
    """Every way ``doc`` fails its schema at Kubernetes ``version``; [] when it is valid."""
    validator = crd_validators().get((doc.get("apiVersion", ""), doc.get("kind", "")))
    if validator is not None:
        found = [
            f"{where(doc)} ({doc['apiVersion']} CRD) {at(e.path)}: {e.message}"
            for e in validator.iter_errors(doc)
        ]
        return found + object_meta_errors(doc, version)
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{where(doc)}: no schema for {doc.get('apiVersion')} in Kubernetes {version}"]
    except kubernetes_validate.ValidationError as e:
        return [f"{where(doc)} (Kubernetes {version}) {at(e.path)}: {e.message}"]
    return []
