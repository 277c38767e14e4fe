"""The audit trail of a stage run: its tags and its local bundle of files."""

from __future__ import annotations

import getpass
import hashlib
import platform
import shutil
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__
from .gitinfo import GitState
from .notebook import sha256
from ..stages.specs import Stage

FREEZE_NAME = "pip-freeze.txt"
LOG_NAME = "run.log"
DIFF_NAME = "git.diff"


def fingerprint(freeze: str, commit: str) -> str:
    """Hash of the stage env's freeze plus the commit: same code, same packages."""
    text = freeze.strip() + "\n" + commit
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name on some CI containers
        return "unknown"


def run_tags(
    stage: Stage, git: GitState, freeze: str, python_version: str
) -> dict[str, str]:
    """Every audit field of a stage run, as MLflow tags."""
    tags = {
        "mlflow.runName": stage.name,
        "mlflow.user": user(),
        "mlflow.source.name": stage.spec.notebook,
        "mlflow.source.type": "NOTEBOOK",
        "mlflow.source.git.commit": git.commit or "none (not a git repository)",
        "mlflow.source.git.branch": git.branch,
        "git.dirty": str(git.dirty).lower(),
        "stage": stage.name,
        "stage.spec": stage.relative_source,
        "kernel.name": stage.kernel_name,
        "kernel.python": str(stage.python),
        "python.version": python_version,
        "notebook.path": stage.spec.notebook,
        "notebook.sha256": sha256(stage.notebook),
        "env.fingerprint": fingerprint(freeze, git.commit),
        "host": platform.node(),
        "run.start": now(),
        "mlops.version": __version__,
    }
    if git.repo_url:
        tags["mlflow.source.git.repoURL"] = git.repo_url
    return tags


def start_bundle(folder: Path, stage: Stage, git: GitState, freeze: str) -> None:
    """Write what is known before the notebook runs: spec, freeze, diff."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(stage.source, folder / stage.source.name)
    (folder / FREEZE_NAME).write_text(freeze, encoding="utf-8")
    if git.dirty and git.diff:
        (folder / DIFF_NAME).write_text(git.diff, encoding="utf-8")
