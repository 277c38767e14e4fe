"""``mlops template recopy``: a safe recovery from a bad update."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import Subparsers, add_group
from ..errors import CommandError


def register(subparsers: Subparsers) -> None:
    _, commands = add_group(
        subparsers,
        "template",
        help="the project's template files (recopy)",
        description="The files the project's template owns.",
    )
    recopy = commands.add_parser(
        "recopy",
        help="put the template's files back as the project's version renders them",
        description="Render the project's template version (or --vcs-ref) with "
        "its answers and write only the files the template owns "
        "(.pre-commit-config.yaml, CI files, scripts/, ...). Your files "
        "(pyproject.toml, src/, tests/, notebooks, stage specs, README.md) are "
        "never written, and files you deleted stay deleted unless "
        "--restore-deleted. Needs a clean git tree: `git diff` then shows "
        "what it did. Replaces `copier recopy --overwrite`, which overwrites "
        "your files too.",
    )
    recopy.add_argument(
        "--vcs-ref",
        metavar="REF",
        help="the template version to render (default: the project's, "
        "_commit in .copier-answers.yml)",
    )
    recopy.add_argument(
        "--restore-deleted",
        action="store_true",
        help="also bring back the template's files the project deleted",
    )
    recopy.add_argument(
        "--dry-run", action="store_true", help="print what would change, write nothing"
    )
    recopy.set_defaults(handler=run_recopy)


def project_root() -> Path:
    """The git work tree around the current directory."""
    from ..gitcmd import git

    try:
        return Path(git(Path.cwd(), "rev-parse", "--show-toplevel").decode().strip())
    except CommandError:
        raise CommandError("not in a git repository: run it in the project") from None


def run_recopy(args: argparse.Namespace) -> int:
    from ..update.recopy import recopy

    done = recopy(
        project_root(),
        args.vcs_ref,
        restore_deleted=args.restore_deleted,
        dry_run=args.dry_run,
    )
    for line in done.lines(args.dry_run):
        print(line)
    return 0
