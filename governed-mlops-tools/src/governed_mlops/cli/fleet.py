"""``mlops fleet``: report on and update many projects of the template."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import Subparsers, add_group, positive
from ..files import output_file

if TYPE_CHECKING:
    from ..fleet.sources import Source


def _add_sources(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "repositories",
        nargs="*",
        metavar="REPOSITORY",
        help="a git work tree's path or a git URL (any host: plain git)",
    )
    parser.add_argument(
        "--from-file",
        type=Path,
        metavar="FILE",
        help="repositories, one a line (# starts a comment)",
    )
    parser.add_argument(
        "--under", type=Path, metavar="DIR", help="every git clone below DIR"
    )
    parser.add_argument(
        "--jobs",
        type=positive,
        default=2,
        metavar="N",
        help="projects at once (default 2)",
    )


def register(subparsers: Subparsers) -> None:
    _, commands = add_group(
        subparsers,
        "fleet",
        help="report on and update many projects (a policy rollout)",
        description="Many projects of the template at once: their versions and "
        "policy results, and updates to a policy version on a branch of each "
        "(docs/fleet.md). Needs the tools' `fleet` extra.",
    )
    report = commands.add_parser(
        "report",
        help="versions, tools pins, policy results and waivers of every project",
        description="Read every project (local work trees in place, URLs in "
        "shallow clones) and report its template version, tools pin, policy "
        "result and waivers, with the fleet's totals. Writes nothing into the "
        "projects.",
    )
    _add_sources(report)
    report.add_argument(
        "--format", choices=("terminal", "json", "html"), default="terminal"
    )
    report.add_argument(
        "--output", type=output_file, metavar="FILE", help="write the report to FILE"
    )
    report.add_argument(
        "--workdir",
        type=Path,
        default=Path(".fleet") / "report",
        help="where URLs are cloned (default .fleet/report)",
    )
    report.set_defaults(handler=run_report)

    update = commands.add_parser(
        "update",
        help="update every project to a version on a branch of a clone",
        description="For each project, in a clone in the work folder: copier "
        "update to VERSION on a new branch, uv lock, uv sync and the tests, the "
        "target's policy check; classify; commit the clean ones with a pull "
        "request text and run --hook. Resumable: a rerun skips projects already "
        "classified. Exit 1 when a project needs a human.",
    )
    _add_sources(update)
    update.add_argument(
        "--to", required=True, metavar="VERSION", help="the template release"
    )
    update.add_argument("--workdir", type=Path, help="default .fleet/<VERSION>")
    update.add_argument(
        "--branch", help="the update's branch (default governed-mlops/update-VERSION)"
    )
    update.add_argument(
        "--test-command",
        default="uv run pytest -q",
        help="the projects' tests (default: uv run pytest -q)",
    )
    update.add_argument(
        "--no-tests", action="store_true", help="skip uv sync and the tests"
    )
    update.add_argument(
        "--hook",
        metavar="CMD",
        help="a shell command run in each clean project's clone (push, open a "
        "pull request), with MLOPS_FLEET_BRANCH, _VERSION, _FROM_VERSION, _TITLE, "
        "_BODY_FILE, _SOURCE and _PROJECT in its environment",
    )
    update.add_argument(
        "--retry", action="store_true", help="redo the projects that were not clean"
    )
    update.add_argument("--format", choices=("terminal", "json"), default="terminal")
    update.add_argument(
        "--verbose", action="store_true", help="every command on stderr"
    )
    update.set_defaults(handler=run_update)


def _sources(args: argparse.Namespace) -> list[Source]:
    from ..fleet.sources import collect

    return collect(args.repositories, args.from_file, args.under)


def say(line: str) -> None:
    print(f"fleet: {line}", file=sys.stderr, flush=True)


def run_report(args: argparse.Namespace) -> int:
    from ..errors import CommandError
    from ..fleet.report import RENDERERS, gather

    if args.format == "html" and args.output is None:
        raise CommandError("--format html needs --output FILE (one page)")
    sources = _sources(args)
    report = gather(sources, args.workdir.resolve(), jobs=args.jobs, progress=say)
    text = RENDERERS[args.format](report)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
        say(f"report written to {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def run_update(args: argparse.Namespace) -> int:
    import shlex

    from ..fleet import update
    from ..fleet.classify import SETTLED

    update.release_check(args.to)
    sources = _sources(args)
    options = update.Options(
        version=args.to,
        workdir=(args.workdir or Path(".fleet") / args.to).resolve(),
        branch=args.branch or f"governed-mlops/update-{args.to}",
        tests=not args.no_tests,
        test_command=shlex.split(args.test_command),
        hook=args.hook,
        jobs=args.jobs,
        retry=args.retry,
        verbose=args.verbose,
        say=say,
    )
    records = update.run(sources, options)
    if args.format == "json":
        sys.stdout.write(update.to_json(records, args.to))
    else:
        sys.stdout.write(update.summary(records, args.to))
    return 0 if all(r.outcome in SETTLED for r in records) else 1
