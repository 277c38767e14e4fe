"""The git state of the project, recorded with every stage run."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GitState:
    commit: str  # empty outside a git repository or before the first commit
    branch: str
    dirty: bool
    repo_url: str
    diff: str  # uncommitted changes and untracked files, empty when clean


def _git(root: Path, *args: str) -> str:
    try:
        # git is found on PATH by design, as every developer and agent has it.
        result = subprocess.run(  # nosec B607
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return result.stdout if result.returncode == 0 else ""


def git_state(root: Path) -> GitState:
    """Commit, branch, dirty flag, remote URL and diff of the work tree at ``root``."""
    commit = _git(root, "rev-parse", "HEAD").strip()
    status = _git(root, "status", "--porcelain")
    diff = ""
    if commit and status:
        untracked = [line[3:] for line in status.splitlines() if line.startswith("??")]
        diff = _git(root, "diff", "HEAD", "--binary")
        diff += "".join(f"# untracked: {name}\n" for name in untracked)
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
    now = _git(root, "hash-object", "--", relative)
    return relative if held.strip() and held.strip() == now.strip() else ""


def committed_file(root: Path, commit: str, relative: str) -> bytes | None:
    """The bytes of ``relative`` at ``commit``, None when git cannot say."""
    try:
        # git is found on PATH by design, as every developer and agent has it.
        result = subprocess.run(  # nosec B607
            ["git", "show", f"{commit}:{relative}"],
            cwd=root,
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None
