#!/usr/bin/env bash
# Set up and run the whole test suite on a fresh machine.
#   bash tests/run.sh [pytest args...]
# Creates .venv, installs the project with its dev extra, installs redis-server,
# prometheus (promtool), PostgreSQL, Java and Maven (Debian) when missing, builds kustomize with Go
# when neither kubectl nor kustomize is there, lints and type-checks, then runs pytest. Kafka (KRaft, from the Apache
# Kafka jars resolved with Maven), Redis and PostgreSQL (the archive's tests, run on SQLite
# and PostgreSQL) are started by the test fixtures unless DISPATCH_KAFKA_BOOTSTRAP /
# DISPATCH_REDIS_URL / DISPATCH_TEST_POSTGRES_URL point at running ones.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$PY" -m venv .venv
fi
echo "==> installing the project and its dev dependencies"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'

need_pkgs=()
command -v redis-server >/dev/null || need_pkgs+=(redis-server)
command -v promtool >/dev/null || need_pkgs+=(prometheus)
command -v java >/dev/null || need_pkgs+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need_pkgs+=(maven)
# PostgreSQL's server binaries are not on PATH in Debian (/usr/lib/postgresql/<v>/bin):
# engine/devstack/postgres.py looks in both places, and so does this check.
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    need_pkgs+=(postgresql)
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
    echo "==> installing Debian packages: ${need_pkgs[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# kustomize for the render test (tests/unit/deploy): kubectl's built-in one or a kustomize
# on PATH, else built from source with `go install`, through the Go module proxy, into the
# tools cache where the test looks (no prebuilt binary is downloaded). v5.8.2 is the newest
# release whose go.mod accepts Go 1.26 (v5.8.3 asks for 1.27).
KUSTOMIZE_VERSION=v5.8.2
TOOLS_BIN="$HOME/.cache/ticket-dispatch/bin"
if ! command -v kubectl >/dev/null && ! command -v kustomize >/dev/null \
    && [ "$("$TOOLS_BIN/kustomize" version 2>/dev/null)" != "$KUSTOMIZE_VERSION" ]; then
    GO=$(command -v go || echo /usr/local/go/bin/go)
    echo "==> building kustomize $KUSTOMIZE_VERSION into $TOOLS_BIN ($GO install)"
    mkdir -p "$TOOLS_BIN"
    # a failure here leaves the render test to fail (under CI) with its own message
    GOBIN="$TOOLS_BIN" "$GO" install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" \
        || echo "!! could not build kustomize; the kustomize render test will say so" >&2
fi

echo "==> ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "==> mypy"
.venv/bin/mypy

echo "==> pytest"
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: failing, an empty run is not a pass" >&2
    exit 1
fi
exit "$rc"
