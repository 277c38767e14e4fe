"""The model files a stage's spec declares (``models``), logged as MLflow models.

:class:`Logger` runs ``log_models_script.py`` with the stage env's
interpreter (it has the model's libraries; the runner does not), started
with the notebook so that its imports overlap the notebook's run; once the
notebook succeeded, it logs each file on the stage's run through mlflow's own
``log_model`` and registers it when the spec names it. The run gets tags
``models.logged`` (``path=models:/<id>``) and, for registered ones,
``models.registered`` (``name/version``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from ..errors import CommandError

if TYPE_CHECKING:
    from ..stages.specs import Stage
    from .output import RunLog

SCRIPT = Path(__file__).with_name("log_models_script.py")
TIMEOUT = 900  # seconds: registration waits for the version to be ready


class ModelLoggingFailed(CommandError):
    """A declared model could not be logged: the stage's record is incomplete."""


def requests(stage: Stage, register: bool = True) -> list[dict[str, Any]]:
    """What the script logs, one entry per declared model (registered under
    its spec's name unless not ``register``); a declared file the notebook did
    not write is refused, naming it."""
    root = stage.project.root
    entries = []
    for model in stage.spec.models:
        path = root / model.path
        if not path.is_file():
            raise ModelLoggingFailed(
                f"stage {stage.name}: {model.path}, declared under models: in "
                f"{stage.relative_source}, was not written by {stage.spec.notebook}"
            )
        entries.append(
            {
                "path": model.path,
                "absolute": str(path),
                "name": artifact_name(model.path),
                "flavor": model.flavor,
                "registered_name": model.registered_name if register else None,
            }
        )
    return entries


def artifact_name(path: str) -> str:
    """The logged model's name: the file's stem (``models/model.joblib``:
    ``model``), as MLflow takes it."""
    stem = Path(path).stem
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in stem) or "model"


class Logger:
    """``log_models_script.py``, started as the notebook starts: it imports
    mlflow and the flavour's libraries (seconds in a stage env) while the
    notebook runs, then waits for what to log. A stage without ``models``
    starts nothing. Use as a context manager: leaving it stops a script that
    was never given work (the notebook failed)."""

    def __init__(self, stage: Stage, env: dict[str, str], hidden: Iterable[str] = ()):
        self.stage = stage
        self.process: subprocess.Popen[str] | None = None
        if stage.spec.models:
            dropped = set(hidden)
            inherited = {k: v for k, v in os.environ.items() if k not in dropped}
            self.process = subprocess.Popen(
                [str(stage.python), str(SCRIPT)]
                + sorted({model.flavor for model in stage.spec.models}),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
                env={**inherited, **env},
                cwd=stage.project.root,
            )

    def __enter__(self) -> Logger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log(
        self, log: RunLog, register: bool = True
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Log the declared models on the stage's run (``MLFLOW_RUN_ID`` of
        the env given), registered unless not ``register`` (a smoke run); the
        script's output goes to ``log`` (``run.log``). Returns the run's tags
        saying what was logged, and each model's URI by its file (path ->
        models:/<id>)."""
        entries = requests(self.stage, register)
        if not entries or self.process is None:
            return {}, {}
        try:
            stdout, stderr = self.process.communicate(
                json.dumps(entries), timeout=TIMEOUT
            )
        except subprocess.TimeoutExpired as error:
            raise ModelLoggingFailed(
                f"stage {self.stage.name}: logging its models took over {TIMEOUT} s"
            ) from error
        for line in stderr.splitlines():
            log.line("INFO", "models", line)
        if self.process.returncode != 0:
            lines = [line for line in stderr.splitlines() if line.strip()]
            last = lines[-1] if lines else f"exit code {self.process.returncode}"
            raise ModelLoggingFailed(
                f"stage {self.stage.name}: its models could not be logged to "
                f"MLflow: {last}"
            )
        logged = json.loads(stdout.strip().splitlines()[-1])
        return tags_of(logged), {m["path"]: m["model_uri"] for m in logged}

    def close(self) -> None:
        """Stop the script if it still waits (no work: the notebook failed) or
        still runs (timed out, interrupted). Until it is given work it only
        imports and reads the store, so it is stopped at once, not waited for."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.kill()
        process.communicate()


def tags_of(logged: list[dict[str, str]]) -> dict[str, str]:
    """The run's tags for what the script logged."""
    tags = {"models.logged": "; ".join(f"{m['path']}={m['model_uri']}" for m in logged)}
    registered = [
        f"{m['registered_name']}/{m['version']}" for m in logged if m["version"]
    ]
    if registered:
        tags["models.registered"] = "; ".join(registered)
    return tags
