#!/usr/bin/env sh
# Run one stage's notebook in its kernel: `mlops stage run`.
# Usage: scripts/run_stage.sh train [-p key=value ...]
exec "$(dirname "$0")/mlops.sh" stage run "$@"
