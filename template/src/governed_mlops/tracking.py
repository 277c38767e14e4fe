"""MLflow wiring: the store from the project's settings, checked before a run."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .errors import CommandError


def credentials_env(settings: Any) -> dict[str, str]:
    """MLflow's credential variables from the settings (empty ones left out)."""
    env = {}
    if settings.mlflow_tracking_username:
        env["MLFLOW_TRACKING_USERNAME"] = settings.mlflow_tracking_username
    password = settings.mlflow_tracking_password.get_secret_value()
    if password:
        env["MLFLOW_TRACKING_PASSWORD"] = password
    return env


def check_reachable(uri: str, fix: str) -> None:
    """Fail before anything runs when the tracking store cannot be reached."""
    if uri.startswith(("http://", "https://")):
        url = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # nosec B310
                if response.status == 200:
                    return
                problem = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as error:
            problem = str(getattr(error, "reason", error))
        raise CommandError(
            f"the MLflow tracking server {uri} is unreachable ({problem}); nothing "
            f"was run. {fix}"
        )
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)


def client(settings: Any):
    """An ``MlflowClient`` on the settings' tracking URI, credentials applied."""
    os.environ.update(credentials_env(settings))
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=settings.mlflow_tracking_uri)


def experiment_id(mlflow_client: Any, settings: Any) -> str:
    """The project's experiment, created on first use.

    With the embedded store its artifacts go to ``<mlflow_dir>/artifacts``; a
    tracking server decides for itself (``--artifacts-destination``).
    """
    name = settings.mlflow_experiment
    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if settings.mlflow_tracking_uri.startswith("sqlite:"):
        settings.mlflow_artifacts_dir.mkdir(parents=True, exist_ok=True)
        location = settings.mlflow_artifacts_dir.as_uri()
    return mlflow_client.create_experiment(name, artifact_location=location)


def server_command(settings: Any, sqlite_uri) -> list[str]:
    """``mlflow server`` on the project's SQLite store and artifact folder."""
    backend = sqlite_uri(settings.mlflow_dir / "mlflow.db")
    settings.mlflow_artifacts_dir.mkdir(parents=True, exist_ok=True)
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        backend,
        "--artifacts-destination",
        str(settings.mlflow_artifacts_dir),
        "--host",
        settings.mlflow_host,
        "--port",
        str(settings.mlflow_port),
    ]
