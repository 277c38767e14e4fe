"""git merges the project's notebooks cell by cell, with nbdime.

The project's ``.gitattributes`` names the merge driver ``nbdime`` for
``*.ipynb``; a clone defines it in its own git configuration (git keeps no
driver in the repository). Undefined, git merges notebooks as text, whose
conflict markers leave a file that is no longer JSON.

The driver runs nbdime from the project's ``.venv`` (git starts it in the
work tree's top folder, through its own ``sh`` on Windows too), by way of
:func:`main`, and falls back to git's text merge while there is no
``.venv``: a merge never keeps one side silently because the driver could
not start.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Sequence

from . import gitcmd

NAME = "nbdime"
DRIVER = (
    'b=.venv/bin; [ -d "$b" ] || b=.venv/Scripts; p="$b/python"; '
    '[ -x "$p" ] || p="$b/python.exe"; '
    'if [ -x "$b/git-nbmergedriver" ] || [ -x "$b/git-nbmergedriver.exe" ]; '
    'then "$p" -m governed_mlops.notebook_merge %O %A %B %L %P; '
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


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The driver git runs (``BASE LOCAL REMOTE MARKER PATH``): nbdime's
    merge into ``LOCAL``; its exit code (1: conflicts left in cells)."""
    from nbdime.vcs.git.mergedriver import main as nbdime_driver

    args = list(sys.argv[1:] if argv is None else argv)
    code = int(nbdime_driver(["merge", *args]) or 0)
    lf_line_ends(Path(args[1]))
    return code


def lf_line_ends(path: Path) -> None:
    """``path`` with LF line ends: nbdime writes in text mode, CRLF on
    Windows, and git stores a driver's result as it is (``eol=lf`` does not
    apply), so the whole notebook would change in the merge commit."""
    data = path.read_bytes()
    if b"\r\n" in data:
        path.write_bytes(data.replace(b"\r\n", b"\n"))


if __name__ == "__main__":
    sys.exit(main())
