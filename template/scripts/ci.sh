#!/usr/bin/env sh
# CI entry point for shells and Linux agents: a thin wrapper over `mlops ci`.
# Usage: scripts/ci.sh setup | STEP [args]   (`scripts/ci.sh --list` shows the steps)
# setup installs uv into $PYTHON (default python3) and syncs the project's .venv.
set -eu
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ "${1:-}" = setup ]; then
    # uv on the agent's PATH serves as it is.
    if command -v uv >/dev/null 2>&1; then
        exec uv sync --python "$PYTHON"
    fi
    if ! "$PYTHON" -m pip install --quiet --disable-pip-version-check uv; then
        echo "ci.sh setup: $PYTHON would not install uv (a system Python refuses" \
            "pip installs, PEP 668): put uv on the agent's PATH, or set PYTHON" \
            "to a Python of your own (pyenv, a venv)" >&2
        exit 1
    fi
    exec "$PYTHON" -m uv sync
fi
for mlops in .venv/bin/mlops .venv/Scripts/mlops.exe; do
    if [ -x "$mlops" ]; then
        exec "$mlops" ci "$@"
    fi
done
exec "$PYTHON" -m uv run mlops ci "$@"
