"""Regenerate the CRD schemas in this folder from the Go modules that ship them.

    python tests/unit/deploy/crds/vendor.py

needs ``go`` (``go mod download`` through the Go module proxy; no module is built). Writes
one ``<group>_<kind>.json`` per CRD below: its group, version and kind, where it came from
(module, version, file, sha256 of that file) and the ``openAPIV3Schema`` of its served
version, unchanged. Bump a version here, rerun, and review the diff.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
KEDA = ("github.com/kedacore/keda/v2", "v2.21.0", "config/crd/bases")
PROMETHEUS_OPERATOR = (
    "github.com/prometheus-operator/prometheus-operator",
    "v0.85.0",
    "example/prometheus-operator-crd",
)
CRDS = [
    (KEDA, "keda.sh_scaledobjects.yaml"),
    (KEDA, "keda.sh_triggerauthentications.yaml"),
    (PROMETHEUS_OPERATOR, "monitoring.coreos.com_servicemonitors.yaml"),
    (PROMETHEUS_OPERATOR, "monitoring.coreos.com_prometheusrules.yaml"),
]


def module_dir(module: str, version: str) -> Path:
    go = shutil.which("go") or "/usr/local/go/bin/go"
    done = subprocess.run(
        [go, "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(json.loads(done.stdout)["Dir"])


def main() -> None:
    for (module, version, folder), name in CRDS:
        source = module_dir(module, version) / folder / name
        raw = source.read_bytes()
        crd = yaml.safe_load(raw)
        (served,) = [v for v in crd["spec"]["versions"] if v["served"] and v["storage"]]
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        out = {
            "apiVersion": f"{group}/{served['name']}",
            "kind": kind,
            "source": {
                "module": module,
                "version": version,
                "file": f"{folder}/{name}",
                "sha256": hashlib.sha256(raw).hexdigest(),
            },
            "openAPIV3Schema": served["schema"]["openAPIV3Schema"],
        }
        target = HERE / f"{group}_{kind.lower()}.json"
        target.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
        print(f"{target.name}: {module}@{version} {folder}/{name}")


if __name__ == "__main__":
    main()
