"""The governance policy as code: rules ``GOVnnn``, waivers and reports.

Runs wherever the policy is checked: ``mlops policy check``, the pre-commit
hook, CI, and copier's own Python after ``copier copy`` / ``update``; so it
imports only the standard library, pyyaml, pydantic and packaging.
Run it as ``python -m governed_mlops.policy [PROJECT_DIR]`` (``--help``).
This module stays light (the checker loads on use): ``mlops --help`` imports it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

from ..files import output_file
from .versions import OLDEST_SUPPORTED, POLICY_VERSION

if TYPE_CHECKING:
    import argparse
    import datetime as dt

    from .engine import Report

__all__ = [
    "EXIT_CODES",
    "FORMATS",
    "OLDEST_SUPPORTED",
    "POLICY_VERSION",
    "add_check_arguments",
    "check",
    "main",
    "run_check",
]

FORMATS = ("terminal", "json", "junit", "sarif")
EXIT_CODES = (
    "exit codes: 0 no errors (warnings and waived rules allowed), 1 at least one "
    "rule failed as an error, 2 invalid input (a refused waiver, not a project)"
)


def check(
    root: Path,
    today: Optional[dt.date] = None,
    *,
    plugins: bool = True,
    write_cache: bool = True,
    detect_secrets: bool = True,
) -> "Report":
    """Check the project in ``root`` against every rule of the policy, and the
    rules of installed plugins unless ``plugins`` is False; with
    ``write_cache=False`` the check writes nothing into the project; with
    ``detect_secrets=False`` GOV201 runs its built-in patterns only (the
    report at ``copier copy``)."""
    from .engine import check as run_rules

    return run_rules(
        root,
        today,
        plugins=plugins,
        write_cache=write_cache,
        detect_secrets=detect_secrets,
    )


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of a policy check (shared by ``mlops policy check``)."""
    parser.add_argument(
        "project",
        nargs="?",
        type=Path,
        help="project root (default: the governed project around the current "
        "directory)",
    )
    parser.add_argument(
        "--format",
        choices=sorted(FORMATS),
        default="terminal",
        help="report format (default: terminal)",
    )
    parser.add_argument(
        "--output",
        type=output_file,
        help="write the report to this file; the terminal report still goes to "
        "stdout",
    )
    parser.add_argument(
        "--no-plugins",
        action="store_true",
        help="the policy's own rules only, not those of installed plugins (the "
        "reports after copier copy and update: plugins live in the project's env)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="in the terminal report, also each failed rule's rationale and the "
        "rules that passed or do not apply",
    )
    parser.add_argument(
        "--exit-zero",
        action="store_true",
        help="exit 0 even when rules fail (reports only, e.g. after copier update)",
    )


def run_check(args: argparse.Namespace) -> int:
    """Check, write the report, and return the exit code."""
    from .engine import PolicyInputError
    from .reports import RENDERERS, terminal

    try:
        report = check(args.project or _project_root(), plugins=not args.no_plugins)
    except PolicyInputError as error:
        print(f"policy check: {error}", file=sys.stderr)
        return 2
    shown = terminal(report, verbose=args.verbose)
    text = shown if args.format == "terminal" else RENDERERS[args.format](report)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
        text = shown
    sys.stdout.write(text)
    return 0 if args.exit_zero else report.exit_code


def _project_root() -> Path:
    from ..project import ProjectError, find_project

    try:
        return find_project().root
    except ProjectError:
        return Path.cwd()


def main(argv: Optional[Sequence[str]] = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m governed_mlops.policy",
        description=f"Check a project against governance policy {POLICY_VERSION}.",
        epilog=EXIT_CODES,
    )
    add_check_arguments(parser)
    return run_check(parser.parse_args(argv))
