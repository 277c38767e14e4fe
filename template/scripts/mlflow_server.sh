#!/usr/bin/env sh
# The MLflow tracking server (backend, artifacts, host and port from the settings): `mlops tracking server`.
# Usage: scripts/mlflow_server.sh [--backend-store-uri URI] [--port N] [--verbose] ...
exec "$(dirname "$0")/mlops.sh" tracking server "$@"
