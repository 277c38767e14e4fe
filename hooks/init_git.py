"""Copier task after ``copier copy``: make the new project a git repository.

``copier update`` needs the project under git, and the stage runner records
the commit of every run. A destination already inside a work tree (the
template adopted into an existing repository) is left as it is. Idempotent;
copier runs it only for a real copy (``_copier_operation == 'copy'``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def inside_work_tree(folder: Path) -> bool:
    # Without a .git above it (and no GIT_DIR) no git command can find a work
    # tree: one process fewer on every copy.
    if "GIT_DIR" not in os.environ and not any(
        (parent / ".git").exists() for parent in (folder, *folder.parents)
    ):
        return False
    result = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    return result.returncode == 0 and result.stdout.strip() == "true"


def adopted(folder: Path) -> None:
    """In an existing repository, name the committed files the copy replaced:
    the user's content is in git, to be put back before the first commit."""
    changed = subprocess.run(
        ["git", "diff", "--name-only", "-z", "--relative", "HEAD", "--", "."],
        cwd=folder,
        capture_output=True,
    )
    listed = os.fsdecode(changed.stdout) if changed.returncode == 0 else ""
    names = [name for name in listed.split("\0") if name]
    if not names:
        return
    print(f"The copy replaced {len(names)} committed file(s) of this repository:")
    for name in names:
        print(f"  {name}")
    print(
        "Put your parts back before you commit: `git diff` shows them, "
        "`git checkout -p HEAD -- <file>` brings back hunks (README.md, "
        '"Set up", first step).'
    )


def main(folder: Path) -> int:
    if shutil.which("git") is None:
        print("git not found: run `git init` in the project before `copier update`")
        return 0
    if inside_work_tree(folder):
        adopted(folder)
        return 0
    subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "init", "--quiet"],
        cwd=folder,
        check=True,
    )
    print(f"initialized a git repository in {folder}: commit the project with")
    print("  git add -A && git commit -m 'Generated from governed-mlops'")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()))
