#!/usr/bin/env sh
# Stop what deploy/local/dev-up.sh started: a thin wrapper around `dispatch dev down`.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
if [ -x .venv/bin/dispatch ]; then
    exec .venv/bin/dispatch dev down "$@"
fi
exec dispatch dev down "$@"
