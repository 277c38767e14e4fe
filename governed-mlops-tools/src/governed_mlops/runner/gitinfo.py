"""The git state of the project, recorded with every stage run."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..gitcmd import git_or_none


@dataclass(frozen=True)
class GitState:
    commit: str  # empty outside a git repository or before the first commit
    branch: str
    dirty: bool
    repo_url: str
    # Uncommitted changes and untracked files, as git prints them (bytes: a
    # file's own encoding and line endings kept), empty when clean.
    diff: bytes


def _git_bytes(root: Path, *args: str) -> bytes:
    return git_or_none(root, *args) or b""


def _git(root: Path, *args: str) -> str:
    # Paths as the file system's (UTF-8 on Windows, whatever the cp1252
    # locale that text=True would decode them with).
    return os.fsdecode(_git_bytes(root, *args))


def git_state(root: Path) -> GitState:
    """Commit, branch, dirty flag, remote URL and diff of the work tree at ``root``."""
    commit = _git(root, "rev-parse", "HEAD").strip()
    status = _git(root, "status", "--porcelain")
    diff = b""
    if commit and status:
        untracked = [line[3:] for line in status.splitlines() if line.startswith("??")]
        diff = _git_bytes(root, "diff", "HEAD", "--binary")
        diff += os.fsencode("".join(f"# untracked: {n}\n" for n in untracked))
    return GitState(
        commit=commit,
        branch=_git(root, "rev-parse", "--abbrev-ref", "HEAD").strip(),
        dirty=bool(status.strip()),
        repo_url=_git(root, "config", "--get", "remote.origin.url").strip(),
        diff=diff,
    )


def committed_as_is(root: Path, commit: str, path: Path) -> str:
    """``path`` relative to ``root`` (POSIX) when ``commit`` holds the file
    byte for byte as it is now, else an empty string."""
    if not commit:
        return ""
    try:
        relative = path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return ""
    held = _git(root, "rev-parse", "--verify", "--quiet", f"{commit}:{relative}")
    # The bytes on disk, not git's view of them: with core.autocrlf (Git for
    # Windows' default) a CRLF checkout hashes as its LF blob, though the
    # file verify reads back from the commit is not the file that ran.
    now = _git(root, "hash-object", "--no-filters", "--", relative)
    return relative if held.strip() and held.strip() == now.strip() else ""


def committed_file(root: Path, commit: str, relative: str) -> bytes | None:
    """The bytes of ``relative`` at ``commit``, None when git cannot say."""
    return git_or_none(root, "show", f"{commit}:{relative}")
