#!/usr/bin/env sh
# Run `mlops` from the project's environment (.venv), else through uv.
# The other scripts here are one-line wrappers over this one.
set -eu
cd "$(dirname "$0")/.."
if [ -x .venv/bin/mlops ]; then
    exec .venv/bin/mlops "$@"
fi
exec uv run mlops "$@"
