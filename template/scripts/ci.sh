#!/usr/bin/env sh
# CI entry point for shells and Linux agents: a thin wrapper over `mlops ci`.
# Usage: scripts/ci.sh setup | STEP [args]   (`scripts/ci.sh --list` shows the steps)
# setup syncs the project's .venv with uv on $PYTHON (default python3); uv
# comes from the PATH, else pip installs it into $PYTHON.
set -eu
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
# The private index's token from the CI's secrets (PACKAGE_INDEX_TOKEN) is
# uv's login for the index named "private"; the tools read it there too.
if [ -n "${PACKAGE_INDEX_TOKEN:-}" ]; then
    export UV_INDEX_PRIVATE_USERNAME="${UV_INDEX_PRIVATE_USERNAME:-__token__}"
    export UV_INDEX_PRIVATE_PASSWORD="$PACKAGE_INDEX_TOKEN"
fi
unset PACKAGE_INDEX_TOKEN
if [ "${1:-}" = setup ]; then
    # uv gets the interpreter's own path: looking a bare name up, it skips
    # virtual environments, and `python -m uv` alone would pick its own.
    if ! interpreter="$("$PYTHON" -c 'import sys; print(sys.executable)')"; then
        echo "ci.sh setup: PYTHON=$PYTHON does not run: set PYTHON to a Python" \
            "3.10+ (a name on the PATH or a path)" >&2
        exit 1
    fi
    if command -v uv >/dev/null 2>&1; then
        exec uv sync --python "$interpreter"
    fi
    if ! "$PYTHON" -m pip install --quiet --disable-pip-version-check uv; then
        echo "ci.sh setup: $PYTHON would not install uv (a system Python refuses" \
            "pip installs, PEP 668): put uv on the agent's PATH, or set PYTHON" \
            "to a Python of your own (pyenv, a venv)" >&2
        exit 1
    fi
    exec "$PYTHON" -m uv sync --python "$interpreter"
fi
for mlops in .venv/bin/mlops .venv/Scripts/mlops.exe; do
    if [ -x "$mlops" ]; then
        exec "$mlops" ci "$@"
    fi
done
if command -v uv >/dev/null 2>&1; then
    exec uv run mlops ci "$@"
fi
if "$PYTHON" -m uv --version >/dev/null 2>&1; then
    exec "$PYTHON" -m uv run mlops ci "$@"
fi
echo "ci.sh: the project's .venv has no mlops, and there is no uv to make it:" \
    "run scripts/ci.sh setup first" >&2
exit 1
