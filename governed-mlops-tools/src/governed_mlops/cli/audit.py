"""``mlops audit drift``: what changed in a stage env since its last good run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from . import Subparsers, add_group
from ..errors import CommandError
from ..project import find_project
from ..settings import load as load_settings


def register(subparsers: Subparsers) -> None:
    _, commands = add_group(
        subparsers,
        "audit",
        help="compare environments with what past runs recorded",
        description="Audit stage environments against the MLflow record.",
    )
    drift = commands.add_parser(
        "drift",
        help="what changed since the stage's last successful run",
        description="Compare the stage env's fingerprint (its freeze plus the git "
        "commit) with the last successful run of the stage, and list packages "
        "added, removed, upgraded or downgraded and the commit change. Exits 1 "
        "when anything changed.",
    )
    drift.add_argument("stage", metavar="STAGE", help="stage name")
    drift.set_defaults(handler=run_drift)


def compare(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Lines describing how the pins ``after`` differ from ``before``."""
    from packaging.version import InvalidVersion, Version

    from ..stages.locks import differences

    lines = []
    for name, old, new in differences(before, after):
        if old is None:
            lines.append(f"added      {name}=={new}")
        elif new is None:
            lines.append(f"removed    {name}=={old}")
        else:
            try:
                up = Version(new) > Version(old)
            except InvalidVersion:
                up = new > old
            verb = "upgraded  " if up else "downgraded"
            lines.append(f"{verb} {name} {old} -> {new}")
    return lines


def run_drift(args: argparse.Namespace) -> int:
    from ..runner import audit, tracking
    from ..stages import locks
    from ..runner.gitinfo import git_state
    from ..stages.specs import survey
    from ..stages.env import live_freeze, require_env

    project = find_project()
    (stage,) = survey(project, machine=False).require([args.stage])
    settings = load_settings(project)
    client = tracking.client(settings)
    experiment = client.get_experiment_by_name(settings.mlflow_experiment)
    runs = []
    if experiment is not None:
        runs = client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.stage = '{stage.name}' and "
            f"attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
    if not runs:
        raise CommandError(
            f"no successful run of stage {stage.name} in experiment "
            f"{settings.mlflow_experiment!r} at {settings.mlflow_tracking_uri}: "
            f"run `mlops stage run {stage.name}` first"
        )
    run = runs[0]
    recorded = _recorded_freeze(client, run.info.run_id, settings.artifacts_dir)
    require_env(stage)
    current = live_freeze(stage)
    commit = git_state(project.root).commit
    then = run.data.tags.get("env.fingerprint", "")
    now = audit.fingerprint(current, commit)
    print(f"stage {stage.name}: last successful run {run.info.run_id}")
    print(f"  recorded fingerprint {then}")
    print(f"  current fingerprint  {now}")
    if then == now:
        print("no drift")
        return 0
    old_commit = run.data.tags.get("mlflow.source.git.commit", "")
    changes = compare(locks.pins(recorded), locks.pins(current))
    if old_commit != commit:
        changes.append(f"commit     {old_commit[:12]} -> {commit[:12] or 'none'}")
    for line in changes:
        print(f"  {line}")
    return 1


def _recorded_freeze(client: Any, run_id: str, artifacts_dir: Path) -> str:
    """The freeze a run recorded: from its local bundle, else from MLflow."""
    from ..runner.audit import FREEZE_NAME

    local = artifacts_dir / run_id / FREEZE_NAME
    if local.is_file():
        return local.read_text(encoding="utf-8")
    path: str = client.download_artifacts(run_id, f"audit/{FREEZE_NAME}")
    with open(path, encoding="utf-8") as handle:
        return handle.read()
