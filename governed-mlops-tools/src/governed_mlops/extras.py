"""The tools' ``pipeline`` extra: what building stage envs, running stages
and writing the report need beyond the policy check. Installed without it
(``pip install governed-mlops-tools``), those commands say so first: they
failed later with a traceback, or took every lock for stale (a lock pins the
runner's mlflow version)."""

from __future__ import annotations

import importlib.util

from .errors import CommandError

# Each distribution of the extra that a command needs, by its import name.
PIPELINE = {
    "mlflow": "mlflow",
    "papermill": "papermill",
    "cyclonedx-bom": "cyclonedx_py",
    "jinja2": "jinja2",
    "nbconvert": "nbconvert",
}


def require_pipeline(command: str) -> None:
    """Refuse ``mlops COMMAND`` where the pipeline extra is not installed."""
    missing = [
        name
        for name, module in PIPELINE.items()
        if importlib.util.find_spec(module) is None
    ]
    if missing:
        raise CommandError(
            f"mlops {command} needs the tools' pipeline extra, which this "
            f"environment lacks ({', '.join(missing)}): install "
            f"governed-mlops-tools[pipeline] (the project's `uv sync` does; with "
            f"no index: pip install --no-index --find-links wheels "
            f'"governed-mlops-tools[pipeline]")'
        )
