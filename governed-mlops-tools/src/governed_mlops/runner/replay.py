"""``mlops audit replay``: run a recorded stage run again, apart, and compare.

In a temporary folder: the project's files at the run's commit (``git
archive``; the run's source notebook and lock from its bundle when the
commit did not hold them as they ran), a venv built from that lock with the
stage's interpreter and a kernel registered there, the declared inputs as the
run read them (from the stage cache by their recorded hash, else the
project's file when it still has that hash), and a throw-away MLflow store.
The notebook runs with the recorded parameters; each declared output is then
compared by hash with what the run recorded. The project, its envs and its
tracking store are left alone.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ..hashes import file_sha
from ..progress import Progress
from ..errors import CommandError
from ..gitcmd import GitError, git
from ..project import Project
from ..settings import env_prefix
from ..stages import kernels
from ..stages.env import index_options
from ..stages.installers import Access, pick
from ..stages.specs import Stage, survey
from ..stages.venvs import venv_python
from . import audit, cache, output, tracking
from .store import Store, missing_run

KERNEL = "mlops-replay"


@dataclass
class Replayed:
    """What a replay found."""

    run_id: str
    stage: str
    same: list[str] = field(default_factory=list)
    differs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    folder: str = ""  # kept when asked


@contextmanager
def _kernel_environment(prefix: str, values: dict[str, str]) -> Iterator[None]:
    """The project's own settings variables removed (an absolute DATA_DIR must
    not send the replay's outputs into the project; the secrets are not the
    kernel's), an index's password too, ``values`` set."""
    from ..settings import is_index_password

    saved = dict(os.environ)
    for name in [n for n in os.environ if n.startswith(prefix) or is_index_password(n)]:
        del os.environ[name]
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _export(project: Project, commit: str, into: Path) -> None:
    """The project's tracked files at ``commit``."""
    try:
        archive = git(project.root, "archive", "--format=tar", commit, timeout=300)
    except GitError as error:
        raise CommandError(
            f"the run's commit {commit[:12]} cannot be read from this repository "
            f"({error}): fetch it, then replay"
        ) from None
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if member.name.startswith("/") or ".." in parts:
                continue  # git never writes these; a crafted archive might
            if member.isdir():
                (into / member.name).mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                target = into / member.name
                target.parent.mkdir(parents=True, exist_ok=True)
                extracted = tar.extractfile(member)
                if extracted is not None:
                    target.write_bytes(extracted.read())


def replay(
    store: Store,
    project: Project,
    run_id: str,
    say: Callable[[str], None],
    keep: bool = False,
    access: Callable[[], Access] = Access,
) -> Replayed:
    run = store.get_run(run_id)
    if run is None:
        raise missing_run(run_id, store.uri)
    name = _replayable(run, run_id)
    commit = run.tags.get("mlflow.source.git.commit", "")
    (stage,) = survey(project).require([name])
    manifest: dict[str, Any] = json.loads(
        store.read_bytes(run_id, f"audit/{audit.MANIFEST_NAME}")
    )
    result = Replayed(run_id, name)
    folder = Path(tempfile.mkdtemp(prefix=f"mlops-replay-{name}-"))
    try:
        if len(commit) != 40:
            raise CommandError(f"run {run_id} records no git commit to replay from")
        if run.tags.get("git.dirty") == "true":
            result.notes.append(
                "the run's tree had uncommitted changes (audit/git.diff): the "
                "replay uses its commit and its recorded notebook and lock"
            )
        tree, notebook, lock = _tree(store, project, run_id, commit, manifest, folder)
        _inputs(project, manifest, tree, result)
        python = _build(stage, lock, folder, tree, say, access)
        outputs = manifest.get("outputs", {})
        say(f"running {manifest['source_notebook']} with the recorded parameters")
        try:
            _execute(project, notebook, folder, tree, python, manifest["parameters"])
        except Exception as error:  # the notebook failed where the run did not
            kind = getattr(error, "ename", "") or type(error).__name__
            text = getattr(error, "evalue", "") or str(error)
            result.differs.append(f"the notebook failed: {kind}: {text}")
            return result
        for path, sha in sorted(outputs.items()):
            made = tree / path
            if not made.is_file():
                result.differs.append(f"{path}: not written by the replay")
            elif file_sha(made) == sha:
                result.same.append(path)
            else:
                result.differs.append(f"{path}: differs from the run's")
        if not outputs:
            result.notes.append("the stage declares no outputs: nothing to compare")
    finally:
        if keep:
            result.folder = str(folder)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return result


def _replayable(run: Any, run_id: str) -> str:
    """The stage of a run a replay can compare with; refused otherwise."""
    name = str(run.tags.get("stage", ""))
    if not name or audit.MANIFEST_TAG not in run.tags:
        raise CommandError(
            f"run {run_id} is not a stage run recorded by governed-mlops-tools "
            f"1.3.0 or later (no stage or {audit.MANIFEST_TAG} tag)"
        )
    if run.status != "FINISHED":
        raise CommandError(
            f"run {run_id} ({name}) ended {run.status}: its outputs were not "
            f"recorded, so a replay has nothing to compare with; replay a FINISHED "
            f"run of {name}"
        )
    return name


def _tree(
    store: Store,
    project: Project,
    run_id: str,
    commit: str,
    manifest: dict[str, Any],
    folder: Path,
) -> tuple[Path, Path, Path]:
    """The project at the run's commit with the notebook and lock as the run
    had them: the exported tree, the notebook in it, the lock beside it."""
    tree = folder / "project"
    tree.mkdir()
    _export(project, commit, tree)
    notebook = tree / manifest["source_notebook"]
    committed = manifest.get("committed", {})
    if "notebook" not in committed:  # not in the commit as it ran: kept
        notebook.parent.mkdir(parents=True, exist_ok=True)
        name = Path(manifest["source_notebook"]).name
        notebook.write_bytes(
            store.read_bytes(run_id, f"audit/{audit.SOURCE_DIR}/{name}")
        )
    lock = folder / "lock.txt"
    if "lock" in committed:
        shutil.copyfile(tree / committed["lock"]["path"], lock)
    else:
        lock.write_bytes(store.read_bytes(run_id, f"audit/{audit.LOCK_NAME}"))
    return tree, notebook, lock


def _inputs(
    project: Project, manifest: dict[str, Any], tree: Path, result: Replayed
) -> None:
    """Each declared input as the run read it."""
    objects = project.state_dir / cache.CACHE_DIR / "objects"
    for path, sha in sorted(manifest.get("inputs", {}).items()):
        kept = objects / sha[:2] / sha
        here = project.root / path
        target = tree / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if kept.is_file():
            shutil.copyfile(kept, target)
        elif here.is_file() and file_sha(here) == sha:
            shutil.copyfile(here, target)
        else:
            raise CommandError(
                f"input {path} as run {result.run_id} read it is neither in the "
                f"stage cache nor in the project: nothing to replay it with"
            )


def _build(
    stage: Stage,
    lock: Path,
    folder: Path,
    tree: Path,
    say: Callable[[str], None],
    access: Callable[[], Access],
) -> Path:
    """A venv from the run's lock, with the exported project installed, and
    its kernel registered under ``folder``."""
    installer = pick("auto", access)
    env = folder / "env"
    assert stage.interpreter is not None  # nosec B101 # survey() resolved it
    say(f"building a venv from the run's lock with {installer.name}")
    installer.create_venv(stage.interpreter.path, env, f"replay-{stage.name}")
    python = Path(venv_python(env))
    index = index_options(stage, token=installer.access.token)
    installer.install(python, lock, tree, index)
    spec = kernels.kernel_spec(python, f"replay of {stage.name}", stage.name)
    kernel_dir = folder / "jupyter" / "kernels" / KERNEL
    kernel_dir.mkdir(parents=True)
    (kernel_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return python


def _execute(
    project: Project,
    notebook: Path,
    folder: Path,
    tree: Path,
    python: Path,
    parameters: dict[str, Any],
) -> None:
    import papermill

    prefix = env_prefix(project)
    values = {
        "JUPYTER_PATH": str(folder / "jupyter"),
        "PATH": os.pathsep.join([str(python.parent), os.environ.get("PATH", "")]),
        "VIRTUAL_ENV": str(python.parent.parent),
        prefix + "PROJECT_ROOT": str(tree),
        prefix + "MLFLOW_TRACKING_URI": tracking.sqlite_uri(folder / "mlflow.db"),
        "MLFLOW_TRACKING_URI": tracking.sqlite_uri(folder / "mlflow.db"),
    }
    # papermill's lines, the notebook's output and the kernel's own warnings
    # go to replay.log (kept with --keep), as a run's go to its run.log.
    log = output.RunLog(folder / "replay.log", Progress("replay"))
    with _kernel_environment(prefix, values), log:
        os.environ.pop("MLFLOW_RUN_ID", None)
        papermill.execute_notebook(
            str(notebook),
            str(folder / "executed.ipynb"),
            parameters=parameters,
            kernel_name=KERNEL,
            language="python",
            cwd=str(notebook.parent),
            log_output=True,
            progress_bar=False,
            start_timeout=120,
            kernel_manager_class=output.kernel_manager_class(log),
        )
