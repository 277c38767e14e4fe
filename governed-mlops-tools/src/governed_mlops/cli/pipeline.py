"""``mlops pipeline run``: the stages in order under one MLflow parent run."""

from __future__ import annotations

import argparse

from . import Subparsers, add_group
from ..errors import CommandError, StageFailed
from ..project import find_project


def register(subparsers: Subparsers) -> None:
    _, commands = add_group(
        subparsers,
        "pipeline",
        help="run the stage pipeline",
        description="Run the pipeline's stages in order.",
    )
    run = commands.add_parser(
        "run",
        help="run the stages in order, stopping at the first failure",
        description="Run the stages in pipeline order ([tool.governed-mlops] "
        "stages) under one MLflow parent run with a child run per stage, "
        "stopping at the first failure, and print a summary. A stage whose "
        "notebook code, parameters, lock, interpreter, project package and "
        "declared inputs are unchanged since its last successful run is "
        "skipped (its missing outputs restored from .mlops/cache); each stage's "
        "line says why it ran or was skipped. When every stage is skipped nothing "
        "is recorded. Exits 1 when a stage fails.",
    )
    run.add_argument("--from", dest="start", metavar="STAGE", help="first stage")
    run.add_argument("--to", dest="end", metavar="STAGE", help="last stage")
    run.add_argument(
        "--only", action="append", default=[], metavar="STAGE", help="just this stage"
    )
    run.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="[STAGE.]KEY=VALUE",
        help="a parameter for one stage (train.seed=7) or for every stage whose "
        "notebook declares it (seed=7); repeatable",
    )
    run.add_argument(
        "--allow-drift",
        action="store_true",
        help="run stages whose env differs from its lock (recorded on each such "
        "run as tag env.drift)",
    )
    run.add_argument(
        "--force",
        nargs="?",
        const="",
        action="append",
        metavar="STAGE",
        help="run every stage, or with a name this stage, even when unchanged "
        "since its last successful run; repeatable",
    )
    run.add_argument(
        "--smoke",
        action="store_true",
        help="mark this as a smoke run (tag pipeline.smoke on the parent run), as "
        "`mlops ci smoke` does",
    )
    run.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="stream what goes to each run's run.log (papermill's lines, the "
        "notebooks' output, the kernels' messages) to stderr too",
    )
    run.set_defaults(handler=run_pipeline, terminable=True)


def chosen(
    names: list[str], start: str | None, end: str | None, only: list[str]
) -> list[str]:
    """The stage names to run, in pipeline order."""
    if not names:
        raise CommandError(
            "pyproject.toml: [tool.governed-mlops] stages is empty: list the "
            "pipeline's stages in run order"
        )
    for name in [start, end, *only]:
        if name and name not in names:
            raise CommandError(f"no stage {name!r}; stages: {', '.join(names)}")
    if only:
        if start or end:
            raise CommandError("--only cannot be combined with --from or --to")
        return [name for name in names if name in only]
    first = names.index(start) if start else 0
    last = names.index(end) if end else len(names) - 1
    if first > last:
        raise CommandError(f"--from {start} comes after --to {end} in the pipeline")
    return names[first : last + 1]


def forced(given: list[str] | None, names: list[str]) -> frozenset[str] | None:
    """``--force`` as the runner takes it: None, every stage (empty), or names."""
    if given is None:
        return None
    if "" in given:
        return frozenset()
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise CommandError(
            f"--force {unknown[0]}: no such stage in this run; stages: "
            f"{', '.join(names)}"
        )
    return frozenset(given)


def run_pipeline(args: argparse.Namespace) -> int:
    from ..extras import require_pipeline
    from ..runner.execute import Runner, run_pipeline
    from ..runner.parameters import parse_assignments
    from ..stages.in_use import using
    from ..stages.specs import survey

    require_pipeline("pipeline run")

    project = find_project()
    found = survey(project)
    # Only the stages that run must be valid; a bad spec of another is a warning.
    stages = found.require(chosen(found.order, args.start, args.end, args.only))
    runner = Runner(
        project, allow_drift=args.allow_drift, verbose=args.verbose, warm_store=False
    )
    values = parse_assignments(args.param)
    force = forced(args.force, [stage.name for stage in stages])
    try:
        with using(stages):
            parent, results = run_pipeline(
                runner, stages, values, smoke=args.smoke, force=force
            )
    finally:
        runner.finish()
    if parent:
        print(f"pipeline run {parent}")
    elif all(result.status == "CACHED" for result in results):
        print("pipeline: every stage unchanged, nothing ran (no run recorded)")
    else:  # the pipeline's run could not be made (its store failed first)
        print("pipeline: no pipeline run recorded")
    print(f"{'stage':<14}{'status':<10}{'seconds':>9}  run id")
    for result in results:
        ran = result.run_id and result.status != "CACHED"
        seconds = f"{result.seconds:.1f}" if ran else "-"
        print(f"{result.stage:<14}{result.status:<10}{seconds:>9}  {result.run_id}")
    failed = [result for result in results if result.status == "FAILED"]
    if failed:
        raise StageFailed(failed[0].message)
    return 0
