"""The update guard: what ``hooks/update_guard.py`` runs after every update.

In order: conflicted notebooks merged cell by cell, conflicted
``pyproject.toml`` and stage specs made to parse, edited files the update
deleted or renamed put back. Runs in copier's Python after copier's merge and
deletions; idempotent; an unexpected problem is printed, never raised, so the
update itself stands.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Mapping

from ..errors import CommandError
from ..gitcmd import git
from . import gitio, kept, notebooks, renames, structured
from .render import ANSWERS, parse_answers, render, source_for, verbatim_files

TABLE = Path("hooks") / "migrations" / renames.TABLE


def guard(project: Path, template: Path, environ: Mapping[str, str]) -> list[str]:
    """Run every step on ``project``; ``template`` is the checkout of the
    version being applied. Returns one line per file acted on."""
    conflicted = gitio.unmerged_paths(project)
    done = _rejected(project)
    done += notebooks.resolve_conflicted(project, conflicted)
    done += structured.fix_conflicted(project, conflicted)
    deleted = kept.deleted_files(project)
    if deleted:  # most updates delete nothing: render the old version only then
        done += _keep_deleted(project, template, environ, deleted)
    return done


def _rejected(project: Path) -> list[str]:
    """``*.rej`` files an update with ``--conflict rej`` left: the guard
    merges only copier's inline conflicts, so say what that costs."""
    listed = git(project, "ls-files", "--others", "--exclude-standard", "-z")
    found = [
        name
        for name in listed.decode("utf-8", "surrogateescape").split("\0")
        if name.endswith(".rej")
    ]
    return [
        f"{name}: the clash is beside the file (--conflict rej), not merged: "
        f"the guard merges inline conflicts only (copier's default), notebooks "
        f"cell by cell; to keep your edits in {name[:-4]}, reset (`git reset "
        f"--hard && git clean -fd`) and update again without --conflict rej"
        for name in sorted(found)
    ]


def _keep_deleted(
    project: Path, template: Path, environ: Mapping[str, str], deleted: list[str]
) -> list[str]:
    head_answers = gitio.at_head(project, ANSWERS)
    if head_answers is None:
        raise CommandError(f"HEAD has no {ANSWERS}: cannot tell what you edited")
    answers = parse_answers(head_answers.decode("utf-8"))
    commit = environ.get("VERSION_FROM") or str(answers.get("_commit", ""))
    if not commit:
        raise CommandError(f"{ANSWERS}: no _commit: cannot tell what you edited")
    moves: dict[str, str] = {}
    old, new = environ.get("VERSION_PEP440_FROM"), environ.get("VERSION_PEP440_TO")
    if old and new:
        table = renames.load(template / TABLE)
        package = str(answers.get("package_name", ""))
        moves = renames.crossed(table, old, new, package)
        folders = tuple(renames.handed_over(table, old, new, package))
        # A migration keeps the edits under these: no old render for them.
        deleted = [path for path in deleted if not path.startswith(folders)]
        if not deleted:
            return []
    source = source_for(template, commit, answers)
    with tempfile.TemporaryDirectory(prefix="mlops-update-") as tmp:
        then = Path(tmp, "old")
        # Files the old version shipped as they are need no render (copier's
        # render of a whole version takes a second or two).
        plain = verbatim_files(Path(source), commit, deleted, then)
        if len(plain) < len(deleted):
            shutil.rmtree(then, ignore_errors=True)
            render(source, commit, answers, then)
        return kept.keep_edits(project, deleted, then, moves)


def main(project: Path, template: Path, environ: Mapping[str, str]) -> int:
    """Print what the guard did; always 0 (the update stands)."""
    try:
        lines = guard(project, template, environ)
    except CommandError as error:
        print(f"update guard: {error}")
        print(
            "update guard: files the update deleted are in HEAD: "
            "`git diff --name-only --diff-filter=D HEAD` lists them, "
            "`git checkout HEAD -- <file>` brings one back"
        )
        return 0
    except Exception as error:  # never undo the update for a guard's bug
        print(f"update guard: failed: {type(error).__name__}: {error}")
        print("update guard: review `git status` before committing")
        return 0
    for line in lines:
        print(f"update guard: {line}")
    return 0
