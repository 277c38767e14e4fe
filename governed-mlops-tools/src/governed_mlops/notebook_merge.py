"""git merges the project's notebooks cell by cell, with nbdime.

The project's ``.gitattributes`` names the merge driver ``nbdime`` for
``*.ipynb``; a clone defines it in its own git configuration (git keeps no
driver in the repository). Undefined, git merges notebooks as text, whose
conflict markers leave a file that is no longer JSON.

The driver runs nbdime from the project's ``.venv`` (git starts it in the
work tree's top folder, through its own ``sh`` on Windows too), and falls
back to git's text merge while there is no ``.venv``: a merge never keeps
one side silently because the driver could not start.
"""

from __future__ import annotations

from pathlib import Path

from . import gitcmd

NAME = "nbdime"
DRIVER = (
    'd=.venv/bin/git-nbmergedriver; [ -x "$d" ] || '
    "d=.venv/Scripts/git-nbmergedriver.exe; "
    'if [ -x "$d" ]; then "$d" merge %O %A %B %L %P; '
    "else git merge-file -L local -L base -L remote %A %O %B; fi"
)
SETTINGS = {
    f"merge.{NAME}.name": "notebooks merged cell by cell (nbdime)",
    f"merge.{NAME}.driver": DRIVER,
}


def configure(root: Path) -> list[str]:
    """Define the driver in the git configuration of the clone at ``root``;
    returns the settings it changed (none when they were set already)."""
    changed = []
    for key, value in SETTINGS.items():
        current = gitcmd.git_or_none(root, "config", "--local", "--get", key)
        if current is None or current.decode("utf-8").strip() != value:
            gitcmd.git(root, "config", "--local", key, value)
            changed.append(key)
    return changed
