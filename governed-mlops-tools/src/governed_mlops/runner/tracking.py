"""MLflow wiring: the store from the project's settings, checked before a run."""

from __future__ import annotations

import base64
import functools
import logging
import os
from contextlib import contextmanager
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import CommandError
from ..settings import ProjectSettings

# MLflow's HTTP client retries a server that is away for about four minutes
# by default (7 retries, backoff factor 2): a few seconds here, for the
# runner's client and the kernels' (a variable the user set wins).
RETRY_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
}


# The runner's own client draws no progress bars (artifact downloads).
QUIET_ENV = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


def retry_env() -> dict[str, str]:
    """The bounded-retry settings of MLflow's HTTP client not set already."""
    return {key: value for key, value in RETRY_ENV.items() if key not in os.environ}


def credentials_env(settings: ProjectSettings) -> dict[str, str]:
    """MLflow's credential variables from the settings (empty ones left out)."""
    env = {}
    if settings.mlflow_tracking_username:
        env["MLFLOW_TRACKING_USERNAME"] = settings.mlflow_tracking_username
    password = settings.mlflow_tracking_password.get_secret_value()
    if password:
        env["MLFLOW_TRACKING_PASSWORD"] = password
    return env


def check_reachable(uri: str, fix: str, outcome: str = "nothing was run") -> None:
    """Fail before anything runs when the tracking store cannot be reached."""
    if uri.startswith(("http://", "https://")):
        from ..tracking.config import redact_uri

        request = health_request(uri)
        try:
            # B310 (any URL scheme): the scheme is http(s), checked above.
            with urllib.request.urlopen(request, timeout=5) as response:  # nosec B310
                if response.status == 200:
                    return
                problem = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as error:
            problem = str(getattr(error, "reason", error))
        raise CommandError(
            f"the MLflow tracking server {redact_uri(uri)} is unreachable "
            f"({problem}); {outcome}. {fix}"
        )
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)


def server_command(settings: ProjectSettings) -> str:
    """The command that starts the tracking server the settings' URI names:
    with ``--port`` when the URI's port is not the MLFLOW_PORT setting's."""
    from urllib.parse import urlsplit

    from ..tracking.config import local_host

    parts = urlsplit(settings.mlflow_tracking_uri)
    try:
        port = parts.port
    except ValueError:
        port = None
    if local_host(parts.hostname or "") and port and port != settings.mlflow_port:
        return f"mlops tracking server --port {port}"
    return "mlops tracking server"


def health_request(uri: str) -> urllib.request.Request:
    """A GET of the server's ``/health``; credentials in the URI's user-info
    part (user name, colon, password, ``@``) go in a basic-auth header, not
    the URL."""
    parts = urllib.parse.urlsplit(uri.rstrip("/"))
    userinfo, at, hostport = parts.netloc.rpartition("@")
    url = urllib.parse.urlunsplit(parts._replace(netloc=hostport)) + "/health"
    request = urllib.request.Request(url)
    if at:
        user, _, password = userinfo.partition(":")
        pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}"
        token = base64.b64encode(pair.encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    return request


@contextmanager
def environment(values: dict[str, str], drop: Iterable[str] = ()) -> Iterator[None]:
    """Set variables (and remove those in ``drop``) for the duration of a
    block, then restore them."""
    dropped = [key for key in drop if key not in values]
    saved = {key: os.environ.get(key) for key in [*values, *dropped]}
    os.environ.update(values)
    for key in dropped:
        os.environ.pop(key, None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class ScopedClient:
    """An ``MlflowClient`` whose calls see the tracking credentials, which the
    rest of the process (and every child it starts) does not."""

    def __init__(self, mlflow_client: Any, env: dict[str, str]):
        self._client = mlflow_client
        self._env = env

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        @functools.wraps(attribute)
        def call(*args: Any, **kwargs: Any) -> Any:
            with environment(self._env):
                return attribute(*args, **kwargs)

        return call


def client(settings: ProjectSettings) -> Any:
    """An ``MlflowClient`` on the settings' tracking URI; MLflow reads the
    credentials from the environment, which is set for each call only."""
    env = {**retry_env(), **QUIET_ENV, **credentials_env(settings)}
    with environment(env):
        from mlflow.tracking import MlflowClient

        # MLflow prints its own INFO lines (creating a store's tables, alembic's
        # migrations) to stderr.
        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)
        mlflow_client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    return ScopedClient(mlflow_client, env)


def experiment_id(mlflow_client: Any, settings: ProjectSettings) -> str:
    """The project's experiment, created on first use.

    With the embedded store its artifacts go to ``<mlflow_dir>/artifacts``; a
    tracking server decides for itself (``--artifacts-destination``).
    """
    name = settings.mlflow_experiment
    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = None
    if settings.mlflow_tracking_uri.startswith("sqlite:"):
        settings.mlflow_artifacts_dir.mkdir(parents=True, exist_ok=True)
        location = settings.mlflow_artifacts_dir.as_uri()
    return str(mlflow_client.create_experiment(name, artifact_location=location))


def sqlite_uri(path: Path) -> str:
    """An absolute SQLAlchemy SQLite URI, on POSIX (``sqlite:////srv/x.db``)
    and Windows (``sqlite:///C:/x.db``)."""
    return "sqlite:///" + path.resolve().as_posix()
