"""Log a stage's model files as MLflow models: run by the stage's interpreter.

    log_models_script.py [FLAVOR ...]

The runner starts this file, by its path, with the stage env's python as
the notebook starts: only that env has the model's libraries (and
mlflow-skinny). So it imports nothing from governed_mlops. It imports mlflow
and the modules of each FLAVOR named, opens the tracking store (reading the
run ``MLFLOW_RUN_ID``), then reads, once the notebook succeeded, a JSON list
of ``{"path", "name", "flavor", "registered_name"}``
on stdin, logs each file under ``MLFLOW_RUN_ID`` and prints a JSON list of
``{"path", "model_uri", "model_id", "version", "registered_name"}`` on
stdout. A problem is one line on stderr and exit code 1. Nothing on stdin
(the notebook failed): exit code 0, nothing logged.
"""

from __future__ import annotations

import json
import os
import pickle  # nosec B403 # loads the file the stage's notebook just wrote
import sys
from typing import Any, Callable


def load(path: str) -> Any:
    """The object in a joblib or pickle file."""
    if path.endswith((".pkl", ".pickle")):
        with open(path, "rb") as handle:
            return pickle.load(handle)  # nosec B301 # the stage's own output
    import joblib

    return joblib.load(path)


def log_sklearn(model: Any, entry: dict[str, Any]) -> Any:
    import mlflow.sklearn

    return mlflow.sklearn.log_model(
        model,
        name=entry["name"],
        # Pinned to this env's versions: no pass over the model's imports in
        # a subprocess, which is what makes the default take many seconds.
        pip_requirements=mlflow.sklearn.get_default_pip_requirements(
            include_cloudpickle=True
        ),
        serialization_format="cloudpickle",
        registered_model_name=entry.get("registered_name"),
    )


FLAVORS: dict[str, Callable[[Any, dict[str, Any]], Any]] = {"sklearn": log_sklearn}
# What each flavour imports, loaded while the notebook runs. sklearn.base is
# most of what unpickling any scikit-learn model imports (seconds without .pyc).
PRELOAD = {"sklearn": ("mlflow.sklearn", "joblib", "sklearn.base")}


def open_store(mlflow: Any) -> None:
    """Open the tracking store while the notebook runs (for a database:
    SQLAlchemy, the engine, the schema check; seconds), by reading the
    stage's run through the public client. Read-only: a notebook that fails
    leaves nothing behind."""
    run_id = os.environ.get("MLFLOW_RUN_ID", "")
    if not run_id:
        return
    try:
        mlflow.tracking.MlflowClient().get_run(run_id)
    except Exception as error:  # noqa: BLE001 - logging the models reports it
        sys.stderr.write(f"the tracking store is not open yet: {error}\n")


def main() -> int:
    import logging

    # Imports first: the runner starts this script with the notebook and
    # writes the entries once the notebook succeeded (none: it failed).
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    import importlib

    import mlflow

    for flavor in sys.argv[1:]:
        for module in PRELOAD.get(flavor, ()):
            try:
                importlib.import_module(module)
            except ImportError:
                pass  # reported where the model is logged
    open_store(mlflow)
    text = sys.stdin.read()
    if not text.strip():
        return 0
    entries = json.loads(text)

    mlflow.start_run()  # MLFLOW_RUN_ID: the stage's run, still open
    logged: list[dict[str, str]] = []
    for entry in entries:
        try:
            model = load(entry["absolute"])
        except Exception as error:  # any unpickling failure: report, do not trace
            sys.stderr.write(
                f"{entry['path']}: could not be loaded: {type(error).__name__}: "
                f"{error}\n"
            )
            return 1
        info = FLAVORS[entry["flavor"]](model, entry)
        version = getattr(info, "registered_model_version", None)
        logged.append(
            {
                "path": entry["path"],
                "model_uri": info.model_uri,
                "model_id": getattr(info, "model_id", "") or "",
                "version": str(version) if version is not None else "",
                "registered_name": entry.get("registered_name") or "",
            }
        )
    sys.stdout.write(json.dumps(logged) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    # The runner ends the run with the stage's status: skip the handler mlflow
    # registers at exit, which would end it FINISHED now.
    os._exit(0)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
