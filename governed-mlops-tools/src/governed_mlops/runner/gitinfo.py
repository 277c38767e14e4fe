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
