"""``mlops mlproject``: the entry points of the project's ``MLproject``.

``mlflow run -P KEY=VALUE`` appends each parameter its entry point does not
declare as ``--KEY VALUE``. The template's entry points declare none and call
this command, so every notebook parameter passes to `mlops stage run` or
`mlops pipeline run` as ``-p KEY=VALUE``, typed and checked there, and a
stage spec's values hold where ``-P`` gives none.
"""

from __future__ import annotations

import argparse
from typing import Any

from . import Subparsers
from ..errors import CommandError

PIPELINE = "main"


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "mlproject",
        help="run an MLproject entry point (what `mlflow run` calls)",
        description="Run a stage (`mlops stage run STAGE`) or, for main, the "
        "pipeline (`mlops pipeline run`), each --KEY VALUE that `mlflow run -P "
        "KEY=VALUE` appends given as -p KEY=VALUE (a pipeline's as STAGE.KEY "
        "for one stage).",
    )
    parser.add_argument(
        "entry", metavar="ENTRY", help=f"a stage's name, or {PIPELINE}: the pipeline"
    )
    parser.add_argument(
        "options",
        nargs=argparse.REMAINDER,
        metavar="--KEY VALUE",
        help="a parameter, as mlflow run passes -P KEY=VALUE; repeatable",
    )
    parser.set_defaults(handler=run, terminable=True)


def assignments(options: list[str]) -> list[str]:
    """``--seed 7 --label=x`` as ``["seed=7", "label=x"]``."""
    found = []
    rest = list(options)
    while rest:
        option = rest.pop(0)
        if not option.startswith("--") or option == "--":
            raise CommandError(
                f"mlproject: {option!r} is no --KEY VALUE pair (mlflow run passes "
                f"-P KEY=VALUE so)"
            )
        key, equals, value = option[2:].partition("=")
        if not equals:
            if not rest:
                raise CommandError(f"mlproject: --{key} has no value")
            value = rest.pop(0)
        found.append(f"{key}={value}")
    return found


def run(args: argparse.Namespace) -> int:
    from . import build_parser

    params = [arg for pair in assignments(args.options) for arg in ("-p", pair)]
    if args.entry == PIPELINE:
        argv = ["pipeline", "run", *params]
    else:
        argv = ["stage", "run", args.entry, *params]
    command = build_parser().parse_args(argv)
    claimed = _claim_outer_run()
    try:
        return int(command.handler(command) or 0)
    except KeyboardInterrupt:
        _end_outer_run()
        raise
    finally:
        if claimed is not None:
            claimed.release()


def _claim_outer_run() -> Any:
    """Claim the run `mlflow run` made for us while we run: killed unasked
    (SIGKILL; on Windows, an aborted build's end), neither we nor `mlflow
    run` end it, and `mlops audit sync` then ends it KILLED. Best effort."""
    import os

    run_id = os.environ.get("MLFLOW_RUN_ID", "")
    if not run_id:
        return None
    try:
        from ..project import find_project
        from ..runner import orphans
        from ..settings import load
        from ..runner.tracking import shown_uri

        project = find_project()
        uri = shown_uri(load(project).mlflow_tracking_uri)
        return orphans.claim(project.state_dir, run_id, uri)
    except Exception:  # noqa: BLE001 - the command is what the user asked for
        return None


def _end_outer_run() -> None:
    """Interrupted, end the run `mlflow run` made for us KILLED: SIGTERM to
    the group (a cancelled `mlflow run`, an aborted job) stops `mlflow run`
    too, before it ends its run, which would stay RUNNING. Best effort."""
    import os
    import time

    run_id = os.environ.get("MLFLOW_RUN_ID", "")
    if not run_id:
        return
    try:
        from ..project import find_project
        from ..runner.store import open_store
        from ..settings import load

        store = open_store(load(find_project()))
        run = store.get_run(run_id)
        if run is not None and run.status == "RUNNING":
            store.set_terminated(run_id, "KILLED", int(time.time() * 1000))
    except Exception:  # nosec B110 # the interrupt is what the user must see
        pass
