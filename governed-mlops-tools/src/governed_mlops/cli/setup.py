"""``mlops setup``: set a clone of the project up for working on it."""

from __future__ import annotations

import argparse

from . import Subparsers
from ..errors import CommandError
from ..gitcmd import GitError
from ..project import find_project


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "setup",
        help="set this clone up: git merges notebooks cell by cell (nbdime)",
        description="Set this clone of the project up: define the git merge "
        "driver that .gitattributes names for notebooks, so that git merges "
        "them cell by cell with nbdime (from .venv) instead of as text, which "
        "leaves a notebook that is not JSON. Run it once in each clone; it "
        "changes nothing when done already.",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..notebook_merge import configure

    project = find_project()
    try:
        changed = configure(project.root)
    except GitError as error:
        raise CommandError(
            f"cannot configure git in {project.root}: {error}; is it a git "
            f"clone (`git init`)?"
        ) from None
    if changed:
        print("git merges notebooks cell by cell with nbdime in this clone")
    else:
        print("this clone is set up already (notebooks merge with nbdime)")
    return 0
