"""Where the runner records its runs: the few MLflow store calls a stage run makes.

The runner needs seven things from the tracking store: find the experiment,
create a run with tags, log parameters, set a tag, upload the bundle, mark
the end and (for ``mlflow run``) ask whether a run exists. Importing the
``mlflow`` package for them costs seconds per stage run (it imports pandas,
SQLAlchemy, alembic and the GenAI modules, then checks the database schema),
so two stores do them without it, and :func:`open_store` picks one:

- :class:`SqliteStore`: the project's embedded SQLite store, written with the
  standard library's ``sqlite3`` in the same rows MLflow writes. Used only
  once MLflow itself has opened that database (creating or checking its
  schema) with the installed mlflow version, and only while the database is
  still at the schema revision MLflow accepted then (:func:`open_store`
  records both in ``.mlops/tracking-store.json``). The bundle is copied into
  the run's ``file:`` artifact folder, as MLflow's local artifact store does.
- :class:`RestStore`: a tracking server (``http(s)://``), through MLflow's
  REST API (JSON over HTTP, the calls ``MlflowClient`` makes) with basic-auth
  credentials; the bundle goes to the server's artifact proxy
  (``mlflow-artifacts:``) or, for a ``file:`` artifact location, is copied
  there as MLflow's client does.
- :class:`MlflowStore`: ``MlflowClient`` itself, for everything else: the
  first run on a new SQLite database or with a new mlflow version, an
  experiment that does not exist yet or keeps its artifacts elsewhere (s3,
  ...), servers needing a token, TLS settings or another auth scheme.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Optional, Protocol
from urllib.parse import quote, unquote, urlencode, urlparse

from . import tracking
from ..settings import ProjectSettings

RECORD_NAME = "tracking-store.json"
# Client settings only MlflowClient honours: with any of them set, it is used.
MLFLOW_ONLY_ENV = (
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_INSECURE_TLS",
    "MLFLOW_TRACKING_SERVER_CERT_PATH",
    "MLFLOW_TRACKING_CLIENT_CERT_PATH",
    "MLFLOW_TRACKING_AWS_SIGV4",
    "MLFLOW_TRACKING_AUTH",
)


class Store(Protocol):
    """The store calls of a stage run; :func:`open_store` picks the store."""

    experiment_id: str

    def create_run(self, tags: dict[str, str]) -> str: ...

    def log_params(self, run_id: str, params: dict[str, str]) -> None: ...

    def set_tag(self, run_id: str, key: str, value: str) -> None: ...

    def log_artifacts(self, run_id: str, folder: Path, artifact_path: str) -> None: ...

    def set_terminated(self, run_id: str, status: str) -> None: ...

    def has_run(self, run_id: str) -> bool: ...


def _millis() -> int:
    return int(time.time() * 1000)


class MlflowStore:
    """The runner's store calls through ``MlflowClient`` (imports mlflow)."""

    def __init__(self, settings: ProjectSettings):
        self.client = tracking.client(settings)
        self.experiment_id = tracking.experiment_id(self.client, settings)

    def create_run(self, tags: dict[str, str]) -> str:
        return str(self.client.create_run(self.experiment_id, tags=tags).info.run_id)

    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        for key, value in params.items():
            self.client.log_param(run_id, key, value)

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        self.client.set_tag(run_id, key, value)

    def log_artifacts(self, run_id: str, folder: Path, artifact_path: str) -> None:
        self.client.log_artifacts(run_id, str(folder), artifact_path=artifact_path)

    def set_terminated(self, run_id: str, status: str) -> None:
        self.client.set_terminated(run_id, status)

    def has_run(self, run_id: str) -> bool:
        try:
            self.client.get_run(run_id)
        except Exception:  # not in this store
            return False
        return True


class SqliteStore:
    """MLflow's SQLite store written directly (see the module docstring)."""

    def __init__(self, database: Path, experiment_id: str, artifact_location: str):
        self.database = database
        self.experiment_id = experiment_id
        self.artifact_location = artifact_location.rstrip("/")

    def _connect(self) -> sqlite3.Connection:
        # The kernel's mlflow writes metrics to the same file meanwhile.
        return sqlite3.connect(self.database, timeout=60)

    def _write(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        connection = self._connect()
        try:
            with connection:
                connection.executemany(sql, rows)
        finally:
            connection.close()

    def create_run(self, tags: dict[str, str]) -> str:
        """A RUNNING run as ``MlflowClient.create_run`` makes it: name from
        ``mlflow.runName``, user from ``mlflow.user``, source UNKNOWN."""
        run_id = uuid.uuid4().hex
        connection = self._connect()
        try:
            with connection:
                connection.execute(
                    "INSERT INTO runs (run_uuid, name, source_type, source_name, "
                    "entry_point_name, user_id, status, start_time, end_time, "
                    "deleted_time, source_version, lifecycle_stage, artifact_uri, "
                    "experiment_id) VALUES (?, ?, 'UNKNOWN', '', '', ?, 'RUNNING', ?, "
                    "NULL, NULL, '', 'active', ?, ?)",
                    (
                        run_id,
                        tags["mlflow.runName"],
                        tags.get("mlflow.user", "unknown"),
                        _millis(),
                        f"{self.artifact_location}/{run_id}/artifacts",
                        int(self.experiment_id),
                    ),
                )
                connection.executemany(
                    "INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                    [(key, str(value), run_id) for key, value in tags.items()],
                )
        finally:
            connection.close()
        return run_id

    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        self._write(
            "INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
            [(key, value, run_id) for key, value in params.items()],
        )

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        self._write(
            "INSERT OR REPLACE INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
            [(key, value, run_id)],
        )

    def log_artifacts(self, run_id: str, folder: Path, artifact_path: str) -> None:
        root = f"{self.artifact_location}/{run_id}/artifacts"
        copy_to_file_uri(folder, root, artifact_path)

    def set_terminated(self, run_id: str, status: str) -> None:
        self._write(
            "UPDATE runs SET status = ?, end_time = ? WHERE run_uuid = ?",
            [(status, _millis(), run_id)],
        )

    def has_run(self, run_id: str) -> bool:
        connection = self._connect()
        try:
            found = connection.execute(
                "SELECT 1 FROM runs WHERE run_uuid = ?", (run_id,)
            ).fetchone()
        finally:
            connection.close()
        return found is not None


class RestStore:
    """A tracking server through MLflow's REST API (see the module docstring)."""

    def __init__(self, uri: str, settings: ProjectSettings, experiment: dict[str, Any]):
        self.uri = uri.rstrip("/")
        self.headers = {"Content-Type": "application/json"}
        self.headers.update(basic_auth(settings))
        self.experiment_id = str(experiment["experiment_id"])
        self.artifact_uris: dict[str, str] = {}

    def call(
        self, method: str, endpoint: str, body: Optional[dict[str, Any]] = None
    ) -> dict[str, Any]:
        return http_json(self.uri, method, endpoint, self.headers, body)

    def create_run(self, tags: dict[str, str]) -> str:
        run = self.call(
            "POST",
            "runs/create",
            {
                "experiment_id": self.experiment_id,
                "user_id": tags.get("mlflow.user", "unknown"),
                "start_time": _millis(),
                "tags": [{"key": k, "value": str(v)} for k, v in tags.items()],
            },
        )["run"]["info"]
        run_id = str(run["run_id"])
        self.artifact_uris[run_id] = run["artifact_uri"]
        return run_id

    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        items = [{"key": key, "value": value} for key, value in params.items()]
        for start in range(0, len(items), 100):  # the server's batch limit
            body = {"run_id": run_id, "params": items[start : start + 100]}
            self.call("POST", "runs/log-batch", body)

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        body = {"run_id": run_id, "run_uuid": run_id, "key": key, "value": value}
        self.call("POST", "runs/set-tag", body)

    def log_artifacts(self, run_id: str, folder: Path, artifact_path: str) -> None:
        root = self.artifact_uris[run_id]
        if root.startswith("file:"):  # the client writes there itself
            copy_to_file_uri(folder, root, artifact_path)
            return
        # mlflow-artifacts:/<experiment>/<run>/artifacts, proxied by the server
        prefix = root[len("mlflow-artifacts:") :].strip("/")
        headers = {**self.headers, "Content-Type": "application/octet-stream"}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = "/".join(
                [prefix, artifact_path, path.relative_to(folder).as_posix()]
            )
            url = f"{self.uri}/api/2.0/mlflow-artifacts/artifacts/{quote(name)}"
            request = urllib.request.Request(
                url, data=path.read_bytes(), headers=headers, method="PUT"
            )
            with urllib.request.urlopen(request, timeout=120):  # nosec B310
                pass

    def set_terminated(self, run_id: str, status: str) -> None:
        body = {"run_id": run_id, "run_uuid": run_id, "status": status}
        self.call("POST", "runs/update", {**body, "end_time": _millis()})

    def has_run(self, run_id: str) -> bool:
        try:
            self.call("GET", "runs/get?" + urlencode({"run_id": run_id}))
        except urllib.error.HTTPError:
            return False
        return True


def http_json(
    uri: str,
    method: str,
    endpoint: str,
    headers: dict[str, str],
    body: Optional[dict[str, Any]] = None,
) -> dict[str, Any]:
    """One call of MLflow's REST API (``/api/2.0/mlflow/<endpoint>``); its
    answer is a JSON object, else :class:`ValueError`."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(
        f"{uri}/api/2.0/mlflow/{endpoint}", data=data, headers=headers, method=method
    )
    with urllib.request.urlopen(request, timeout=120) as response:  # nosec B310
        answer = json.loads(response.read() or b"{}")
    if not isinstance(answer, dict):
        raise ValueError(f"{endpoint}: the answer is not a JSON object: {answer!r}")
    return answer


def basic_auth(settings: ProjectSettings) -> dict[str, str]:
    """The Authorization header MLflow sends for a username and password."""
    env = tracking.credentials_env(settings)
    user = env.get("MLFLOW_TRACKING_USERNAME") or os.environ.get(
        "MLFLOW_TRACKING_USERNAME", ""
    )
    password = env.get("MLFLOW_TRACKING_PASSWORD") or os.environ.get(
        "MLFLOW_TRACKING_PASSWORD", ""
    )
    if not (user and password):
        return {}
    token = base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def copy_to_file_uri(folder: Path, root_uri: str, artifact_path: str) -> None:
    """Copy a folder under a ``file:`` artifact URI, as MLflow's local
    artifact repository does (``file:///C:/x`` on Windows too)."""
    root = Path(urllib.request.url2pathname(unquote(urlparse(root_uri).path)))
    shutil.copytree(folder, root / artifact_path, dirs_exist_ok=True)


def mlflow_version() -> str:
    """The installed mlflow's version, read from its metadata (no import)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlflow")
    except PackageNotFoundError:
        return ""


def _database(uri: str) -> Optional[Path]:
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///") :]).resolve()


def _revision(connection: sqlite3.Connection) -> str:
    row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else ""


def _fast_store(settings: ProjectSettings, record: Path) -> Optional[SqliteStore]:
    """The SQLite store without mlflow, when MLflow already accepted its schema."""
    database = _database(settings.mlflow_tracking_uri)
    if database is None or not database.is_file():
        return None
    try:
        known = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if known.get("database") != str(database):
        return None
    if known.get("mlflow") != mlflow_version():
        return None
    try:
        connection = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)
        try:
            if _revision(connection) != known.get("revision"):
                return None
            found = connection.execute(
                "SELECT experiment_id, artifact_location FROM experiments "
                "WHERE name = ? AND lifecycle_stage = 'active'",
                (settings.mlflow_experiment,),
            ).fetchall()
        finally:
            connection.close()
    except sqlite3.Error:
        return None
    if len(found) != 1 or not str(found[0][1]).startswith("file:"):
        return None
    experiment_id, location = found[0]
    return SqliteStore(database, str(experiment_id), location)


def _remember(settings: ProjectSettings, record: Path) -> None:
    """After MLflow opened the SQLite store: its schema revision is accepted."""
    database = _database(settings.mlflow_tracking_uri)
    if database is None or not database.is_file():
        return
    try:
        connection = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)
        try:
            revision = _revision(connection)
        finally:
            connection.close()
    except sqlite3.Error:
        return
    record.parent.mkdir(parents=True, exist_ok=True)
    known = {"database": str(database), "mlflow": mlflow_version()}
    known["revision"] = revision
    record.write_text(json.dumps(known, indent=1) + "\n", encoding="utf-8")


def _rest_store(settings: ProjectSettings) -> Optional[RestStore]:
    """A tracking server through its REST API, when MlflowClient would make
    the same plain calls (no special client settings, a known experiment
    whose artifacts go through the server or to a local folder)."""
    uri = settings.mlflow_tracking_uri
    if not uri.startswith(("http://", "https://")):
        return None
    if any(os.environ.get(name) for name in MLFLOW_ONLY_ENV):
        return None
    headers = {"Content-Type": "application/json", **basic_auth(settings)}
    query = urlencode({"experiment_name": settings.mlflow_experiment})
    try:
        found = http_json(
            uri.rstrip("/"), "GET", "experiments/get-by-name?" + query, headers
        )
    except (urllib.error.URLError, OSError, ValueError):
        return None  # not there yet, or an answer MlflowClient should handle
    experiment = found.get("experiment") or {}
    location = experiment.get("artifact_location", "")
    if experiment.get("lifecycle_stage") != "active" or not (
        location.startswith("file:")
        or (location.startswith("mlflow-artifacts:/") and "://" not in location)
    ):
        return None
    return RestStore(uri, settings, experiment)


def open_store(settings: ProjectSettings, state_dir: Path) -> Store:
    """The fastest store that records runs exactly as MlflowClient would."""
    record = state_dir / RECORD_NAME
    fast = _fast_store(settings, record) or _rest_store(settings)
    if fast is not None:
        return fast
    slow = MlflowStore(settings)
    _remember(settings, record)
    return slow
