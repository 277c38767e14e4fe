"""Running git: the one place the tools start it.

Output is bytes: file names and contents as the file system and the files
hold them (UTF-8 names on Windows, whatever the console's code page), decoded
by the caller where it wants text (``os.fsdecode`` for names).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Mapping, Optional

from .errors import CommandError


class GitError(CommandError):
    """git is missing or a git command failed; the message ends with git's
    last line."""


class GitMissing(GitError):
    """git is not installed or not on PATH."""


def run_git(
    root: Path,
    *args: str,
    stdin: Optional[bytes] = None,
    env: Optional[Mapping[str, str]] = None,
    timeout: Optional[float] = None,
) -> subprocess.CompletedProcess[bytes]:
    """``git ARGS`` run in ``root``, whatever its exit code; :class:`GitError`
    when git is missing or runs over ``timeout`` seconds. ``env`` is added to
    this process's environment."""
    exe = shutil.which("git")
    if exe is None:
        raise GitMissing("git is not installed or not on PATH")
    try:
        return subprocess.run(
            [exe, *args],
            cwd=root,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            env={**os.environ, **env} if env else None,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise GitError(f"git {_shown(args)} did not finish in {timeout:g} s") from None
    except OSError as error:
        raise GitError(f"git {_shown(args)} could not start ({error})") from None


def git(
    root: Path,
    *args: str,
    stdin: Optional[bytes] = None,
    env: Optional[Mapping[str, str]] = None,
    timeout: Optional[float] = None,
) -> bytes:
    """The stdout of ``git ARGS`` run in ``root``; :class:`GitError` when git
    is missing, fails or runs over ``timeout`` seconds."""
    done = run_git(root, *args, stdin=stdin, env=env, timeout=timeout)
    if done.returncode != 0:
        output = (done.stderr.strip() or done.stdout.strip()).splitlines()
        last = output[-1].decode("utf-8", "replace") if output else ""
        raise GitError(
            f"git {_shown(args)} failed ({last or f'exit {done.returncode}'})"
        )
    return done.stdout


def _shown(args: tuple[str, ...]) -> str:
    # The subcommand and its first argument say which step failed; the rest
    # may be a long list of paths, or a URL with a token in it.
    rest = list(args)
    while len(rest) > 2 and rest[0] in ("-c", "-C"):
        rest = rest[2:]
    return " ".join(rest[:2])


def git_or_none(root: Path, *args: str, timeout: float = 60) -> Optional[bytes]:
    """The stdout of ``git ARGS`` in ``root``, None when git cannot say
    (missing, not a repository, any failure): for facts worth recording or
    showing, never needed."""
    try:
        return git(root, *args, timeout=timeout)
    except GitError:
        return None
