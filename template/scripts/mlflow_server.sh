#!/usr/bin/env sh
# The project's MLflow tracking server (SQLite store, artifact folder, host and port from the settings): `mlops tracking server`.
# Usage: scripts/mlflow_server.sh
exec "$(dirname "$0")/mlops.sh" tracking server "$@"
