"""The model files a stage's spec declares (``models``), logged as MLflow models.

After the notebook succeeded, :func:`log_models` runs ``log_models_script.py``
with the stage env's interpreter (it has the model's libraries; the runner
does not), which logs each file on the stage's run through mlflow's own
``log_model`` and registers it when the spec names it. The run gets tags
``models.logged`` (``path=models:/<id>``) and, for registered ones,
``models.registered`` (``name/version``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CommandError

if TYPE_CHECKING:
    from ..stages.specs import Stage
    from .output import RunLog

SCRIPT = Path(__file__).with_name("log_models_script.py")
TIMEOUT = 900  # seconds: registration waits for the version to be ready


class ModelLoggingFailed(CommandError):
    """A declared model could not be logged: the stage's record is incomplete."""


def requests(stage: Stage) -> list[dict[str, Any]]:
    """What the script logs, one entry per declared model; a declared file the
    notebook did not write is refused, naming it."""
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
                "registered_name": model.registered_name,
            }
        )
    return entries


def artifact_name(path: str) -> str:
    """The logged model's name: the file's stem (``models/model.joblib``:
    ``model``), as MLflow takes it."""
    stem = Path(path).stem
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in stem) or "model"


def log_models(
    stage: Stage, env: dict[str, str], log: RunLog
) -> tuple[dict[str, str], dict[str, str]]:
    """Log the stage's declared models on the run ``env`` names
    (``MLFLOW_RUN_ID``); its output goes to ``log`` (the run's ``run.log``).
    Returns the run's tags saying what was logged, and each model's URI by
    its file (path -> models:/<id>)."""
    entries = requests(stage)
    if not entries:
        return {}, {}
    try:
        done = subprocess.run(
            [str(stage.python), str(SCRIPT)],
            input=json.dumps(entries),
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            env={**os.environ, **env},
            cwd=stage.project.root,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired as error:
        raise ModelLoggingFailed(
            f"stage {stage.name}: logging its models took over {TIMEOUT} s"
        ) from error
    for line in done.stderr.splitlines():
        log.line("INFO", "models", line)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit code {done.returncode}"
        raise ModelLoggingFailed(
            f"stage {stage.name}: its models could not be logged to MLflow: {last}"
        )
    logged = json.loads(done.stdout.strip().splitlines()[-1])
    return tags_of(logged), {m["path"]: m["model_uri"] for m in logged}


def tags_of(logged: list[dict[str, str]]) -> dict[str, str]:
    """The run's tags for what the script logged."""
    tags = {"models.logged": "; ".join(f"{m['path']}={m['model_uri']}" for m in logged)}
    registered = [
        f"{m['registered_name']}/{m['version']}" for m in logged if m["version"]
    ]
    if registered:
        tags["models.registered"] = "; ".join(registered)
    return tags
