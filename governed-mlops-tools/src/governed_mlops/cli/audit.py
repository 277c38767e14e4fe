"""``mlops audit drift``: what changed in a stage env since its last good run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from . import Subparsers, add_group
from ..errors import CommandError
from ..project import Project, find_project
from ..settings import index_token, load as load_settings

if TYPE_CHECKING:
    from ..runner.store import Store


def register(subparsers: Subparsers) -> None:
    _, commands = add_group(
        subparsers,
        "audit",
        help="compare environments with what past runs recorded",
        description="Audit stage environments against the MLflow record, and "
        "record runs kept while the tracking store was away.",
    )
    drift = commands.add_parser(
        "drift",
        help="what changed since the stage's last successful run",
        description="Compare the stage env's fingerprint (its freeze plus the git "
        "commit) with the last successful run of the stage, and list packages "
        "added, removed, upgraded or downgraded and the commit change. Exits 0 "
        "when nothing changed, 1 when something did, 2 when it could not check "
        "(the tracking store unreachable, no successful run, no env).",
    )
    drift.add_argument("stage", metavar="STAGE", help="stage name")
    drift.set_defaults(handler=run_drift)
    sync = commands.add_parser(
        "sync",
        help="record the runs kept on this machine while the store was away",
        description="Upload the bundles and make the remaining store calls of "
        "runs kept in .mlops/pending/ while the tracking store was unreachable, "
        "ending them as recorded (FAILED or KILLED), then delete the local "
        "copies. The next stage or pipeline run does the same. Exits 2 when "
        "something is still kept.",
    )
    sync.set_defaults(handler=run_sync)
    verify = commands.add_parser(
        "verify",
        help="is a run's record intact? recompute the hashes it recorded",
        description="Recompute, from the run's artifacts, every hash the run "
        "recorded (its audit/manifest.json and that file's own hash on the run: "
        "the executed and source notebooks, the injected parameters, the lock, "
        "the freeze and commit, the spec, the log) and name what differs. The "
        "project's files that differ from the run's declared inputs and outputs "
        "are listed apart. Exits 0 when the record is intact, 1 when something "
        "differs, 2 when it could not check.",
    )
    verify.add_argument("run_id", metavar="RUN_ID", help="the stage run's id")
    verify.add_argument(
        "-v", "--verbose", action="store_true", help="list what matched as well"
    )
    verify.set_defaults(handler=run_verify)
    replay = commands.add_parser(
        "replay",
        help="run a recorded stage run again, apart, and compare its outputs",
        description="In a temporary folder: the project at the run's commit with "
        "the run's notebook, a venv built from the run's lock, the declared "
        "inputs as the run read them (from the stage cache) and a throw-away "
        "MLflow store; run the notebook with the recorded parameters and compare "
        "each declared output with the run's by hash. The project, its envs and "
        "its store are not touched. Exits 0 when every output is the same, 1 "
        "when one differs (or the notebook fails), 2 when it could not replay.",
    )
    replay.add_argument("run_id", metavar="RUN_ID", help="the stage run's id")
    replay.add_argument(
        "--keep", action="store_true", help="keep the temporary folder and say where"
    )
    replay.set_defaults(handler=run_replay)


def _store(project: Project, outcome: str) -> Store:
    """The project's tracking store, reachable, else :class:`CommandError`."""
    from ..runner import tracking
    from ..runner.store import open_store
    from ..settings import env_prefix

    settings = load_settings(project)
    tracking.check_reachable(
        settings.mlflow_tracking_uri,
        f"Start it, or set {env_prefix(project)}MLFLOW_TRACKING_URI to the store "
        f"the runs were recorded in.",
        outcome,
        settings,
    )
    return open_store(settings)


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
    from ..runner import audit
    from ..stages import locks
    from ..runner.gitinfo import git_state
    from ..stages.specs import survey
    from ..stages.env import live_freeze, require_env

    project = find_project()
    (stage,) = survey(project, machine=False).require([args.stage])
    require_env(stage)
    settings = load_settings(project)
    store = _store(project, "nothing was checked")
    run = store.last_run({"stage": stage.name}, "FINISHED")
    if run is None:
        raise CommandError(
            f"no successful run of stage {stage.name} in experiment "
            f"{settings.mlflow_experiment!r} at {store.uri}: "
            f"run `mlops stage run {stage.name}` first"
        )
    holder = audit.freeze_run(run.run_id, run.tags)
    recorded = _recorded_freeze(store, holder, settings.artifacts_dir)
    current = live_freeze(stage)
    commit = git_state(project.root).commit
    then = run.tags.get("env.fingerprint", "")
    now = audit.fingerprint(current, commit)
    print(f"stage {stage.name}: last successful run {run.run_id}")
    print(f"  recorded fingerprint {then}")
    print(f"  current fingerprint  {now}")
    if then == now:
        print("no drift")
        return 0
    old_commit = run.tags.get("mlflow.source.git.commit", "")
    changes = compare(locks.pins(recorded), locks.pins(current))
    if old_commit != commit:
        changes.append(f"commit     {old_commit[:12]} -> {commit[:12] or 'none'}")
    for line in changes:
        print(f"  {line}")
    return 1


def run_sync(args: argparse.Namespace) -> int:
    from ..runner import journal

    from ..runner import orphans

    project = find_project()
    waiting = journal.records(project.state_dir)
    left = orphans.orphans(project.state_dir)
    if not waiting and not left:
        print("nothing to sync: no run is kept on this machine")
        return 0
    folder = project.state_dir / journal.PENDING_DIR
    outcome = (
        f"nothing was synced: {len(waiting)} run(s) stay kept in {folder}, "
        f"{len(left)} run(s) left RUNNING by a process that died stay so"
    )
    store = _store(project, outcome)
    settings = load_settings(project)
    secrets = [*settings.secret_values(), index_token(settings)]
    for ended in orphans.reap(store, project.state_dir, secrets):
        if ended.done:
            print(f"{ended.run_id}: ended KILLED (its mlops process had died)")
        else:
            print(f"{ended.run_id}: left RUNNING ({ended.problem})")
    results = journal.sync(store, project.state_dir)
    for result in results:
        if result.done:
            print(f"{result.run_id}: recorded, ended {result.status or 'as it was'}")
        else:
            print(f"{result.run_id}: still kept ({result.problem})")
    kept = journal.records(project.state_dir)
    if kept:
        raise CommandError(
            f"{len(kept)} run(s) still kept in {folder}; run `mlops audit sync` "
            f"again once the store answers"
        )
    left = orphans.orphans(project.state_dir)
    if left:
        raise CommandError(
            f"{len(left)} run(s) left RUNNING by a process that died could not "
            f"be ended (said above); run `mlops audit sync` again"
        )
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from ..runner.verify import verify

    project = find_project()
    store = _store(project, "nothing was verified")
    verdict = verify(store, args.run_id, project.root)
    if args.verbose:
        for line in verdict.checked:
            print(f"  ok       {line}")
    for line in verdict.differs:
        print(f"  DIFFERS  {line}")
    if verdict.since:
        print("changed in the project since the run (the record is not affected):")
        for line in verdict.since:
            print(f"  {line}")
    if verdict.intact:
        print(f"run {args.run_id}: record intact ({len(verdict.checked)} checks)")
        return 0
    print(
        f"run {args.run_id}: record NOT intact: {len(verdict.differs)} of "
        f"{len(verdict.differs) + len(verdict.checked)} checks differ"
    )
    return 1


def run_replay(args: argparse.Namespace) -> int:
    from ..extras import require_pipeline
    from ..progress import Progress
    from ..runner.replay import replay
    from ..settings import installer_access

    require_pipeline("audit replay")

    project = find_project()
    store = _store(project, "nothing was replayed")
    done = replay(
        store,
        project,
        args.run_id,
        Progress("replay"),
        keep=args.keep,
        access=lambda: installer_access(project),
    )
    for note in done.notes:
        print(f"  note     {note}")
    for path in done.same:
        print(f"  same     {path}")
    for line in done.differs:
        print(f"  DIFFERS  {line}")
    if done.folder:
        print(f"  kept in  {done.folder}")
    if done.differs:
        print(f"replay of run {args.run_id} ({done.stage}): outputs differ")
        return 1
    same = len(done.same)
    print(f"replay of run {args.run_id} ({done.stage}): {same} output(s) the same")
    return 0


def _recorded_freeze(store: Store, run_id: str, artifacts_dir: Path) -> str:
    """The freeze a run recorded: from its local bundle while it is kept
    there, else from the run's artifacts."""
    from ..runner.audit import FREEZE_NAME

    local = artifacts_dir / run_id / FREEZE_NAME
    if local.is_file():
        return local.read_text(encoding="utf-8")
    return store.read_artifact(run_id, f"audit/{FREEZE_NAME}")
