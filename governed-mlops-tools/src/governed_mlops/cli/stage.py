"""``mlops stage``: list, create, check and fill the wheelhouse of stage envs."""

from __future__ import annotations

import argparse
import functools
from functools import partial
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from . import Subparsers, add_group, positive
from ..errors import CommandError
from ..project import Project, find_project

if TYPE_CHECKING:  # imported by the handlers that use them (start-up time)
    from ..stages.specs import Stage, Survey

STAGE_HELP = "stage name (or its spec file env_specs/stage_<name>.yaml)"


def register(subparsers: Subparsers) -> None:
    _, commands = add_group(
        subparsers,
        "stage",
        help="stage environments: list, create, check, run, wheels",
        description="Stage environments: one virtualenv and Jupyter kernel per "
        "pipeline stage, built from env_specs/stage_<name>.yaml, and stage runs.",
    )

    listing = commands.add_parser(
        "list",
        help="list the stages in pipeline order",
        description="List the stages in pipeline order with their env state.",
    )
    listing.set_defaults(handler=run_list)

    create = commands.add_parser(
        "create",
        help="create or update stage envs and kernels",
        description="Create each stage's venv with its interpreter, install its "
        "lock (writing env_specs/locks/<stage>.txt when the spec changed), save "
        "the freeze and register its kernel. Does nothing when spec, lock and "
        "interpreter are unchanged and the env's packages are still its lock's; "
        "a failed build keeps the previous env.",
    )
    _targets(create)
    create.add_argument("--force", action="store_true", help="rebuild even if current")
    create.add_argument(
        "--offline",
        action="store_true",
        help="install only from the wheelhouse (wheels/), with no index",
    )
    create.add_argument(
        "--upgrade",
        action="store_true",
        help="lock again, taking the newest versions the spec allows",
    )
    _installer(create)
    create.add_argument(
        "--jobs",
        type=positive,
        default=min(4, os.cpu_count() or 1),
        help="stages built at once (default: %(default)s)",
    )
    create.set_defaults(handler=run_create)

    check = commands.add_parser(
        "check",
        help="check specs, envs, kernels and installed packages",
        description="Check that each spec is valid, its venv exists, its kernel "
        "is registered with the stage venv's interpreter and the installed "
        "packages match the lock. Exits 1 when anything is off.",
    )
    _targets(check)
    _installer(check)
    check.set_defaults(handler=run_check)

    run = commands.add_parser(
        "run",
        help="run a stage's notebook in its kernel, recorded in MLflow",
        description="Run the stage's notebook with papermill in the stage kernel. "
        "Parameters are the spec's defaults overridden by -p; the run, its audit "
        "tags and bundle (executed notebook, freeze, spec, diff, run.log) go to "
        "MLflow (the bundle is kept in artifacts/<run_id>/ only while the store "
        "is unreachable: `mlops audit sync`). Refuses an env that differs from "
        "its lock unless --allow-drift. Exits 1 when the notebook fails.",
    )
    run.add_argument("stage", metavar="STAGE", help=STAGE_HELP)
    run.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="notebook parameter (YAML value: 7, 0.5, true, text); repeatable",
    )
    run.add_argument(
        "--allow-drift",
        action="store_true",
        help="run even when the stage env differs from its lock (recorded on the "
        "run as tag env.drift)",
    )
    run.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="stream what goes to the run's run.log (papermill's lines, the "
        "notebook's output, the kernel's messages) to stderr too",
    )
    run.set_defaults(handler=run_stage, terminable=True)

    wheels = commands.add_parser(
        "wheels",
        help="download the stage locks' wheels into wheels/ for offline installs",
        description="Download every package of the stages' locks and the "
        "project's build requirements into wheels/, so that `mlops stage create "
        "--offline` works with no index, and the project's pinned tools with "
        "their pipeline extra and dependencies, so that an agent without an "
        "index installs them with `pip install --no-index --find-links wheels "
        '"governed-mlops-tools[pipeline]"`.',
    )
    _targets(wheels)
    _installer(wheels)
    wheels.set_defaults(handler=run_wheels)


def _targets(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stages", nargs="*", metavar="STAGE", help=STAGE_HELP)
    parser.add_argument("--all", action="store_true", help="every stage")


def _installer(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--installer",
        choices=("auto", "uv", "pip"),
        default="auto",
        help="auto: uv when installed, else venv + pip (default: %(default)s)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="name the installer's command line when a step fails",
    )


def _survey(
    args: argparse.Namespace, machine: bool = True
) -> tuple[Project, Survey, list[str]]:
    """The project, its spec survey and the stage names the arguments select."""
    from ..stages.specs import survey

    if args.all == bool(args.stages):
        raise CommandError("name one or more stages, or pass --all")
    project = find_project()
    found = survey(project, machine=machine)
    names = found.order if args.all else found.lookup(args.stages)
    return project, found, names


def _selected(
    args: argparse.Namespace, machine: bool = True
) -> tuple[Project, list[Stage]]:
    """The project and the selected stages, each valid: a bad spec of another
    stage is only a warning."""
    project, found, names = _survey(args, machine)
    return project, found.require(names)


def _built_state(wanted: str, marker: dict[str, str]) -> str:
    """``built``, or what differs from a spec that names a version (``3.12``)
    the env was not built with; `stage check` names every difference."""
    built = str(marker.get("python_version", ""))
    if re.fullmatch(r"\d+\.\d+", wanted) and built.split(".")[:2] != wanted.split("."):
        return f"built with Python {built}: run `mlops stage create`"
    return "built"


def run_list(args: argparse.Namespace) -> int:
    from ..stages.specs import survey
    from ..stages.env import read_marker

    project = find_project()
    found = survey(project, machine=False)
    found.warn([])
    invalid = found.invalid()
    rows = [("stage", "python", "env", "kernel", "notebook")]
    for name in found.order:
        stage = found.parsed.get(name)
        if name in invalid:
            state = "invalid spec"
        elif stage is not None and read_marker(stage) and stage.python.exists():
            state = _built_state(str(stage.spec.python), read_marker(stage) or {})
        else:
            state = "missing"
        if stage is None:
            rows.append((name, "-", f"- ({state})", "-", "-"))
            continue
        rows.append(
            (
                stage.name,
                str(stage.spec.python),
                f"{stage.spec.env_dir} ({state})",
                stage.kernel_name,
                stage.spec.notebook,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


def run_create(args: argparse.Namespace) -> int:
    from ..extras import require_pipeline
    from ..settings import installer_access
    from ..stages.env import Options, create
    from ..stages.in_use import using

    require_pipeline("stage create")

    project, stages = _selected(args)
    access = functools.cache(lambda: installer_access(project))
    options = Options(
        force=args.force,
        offline=args.offline,
        upgrade=args.upgrade,
        installer=args.installer,
        access=access,
        verbose=args.verbose,
    )
    failures: list[str] = []

    def build(stage: Stage) -> tuple[str, str]:
        try:
            with using([stage]):
                return stage.name, create(stage, options)
        except CommandError as error:
            failures.append(str(error))
            return stage.name, "FAILED"

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(build, stages))
    for name, status in results:
        print(f"{name}: {status}")
    if failures:
        raise CommandError("\n".join(failures))
    return 0


def run_check(args: argparse.Namespace) -> int:
    from ..extras import require_pipeline
    from ..stages.env import problems

    require_pipeline("stage check")

    project, found, names = _survey(args)
    found.warn(names)
    invalid = found.invalid()
    bad = 0
    for name in names:
        if name in invalid:
            bad += 1
            print(f"{name}: FAIL (invalid spec)")
            for line in invalid[name]:
                print(f"  - {line}")
            print("  fix: change the spec as each line says")
            continue
        stage = found.stages[name]
        found_problems = problems(stage, args.installer)
        unreadable = _notebook_problem(stage.notebook)
        if found_problems or unreadable:
            bad += 1
            print(f"{stage.name}: FAIL")
            for line in found_problems + unreadable:
                print(f"  - {line}")
            if found_problems:
                print(f"  fix: mlops stage create {stage.name} --force")
        else:
            print(f"{stage.name}: ok ({stage.env_dir}, kernel {stage.kernel_name})")
    return 1 if bad else 0


def _notebook_problem(path: Path) -> list[str]:
    """Why the stage's notebook cannot be run (a line that says the fix)."""
    from ..runner.notebook import read_notebook

    try:
        read_notebook(path)
    except CommandError as error:
        return [str(error)]
    return []


def run_stage(args: argparse.Namespace) -> int:
    from ..extras import require_pipeline
    from ..runner import cache
    from ..runner.execute import Runner, record_ended
    from ..runner.parameters import parse_assignments
    from ..stages.in_use import using
    from ..stages.specs import survey

    require_pipeline("stage run")

    project = find_project()
    (stage,) = survey(project).require([args.stage])
    overrides = parse_assignments(args.param)
    with using([stage]):
        runner = Runner(project, allow_drift=args.allow_drift, verbose=args.verbose)
        try:
            parameters = runner.prepare(stage, overrides)
            # Always run; its result then serves later pipeline runs as their
            # cache.
            stored = runner.stage_cache()
            decision = stored.decide(stage, parameters, True, cache.STAGE_RUN)
            result = runner.run_stage(
                stage,
                parameters,
                parent_run_id=runner.outer_run(),
                decision=decision,
                ended=partial(record_ended, stored, stage, decision, None),
            )
        finally:
            runner.finish()
    print(f"{result.stage}: {result.status} in {result.seconds:.1f} s")
    print(f"run {result.run_id}")
    return 0


def run_wheels(args: argparse.Namespace) -> int:
    from ..extras import require_pipeline
    from ..progress import Progress
    from ..settings import installer_access
    from ..stages import locks
    from ..stages.env import index_options, lock_digest, lock_path
    from ..stages.installers import IndexOptions, pick

    require_pipeline("stage wheels")  # a lock's digest holds mlflow's version

    project, stages = _selected(args)
    installer = pick(args.installer, lambda: installer_access(project), args.verbose)
    token = installer.access.token
    build = project.pyproject.get("build-system", {}).get("requires", [])
    project.wheels_dir.mkdir(exist_ok=True)
    for stage in stages:
        lock = lock_path(stage)
        if not lock.is_file():
            raise CommandError(
                f"{stage.name}: no lock yet: run "
                f"`mlops stage create {stage.name}` first"
            )
        if locks.read_digest(lock) != lock_digest(stage):
            raise CommandError(
                f"{stage.name}: its lock is stale (the spec, constraints or "
                f"Python changed since): run `mlops stage create {stage.name}` "
                f"and commit the lock first, or the wheelhouse gets the old lock's "
                f"packages"
            )
        say = Progress(stage.name)
        say(f"downloading into {project.wheels_dir}")
        assert stage.interpreter is not None  # nosec B101 # machine=True survey
        installer.download(
            stage.interpreter.path,
            lock,
            list(build),
            project.wheels_dir,
            index_options(stage, token=token),
        )
        say("done")
    tools = project.tools_requirement(extras=True)
    say = Progress("tools")
    say(f"building {tools} and its dependencies into {project.wheels_dir}")
    first = stages[0].interpreter
    assert first is not None  # nosec B101 # machine=True survey
    installer.wheel(
        first.path,
        tools,
        project.wheels_dir,
        IndexOptions(index_url=project.index_url, token=token),
    )
    say("done")
    count = len(list(project.wheels_dir.iterdir()))
    print(f"{project.wheels_dir}: {count} files", file=sys.stdout)
    return 0
