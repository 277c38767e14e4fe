"""``mlops audit verify``: is a run's record intact?

A stage run ends by writing ``audit/manifest.json`` (the hash of every bundle
file, of the injected parameters and of the declared inputs and outputs) and
tagging the run with the manifest's own hash. Verifying recomputes all of it
from the run's artifacts (and, for the source notebook, the stage spec and
the stage lock when the run's commit holds them as they were, from git; for
the env's SBOM and freeze when an earlier run keeps them, from that run) and
checks it against the run's tags: the manifest
against ``audit.manifest``, the source notebook against ``notebook.sha256``,
the freeze and commit against ``env.fingerprint``, the executed notebook's
injected parameters against the manifest. Files of the project that differ
from the inputs and outputs the run recorded are reported apart: they changed
since, which does not make the record less intact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..hashes import data_sha, file_sha
from ..errors import CommandError
from . import audit, orphans
from .gitinfo import committed_file
from .store import Store, missing_run


@dataclass
class Verdict:
    """What verifying one run found."""

    run_id: str
    checked: list[str] = field(default_factory=list)  # what matched
    differs: list[str] = field(default_factory=list)  # what does not
    since: list[str] = field(default_factory=list)  # project files changed since

    @property
    def intact(self) -> bool:
        return not self.differs


def _not_sealed(run_id: str, status: str, tags: dict[str, str]) -> None:
    """Why a stage run has no sealed record yet, or never will (a
    :class:`CommandError`), when it is one."""
    stage = tags.get("stage")
    if stage and status == "RUNNING":
        raise CommandError(
            f"run {run_id} of stage {stage} is RUNNING: its record is sealed when "
            f"it ends. If its `mlops` process was killed, `mlops audit sync` on "
            f"the machine that ran it ends it KILLED"
        )
    if stage and tags.get(orphans.ENDED_BY_TAG) == orphans.ENDED_BY_SYNC:
        raise CommandError(
            f"run {run_id} of stage {stage} was never sealed: its `mlops` process "
            f"was killed, and `mlops audit sync` ended it KILLED. Its audit/ holds "
            f"what it had written, with nothing to verify it against"
        )


def verify(store: Store, run_id: str, root: Path) -> Verdict:
    """Check run ``run_id``'s artifacts against its record (see the module)."""
    run = store.get_run(run_id)
    if run is None:
        raise missing_run(run_id, store.uri)
    recorded = run.tags.get(audit.MANIFEST_TAG)
    if not recorded:
        _not_sealed(run_id, run.status, run.tags)
        raise CommandError(
            f"run {run_id} has no {audit.MANIFEST_TAG} tag: it is not a stage run, "
            f"or was recorded by governed-mlops-tools before 1.3.0"
        )
    verdict = Verdict(run_id)
    manifest = _manifest(store, run_id, recorded, verdict)
    if manifest is None:
        return verdict
    contents: dict[str, bytes] = {}
    for path, sha in sorted(manifest.get("files", {}).items()):
        try:
            contents[path] = store.read_bytes(run_id, f"audit/{path}")
        except Exception:  # a file removed from the artifacts
            verdict.differs.append(f"audit/{path}: missing from the run's artifacts")
            continue
        _compare(
            verdict, f"audit/{path}", data_sha(contents[path]), sha, "the manifest"
        )
    commit = run.tags.get("mlflow.source.git.commit", "")
    _committed(verdict, root, commit, manifest, contents)
    _env_files(verdict, store, run.tags, manifest, contents)
    _cross_checks(verdict, run.tags, manifest, contents)
    for kind in ("inputs", "outputs"):
        for path, sha in sorted(manifest.get(kind, {}).items()):
            here = root / path
            if not here.is_file():
                verdict.since.append(f"{kind[:-1]} {path}: not in the project now")
            elif file_sha(here) != sha:
                verdict.since.append(f"{kind[:-1]} {path}: changed since the run")
    return verdict


def _manifest(
    store: Store, run_id: str, recorded: str, verdict: Verdict
) -> dict[str, Any] | None:
    """The run's manifest, checked against its tag; None when unreadable."""
    name = f"audit/{audit.MANIFEST_NAME}"
    try:
        text = store.read_bytes(run_id, name)
    except Exception as error:  # gone from the artifact store
        verdict.differs.append(f"{name}: cannot be read ({type(error).__name__})")
        return None
    _compare(verdict, name, data_sha(text), recorded, f"tag {audit.MANIFEST_TAG}")
    try:
        manifest = json.loads(text)
    except ValueError:
        verdict.differs.append(f"{name}: not valid JSON")
        return None
    return manifest if isinstance(manifest, dict) else None


def _committed(
    verdict: Verdict,
    root: Path,
    commit: str,
    manifest: dict[str, Any],
    contents: dict[str, bytes],
) -> None:
    """The source notebook, spec and lock the run's commit holds, read from git."""
    for kind, held in sorted(manifest.get("committed", {}).items()):
        path = str(held.get("path", "")) if isinstance(held, dict) else ""
        what = f"{path} at {commit[:12]} ({kind})"
        data = committed_file(root, commit, path) if path else None
        if data is None:
            verdict.differs.append(f"{what}: cannot be read from this repository")
            continue
        _compare(verdict, what, data_sha(data), str(held.get("sha256")), "the manifest")
        if kind == "notebook":
            contents[f"{audit.SOURCE_DIR}/{Path(path).name}"] = data


# The env's files a run keeps or names the keeper of: manifest key, file,
# tag with its hash, what it is.
ENV_FILES = (
    ("sbom", audit.SBOM_NAME, audit.SBOM_TAG, "SBOM"),
    ("freeze", audit.FREEZE_NAME, audit.FREEZE_TAG, "pip freeze"),
)


def _env_files(
    verdict: Verdict,
    store: Store,
    tags: dict[str, str],
    manifest: dict[str, Any],
    contents: dict[str, bytes],
) -> None:
    """The stage env's SBOM and freeze, in the bundle or kept by the run the
    manifest names, against tags ``audit.sbom`` and ``audit.freeze``. A
    freeze read from that run joins ``contents`` (the fingerprint check)."""
    for kind, name, tag, label in ENV_FILES:
        expected = tags.get(tag)
        if not expected:
            continue  # recorded by tools that did not tag it
        held = manifest.get(kind) or {}
        holder = str(held.get("run_id", "")) if isinstance(held, dict) else ""
        if not holder:
            data = contents.get(name)
            if data is None:
                verdict.differs.append(f"audit/{name}: not in the bundle")
            else:
                what = f"audit/{name} ({label})"
                _compare(verdict, what, data_sha(data), expected, f"tag {tag}")
            continue
        what = f"audit/{name} of run {holder} ({label})"
        try:
            data = store.read_bytes(holder, f"audit/{name}")
        except Exception:  # the run keeping it was deleted, or lost the file
            verdict.differs.append(f"{what}: cannot be read")
            continue
        _compare(verdict, what, data_sha(data), str(held.get("sha256")), "the manifest")
        if held.get("sha256") != expected:
            verdict.differs.append(f"the manifest's {label} differs from tag {tag}")
        contents.setdefault(name, data)


def _compare(verdict: Verdict, what: str, actual: str, expected: str, by: str) -> None:
    if actual == expected:
        verdict.checked.append(what)
    else:
        verdict.differs.append(f"{what}: its hash differs from {by}")


def _cross_checks(
    verdict: Verdict,
    tags: dict[str, str],
    manifest: dict[str, Any],
    contents: dict[str, bytes],
) -> None:
    """The bundle's files against the run's tags."""
    source = f"{audit.SOURCE_DIR}/{Path(manifest.get('source_notebook', '')).name}"
    if source in contents:
        _compare(
            verdict,
            f"audit/{source} (source notebook)",
            data_sha(contents[source]),
            tags.get("notebook.sha256", ""),
            "tag notebook.sha256",
        )
    if audit.FREEZE_NAME in contents:
        commit = tags.get("mlflow.source.git.commit", "")
        freeze = contents[audit.FREEZE_NAME].decode("utf-8")
        if tags.get("env.fingerprint") == audit.fingerprint(freeze, commit):
            verdict.checked.append("env.fingerprint (freeze and commit)")
        else:
            verdict.differs.append(
                "env.fingerprint: the freeze and commit do not give the tag's value"
            )
    expected = manifest.get("parameters_sha256", "")
    canonical = audit.canonical(manifest.get("parameters", {})).encode("utf-8")
    _compare(
        verdict, "parameters (manifest)", data_sha(canonical), expected, "its hash"
    )
    executed = [
        path
        for path in contents
        if path.endswith(".ipynb") and not path.startswith(audit.SOURCE_DIR + "/")
    ]
    for path in executed:
        try:
            notebook = json.loads(contents[path])
        except ValueError:
            continue  # its hash was checked; not readable as a notebook
        injected = notebook.get("metadata", {}).get("papermill", {}).get("parameters")
        if injected is None:
            continue
        if audit.canonical(injected) == audit.canonical(manifest.get("parameters", {})):
            verdict.checked.append(f"audit/{path}: injected parameters")
        else:
            verdict.differs.append(
                f"audit/{path}: its injected parameters differ from the manifest's"
            )
