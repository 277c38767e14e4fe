"""The audit trail of a stage run: its tags and its local bundle of files."""

from __future__ import annotations

import getpass
import json
import platform
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from .. import __version__
from .gitinfo import GitState
from ..hashes import file_sha, text_sha
from ..stages.specs import Stage

FREEZE_NAME = "pip-freeze.txt"
LOG_NAME = "run.log"
DIFF_NAME = "git.diff"
LOCK_NAME = "lock.txt"  # the stage lock the env was built from
SOURCE_DIR = "source"  # the input notebook, as it was run
MANIFEST_NAME = "manifest.json"
# The manifest's own hash, on the run: the record and the artifacts live in
# two systems, so neither can be changed alone unnoticed.
MANIFEST_TAG = "audit.manifest"
# The stage env's CycloneDX SBOM and pip freeze. Their hashes are tagged on
# every run; the first finished run of an env keeps both files (tag
# audit.sbom.kept), later runs of the same env name that run (audit.sbom.run)
# instead of a copy each.
SBOM_NAME = "sbom.cdx.json"
SBOM_TAG = "audit.sbom"
SBOM_KEPT_TAG = "audit.sbom.kept"
SBOM_RUN_TAG = "audit.sbom.run"
FREEZE_TAG = "audit.freeze"
# The SHA-256 of the stage lock the env was built from (absent without one):
# the pipeline report shows it beside the stage's Python and kernel.
LOCK_TAG = "lock.sha256"


def freeze_run(run_id: str, tags: Mapping[str, str]) -> str:
    """The run whose bundle holds run ``run_id``'s pip freeze: the run it
    names as keeping its env's files, else itself (a run without tag
    ``audit.freeze`` kept its own)."""
    if tags.get(FREEZE_TAG) and tags.get(SBOM_RUN_TAG):
        return tags[SBOM_RUN_TAG]
    return run_id


def fingerprint(freeze: str, commit: str) -> str:
    """Hash of the stage env's freeze plus the commit: same code, same packages."""
    text = freeze.strip() + "\n" + commit
    return "sha256:" + text_sha(text)


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
        "notebook.sha256": file_sha(stage.notebook),
        "env.fingerprint": fingerprint(freeze, git.commit),
        FREEZE_TAG: text_sha(freeze),
        "host": platform.node(),
        "run.start": now(),
        "mlops.version": __version__,
    }
    if git.repo_url:
        tags["mlflow.source.git.repoURL"] = git.repo_url
    from ..stages.env import lock_path

    lock = lock_path(stage)
    if lock.is_file():
        tags[LOCK_TAG] = file_sha(lock)
    return tags


def start_bundle(
    folder: Path, stage: Stage, git: GitState, freeze: str | None
) -> dict[str, dict[str, str]]:
    """Write what is known before the notebook runs: the diff, the freeze
    (None: another run of the env keeps it), and the source notebook, stage
    spec and stage lock unless the run's commit holds them as they are (then
    only their paths and hashes go to the manifest: see
    :func:`write_manifest`). Returns those committed files."""
    from ..stages.env import lock_path
    from .gitinfo import committed_as_is

    folder.mkdir(parents=True, exist_ok=True)
    committed: dict[str, dict[str, str]] = {}
    root = stage.project.root
    for kind, path, copy in (
        ("notebook", stage.notebook, Path(SOURCE_DIR) / stage.notebook.name),
        ("spec", stage.source, Path(stage.source.name)),
        ("lock", lock_path(stage), Path(LOCK_NAME)),
    ):
        if not path.is_file():
            continue
        relative = committed_as_is(root, git.commit, path)
        if relative:
            committed[kind] = {"path": relative, "sha256": file_sha(path)}
        else:
            (folder / copy).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, folder / copy)
    if freeze is not None:
        (folder / FREEZE_NAME).write_bytes(freeze.encode("utf-8"))
    if git.dirty and git.diff:
        (folder / DIFF_NAME).write_bytes(git.diff)
    return committed


def canonical(parameters: dict[str, Any]) -> str:
    """The injected parameters as one text, for their hash."""
    return json.dumps(parameters, sort_keys=True, ensure_ascii=False)


def write_manifest(
    folder: Path,
    stage: Stage,
    parameters: dict[str, Any],
    inputs: dict[str, str],
    outputs: dict[str, str],
    lineage: dict[str, str],
    committed: dict[str, dict[str, str]],
    held: dict[str, dict[str, str]] | None = None,
) -> str:
    """``manifest.json``: the hash of every bundle file, of the injected
    parameters, and of the declared inputs and outputs; returns its own hash
    (tag :data:`MANIFEST_TAG`). ``held``: the env's files another run keeps
    (``{"sbom": {"sha256", "run_id"}, "freeze": {...}}``)."""
    files = {
        path.relative_to(folder).as_posix(): file_sha(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MANIFEST_NAME
    }
    manifest = {
        "stage": stage.name,
        "source_notebook": stage.spec.notebook,
        "files": files,
        "parameters": parameters,
        "parameters_sha256": text_sha(canonical(parameters)),
        # The source notebook, spec and lock, when the run's commit holds them.
        "committed": committed,
        "inputs": inputs,
        "lineage": lineage,  # the run that wrote each input
        "outputs": outputs,
        # The env's SBOM and freeze when another run keeps them: their hashes
        # and that run.
        **{kind: (held or {}).get(kind, {}) for kind in ("sbom", "freeze")},
    }
    # Compact: read by `mlops audit verify`, and kept once per run.
    text = json.dumps(
        manifest, sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    text += "\n"
    (folder / MANIFEST_NAME).write_bytes(text.encode("utf-8"))
    return text_sha(text)
