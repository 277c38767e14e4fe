#!/usr/bin/env sh
# Create or update stage environments: `mlops stage create`.
# Usage: scripts/create_venv.sh env_specs/stage_train.yaml | train | --all [options]
exec "$(dirname "$0")/mlops.sh" stage create "$@"
