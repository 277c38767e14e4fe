"""git for the fleet: clones in a work folder, never a change to the source."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Optional, Sequence

from .. import gitcmd
from ..files import remove_tree
from .sources import is_url

# No prompt for credentials (a fleet runs unattended: a repository that asks
# fails), no user or system hooks of the machine's git configuration.
GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}
# Commits need an identity; used only where git has none configured.
FLEET_IDENTITY = {
    "GIT_AUTHOR_NAME": "governed-mlops fleet",
    "GIT_AUTHOR_EMAIL": "fleet@governed-mlops.invalid",
    "GIT_COMMITTER_NAME": "governed-mlops fleet",
    "GIT_COMMITTER_EMAIL": "fleet@governed-mlops.invalid",
}


def git(
    args: Sequence[str], cwd: Path, *, env: Optional[Mapping[str, str]] = None
) -> str:
    """The stdout of ``git ARGS`` in ``cwd`` as text, never prompting;
    :class:`~governed_mlops.gitcmd.GitError` when it fails."""
    out = gitcmd.git(cwd, *args, env={**GIT_ENV, **(env or {})})
    return os.fsdecode(out)


def clone(location: str, dest: Path, *, shallow: bool) -> Path:
    """A fresh clone of ``location``'s HEAD at ``dest`` (replaced if there).
    A local work tree is cloned with its committed state, never its work."""
    if dest.exists():
        remove_tree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    args = ["clone", "--quiet"]
    if shallow:
        args += ["--depth", "1"]
        if not is_url(location):  # git ignores --depth for a plain path
            location = Path(location).as_uri()
    git([*args, location, str(dest)], dest.parent)
    return dest


def identity_env(repo: Path) -> dict[str, str]:
    """The fleet's commit identity where git has none configured."""
    done = gitcmd.run_git(repo, "var", "GIT_COMMITTER_IDENT", env=GIT_ENV)
    return {} if done.returncode == 0 else dict(FLEET_IDENTITY)
