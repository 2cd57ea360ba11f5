#!/usr/bin/env sh
# Start the local Kafka + Redis development stack: a thin wrapper around `dispatch dev up`.
# Runs from the repository root, so the default state dir is <repo>/.dispatch.
# Extra arguments are passed through (e.g. --no-kafka, --timeout 120).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
if [ -x .venv/bin/dispatch ]; then
    exec .venv/bin/dispatch dev up "$@"
fi
exec dispatch dev up "$@"
