"""Version gate, file and git helpers shared by the migration scripts.

Copier runs a migration only when ``VERSION_PEP440_FROM < version <=
VERSION_PEP440_TO``; the scripts check again so they are safe to run by hand
(no version in the environment: the idempotent script decides alone).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from packaging.version import Version

# The template checkout's tools (this script's own version), for the one
# three-way text merge the update guard uses too.
sys.path.insert(
    0, str(Path(__file__).resolve().parents[2] / "governed-mlops-tools" / "src")
)
from governed_mlops.update.gitio import merge_text as merge3  # noqa: E402,F401


def applies(version: str, environ: dict[str, str] | None = None) -> bool:
    """True when an update from VERSION_PEP440_FROM to _TO crosses ``version``."""
    env = os.environ if environ is None else environ
    old, new = env.get("VERSION_PEP440_FROM"), env.get("VERSION_PEP440_TO")
    if not old or not new:
        return True
    return Version(old) < Version(version) <= Version(new)


def read(path: Path) -> str:
    """The file's text with its line endings kept as they are."""
    with path.open(encoding="utf-8", newline="") as handle:
        return handle.read()


def write(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def has_conflict_markers(text: str) -> bool:
    return any(line.startswith(("<<<<<<< ", ">>>>>>> ")) for line in text.splitlines())


def unmerged(project: Path, path: Path) -> dict[int, str]:
    """The base (1), ours (2) and theirs (3) texts of a file copier left in
    conflict (copier records them in the index), or {} if it is not."""
    listed = subprocess.run(
        ["git", "ls-files", "-u", "-z", "--", str(path.relative_to(project))],
        cwd=project,
        capture_output=True,
        text=True,
    ).stdout
    stages = {}
    for entry in filter(None, listed.split("\0")):
        _, sha, stage = entry.split("\t", 1)[0].split()
        blob = subprocess.run(
            ["git", "cat-file", "blob", sha], cwd=project, capture_output=True
        )
        stages[int(stage)] = blob.stdout.decode("utf-8")
    return stages if set(stages) == {1, 2, 3} else {}
