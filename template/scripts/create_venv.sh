#!/usr/bin/env sh
# Create (or update) stage environments: a thin wrapper over `mlops stage create`.
# Usage: scripts/create_venv.sh env_specs/stage_train.yaml | train | --all [options]
set -eu
cd "$(dirname "$0")/.."
if [ -x .venv/bin/mlops ]; then
    exec .venv/bin/mlops stage create "$@"
fi
exec uv run mlops stage create "$@"
