"""git for the fleet: clones in a work folder, never a change to the source."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Mapping, Optional, Sequence

from ..errors import CommandError
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


class GitError(CommandError):
    """A git command failed; the message ends with git's last line."""


def git(
    args: Sequence[str],
    cwd: Path,
    *,
    env: Optional[Mapping[str, str]] = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("git")
    if exe is None:
        raise CommandError("git is not installed (the fleet needs it)")
    done = subprocess.run(
        [exe, *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    if check and done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise GitError(
            f"git {' '.join(args[:2])} failed ({last[-1] if last else done.returncode})"
        )
    return done


def clone(location: str, dest: Path, *, shallow: bool) -> Path:
    """A fresh clone of ``location``'s HEAD at ``dest`` (replaced if there).
    A local work tree is cloned with its committed state, never its work."""
    if dest.exists():
        shutil.rmtree(dest)
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
    done = git(["var", "GIT_COMMITTER_IDENT"], repo, check=False)
    return {} if done.returncode == 0 else dict(FLEET_IDENTITY)
