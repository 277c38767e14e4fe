"""Where the runner records its runs, through MLflow's public interfaces only.

A stage run needs a handful of store calls: find (or create) the experiment,
create a run with tags, log parameters, set tags, upload the bundle, end the
run, and, for ``mlops audit``, find a stage's last run and read one of its
artifacts. :func:`open_store` picks one of two stores:

- :class:`RestStore`: a tracking server (``http(s)://``) through MLflow's
  documented REST API, with basic-auth credentials, the bundle going to the
  server's artifact proxy (``mlflow-artifacts:``) or, for a ``file:``
  artifact location, copied there as MLflow's client does. No mlflow import,
  and every call gives up after a few seconds of retries
  (:data:`RETRY_DELAYS`) with :class:`StoreUnavailable`.
- :class:`MlflowStore`: ``MlflowClient`` itself, for the project's SQLite
  store and for servers that need what only MLflow's client does (a token,
  TLS settings, another auth scheme, s3 artifacts). Importing mlflow takes
  seconds, so the client is made in a background thread started when the
  store is opened, while the runner checks the env and starts the kernel.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Optional, Protocol, TypeVar
from urllib.parse import quote, unquote, urlencode, urlparse

from . import snapshot, tracking
from ..errors import CommandError
from ..settings import ProjectSettings

# Client settings only MlflowClient honours: with any of them set, it is used.
MLFLOW_ONLY_ENV = (
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_INSECURE_TLS",
    "MLFLOW_TRACKING_SERVER_CERT_PATH",
    "MLFLOW_TRACKING_CLIENT_CERT_PATH",
    "MLFLOW_TRACKING_AWS_SIGV4",
    "MLFLOW_TRACKING_AUTH",
)
# Seconds between the attempts of one REST call: a server away for longer
# than their sum (plus the timeouts) is unavailable.
RETRY_DELAYS = (0.5, 1.0, 2.0)
REQUEST_TIMEOUT = 15  # seconds per request
# Answers of a server that is restarting or overloaded: worth a retry.
RETRY_STATUSES = frozenset({429, 502, 503, 504})

T = TypeVar("T")


class StoreUnavailable(CommandError):
    """The tracking store could not be reached (after bounded retries)."""


class RunInfo:
    """A run found in the store: its id, status and tags."""

    def __init__(self, run_id: str, status: str, tags: dict[str, str]):
        self.run_id = run_id
        self.status = status
        self.tags = tags


class Store(Protocol):
    """The store calls of a stage run; :func:`open_store` picks the store."""

    uri: str

    @property
    def experiment_id(self) -> str: ...

    def warm(self) -> None:
        """Get ready for the first call (in the background), if that takes time."""

    def create_run(self, tags: dict[str, str]) -> str: ...

    def log_params(self, run_id: str, params: dict[str, str]) -> None: ...

    def set_tag(self, run_id: str, key: str, value: str) -> None: ...

    def log_artifacts(self, run_id: str, folder: Path, artifact_path: str) -> None: ...

    def set_terminated(self, run_id: str, status: str, end_time: int) -> None: ...

    def has_run(self, run_id: str) -> bool: ...

    def last_run(self, tags: dict[str, str], status: str) -> Optional[RunInfo]: ...

    def read_bytes(self, run_id: str, path: str) -> bytes: ...

    def read_artifact(self, run_id: str, path: str) -> str: ...

    def artifact_location(self, run_id: str) -> str: ...

    def get_run(self, run_id: str) -> Optional[RunInfo]: ...

    def finish(self, state_dir: Path) -> None:
        """At the command's end: keep the report's copy of the runs current
        (:mod:`.snapshot`), where the store has one."""


def missing_run(run_id: str, uri: str) -> CommandError:
    """The error for a run id the store does not know (a shortened one, too)."""
    hint = ""
    if len(run_id) != 32:
        hint = (
            "; give the whole run id (32 characters, as `mlops pipeline run` "
            "and the MLflow UI show it)"
        )
    return CommandError(f"no run {run_id} in the tracking store {uri}{hint}")


def millis() -> int:
    return int(time.time() * 1000)


def _filter(tags: dict[str, str], status: str) -> str:
    terms = [f"tags.`{key}` = '{value}'" for key, value in sorted(tags.items())]
    return " and ".join(terms + [f"attributes.status = '{status}'"])


class MlflowStore:
    """The runner's store calls through ``MlflowClient``, made in a thread."""

    def __init__(self, settings: ProjectSettings):
        self.uri = tracking.shown_uri(settings.mlflow_tracking_uri)
        self._settings = settings
        self._client: Any = None
        self._experiment_id = ""
        self._error: Optional[BaseException] = None
        self._ready = threading.Thread(target=self._open, daemon=True)
        # Before this command writes: what the report's copy is checked against.
        self._before = (
            snapshot.stamp(db) if (db := snapshot.database(self.uri)) else None
        )
        self._since = millis()
        self._touched: set[str] = set()

    def warm(self) -> None:
        """Start opening the client, so it is ready when first needed."""
        if self._ready.ident is None:  # not started yet
            self._ready.start()

    def _open(self) -> None:
        try:
            self._client = tracking.client(self._settings)
            self._experiment_id = tracking.experiment_id(self._client, self._settings)
        except BaseException as error:  # re-raised by the first call that waits
            self._error = error

    @property
    def client(self) -> Any:
        self.warm()
        self._ready.join()
        if self._error is not None:
            raise StoreUnavailable(
                f"the MLflow tracking store {self.uri} could not be opened: "
                f"{type(self._error).__name__}: {self._error}"
            ) from self._error
        return self._client

    @property
    def experiment_id(self) -> str:
        self.client  # noqa: B018 - waits for the thread, raises its error
        return self._experiment_id

    def create_run(self, tags: dict[str, str]) -> str:
        run = self.client.create_run(self.experiment_id, tags=tags)
        self._touched.add(str(run.info.run_id))
        return str(run.info.run_id)

    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(key, value) for key, value in params.items()]
        self._touched.add(run_id)
        for start in range(0, len(items), 100):  # MLflow's batch limit
            self.client.log_batch(run_id, params=items[start : start + 100])

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        self._touched.add(run_id)
        self.client.set_tag(run_id, key, value)

    def log_artifacts(self, run_id: str, folder: Path, artifact_path: str) -> None:
        self.client.log_artifacts(run_id, str(folder), artifact_path=artifact_path)

    def set_terminated(self, run_id: str, status: str, end_time: int) -> None:
        self._touched.add(run_id)
        self.client.set_terminated(run_id, status, end_time=end_time)

    def has_run(self, run_id: str) -> bool:
        try:
            self.client.get_run(run_id)
        except StoreUnavailable:
            raise
        except Exception:  # not in this store
            return False
        return True

    def last_run(self, tags: dict[str, str], status: str) -> Optional[RunInfo]:
        found = self.client.search_runs(
            [self.experiment_id],
            filter_string=_filter(tags, status),
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if not found:
            return None
        run = found[0]
        return RunInfo(run.info.run_id, run.info.status, dict(run.data.tags))

    def read_bytes(self, run_id: str, path: str) -> bytes:
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            local: str = self.client.download_artifacts(run_id, path, folder)
            return Path(local).read_bytes()

    def read_artifact(self, run_id: str, path: str) -> str:
        return self.read_bytes(run_id, path).decode("utf-8")

    def artifact_location(self, run_id: str) -> str:
        return str(self.client.get_run(run_id).info.artifact_uri)

    def get_run(self, run_id: str) -> Optional[RunInfo]:
        if not self.has_run(run_id):
            return None
        run = self.client.get_run(run_id)
        return RunInfo(run.info.run_id, run.info.status, dict(run.data.tags))

    def finish(self, state_dir: Path) -> None:
        if self._ready.ident is None or not self._touched:
            return  # nothing was written: the copy is as current as it was
        self._ready.join()
        if self._error is None:
            snapshot.advance(
                state_dir,
                self._client,
                self.uri,
                self._settings.mlflow_experiment,
                self._experiment_id,
                self._before,
                self._since,
                self._touched,
            )


class RestStore:
    """A tracking server through MLflow's REST API (see the module docstring)."""

    def __init__(self, uri: str, settings: ProjectSettings, experiment: dict[str, Any]):
        self.uri, auth = tracking.server_login(uri, settings)
        self.headers = {"Content-Type": "application/json", **auth}
        self.experiment_id = str(experiment["experiment_id"])
        self.artifact_uris: dict[str, str] = {}

    def warm(self) -> None:
        """Nothing to get ready: the server was reached when it was opened."""

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
                "start_time": millis(),
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

    def _artifact_uri(self, run_id: str) -> str:
        if run_id not in self.artifact_uris:
            run = self.call("GET", "runs/get?" + urlencode({"run_id": run_id}))
            self.artifact_uris[run_id] = run["run"]["info"]["artifact_uri"]
        return self.artifact_uris[run_id]

    def _proxied(self, run_id: str, path: str) -> str:
        """The artifact proxy's URL of a run's artifact (``mlflow-artifacts:``)."""
        root = self._artifact_uri(run_id)
        prefix = root[len("mlflow-artifacts:") :].strip("/")
        name = quote(f"{prefix}/{path}")
        return f"{self.uri}/api/2.0/mlflow-artifacts/artifacts/{name}"

    def log_artifacts(self, run_id: str, folder: Path, artifact_path: str) -> None:
        root = self._artifact_uri(run_id)
        if root.startswith("file:"):  # the client writes there itself
            copy_to_file_uri(folder, root, artifact_path)
            return
        headers = {**self.headers, "Content-Type": "application/octet-stream"}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = f"{artifact_path}/{path.relative_to(folder).as_posix()}"
            url = self._proxied(run_id, name)
            data = path.read_bytes()
            retried(self.uri, lambda: _send(url, "PUT", headers, data))

    def set_terminated(self, run_id: str, status: str, end_time: int) -> None:
        body = {"run_id": run_id, "run_uuid": run_id, "status": status}
        self.call("POST", "runs/update", {**body, "end_time": end_time})

    def has_run(self, run_id: str) -> bool:
        try:
            self.call("GET", "runs/get?" + urlencode({"run_id": run_id}))
        except urllib.error.HTTPError:
            return False
        return True

    def last_run(self, tags: dict[str, str], status: str) -> Optional[RunInfo]:
        body = {
            "experiment_ids": [self.experiment_id],
            "filter": _filter(tags, status),
            "order_by": ["attributes.start_time DESC"],
            "max_results": 1,
        }
        found = self.call("POST", "runs/search", body).get("runs", [])
        if not found:
            return None
        info, data = found[0]["info"], found[0].get("data", {})
        pairs = {item["key"]: item.get("value", "") for item in data.get("tags", [])}
        return RunInfo(str(info["run_id"]), str(info["status"]), pairs)

    def read_bytes(self, run_id: str, path: str) -> bytes:
        root = self._artifact_uri(run_id)
        local = file_uri_path(root)
        if local:
            return (Path(local) / path).read_bytes()
        url = self._proxied(run_id, path)
        headers = {k: v for k, v in self.headers.items() if k != "Content-Type"}
        return retried(self.uri, lambda: _send(url, "GET", headers))

    def read_artifact(self, run_id: str, path: str) -> str:
        return self.read_bytes(run_id, path).decode("utf-8")

    def artifact_location(self, run_id: str) -> str:
        return self._artifact_uri(run_id)

    def get_run(self, run_id: str) -> Optional[RunInfo]:
        try:
            found = self.call("GET", "runs/get?" + urlencode({"run_id": run_id}))
        except urllib.error.HTTPError:
            return None
        info, data = found["run"]["info"], found["run"].get("data", {})
        self.artifact_uris[run_id] = info["artifact_uri"]
        pairs = {item["key"]: item.get("value", "") for item in data.get("tags", [])}
        return RunInfo(str(info["run_id"]), str(info["status"]), pairs)

    def finish(self, state_dir: Path) -> None:
        """Nothing to keep: the report reads a server through REST quickly."""


def _send(
    url: str, method: str, headers: dict[str, str], data: Optional[bytes] = None
) -> bytes:
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(  # nosec B310 # the configured tracking server
        request, timeout=REQUEST_TIMEOUT
    ) as response:
        answer: bytes = response.read()
    return answer


def retried(uri: str, attempt: Callable[[], T]) -> T:
    """``attempt()``, tried again after each of :data:`RETRY_DELAYS` while the
    server cannot be reached or answers that it is not ready; then
    :class:`StoreUnavailable`. Other HTTP errors are raised at once."""
    problem, answered = "", False
    for delay in (*RETRY_DELAYS, None):
        try:
            return attempt()
        except urllib.error.HTTPError as error:
            if error.code not in RETRY_STATUSES:
                raise
            problem, answered = f"HTTP {error.code} {error.reason}", True
        except (urllib.error.URLError, OSError) as error:
            problem = str(getattr(error, "reason", "") or error)
            answered = False
        if delay is not None:
            time.sleep(delay)
    tries = f"{len(RETRY_DELAYS) + 1} tries over {sum(RETRY_DELAYS):.1f} s"
    if answered:  # the server, or a proxy before it, is up; behind it is not
        raise StoreUnavailable(
            f"the MLflow tracking server {uri} answered but could not serve the "
            f"request ({problem}; {tries}): its database or artifact store, or "
            f"the server behind a proxy, may be down"
        )
    raise StoreUnavailable(
        f"the MLflow tracking server {uri} could not be reached ({problem}; "
        f"{tries})"
    )


def http_json(
    uri: str,
    method: str,
    endpoint: str,
    headers: dict[str, str],
    body: Optional[dict[str, Any]] = None,
) -> dict[str, Any]:
    """One call of MLflow's REST API (``/api/2.0/mlflow/<endpoint>``), with
    bounded retries; its answer is a JSON object, else :class:`ValueError`."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    url = f"{uri}/api/2.0/mlflow/{endpoint}"
    answer = json.loads(
        retried(uri, lambda: _send(url, method, headers, data)) or b"{}"
    )
    if not isinstance(answer, dict):
        raise ValueError(f"{endpoint}: the answer is not a JSON object: {answer!r}")
    return answer


def file_uri_path(uri: str) -> str:
    """The local path of a ``file:`` URI (``file:///C:/x`` on Windows too),
    else an empty string."""
    if not uri.startswith("file:"):
        return ""
    return urllib.request.url2pathname(unquote(urlparse(uri).path))


def copy_to_file_uri(folder: Path, root_uri: str, artifact_path: str) -> None:
    """Copy a folder under a ``file:`` artifact URI, as MLflow's local
    artifact repository does."""
    root = Path(file_uri_path(root_uri))
    shutil.copytree(folder, root / artifact_path, dirs_exist_ok=True)


def _rest_store(settings: ProjectSettings) -> Optional[RestStore]:
    """A tracking server through its REST API, when MlflowClient would make
    the same plain calls (no special client settings; the experiment's
    artifacts go through the server or to a local folder). The experiment
    is created when it does not exist yet, as MlflowClient would."""
    if not tracking.is_http(settings.mlflow_tracking_uri):
        return None
    if any(os.environ.get(name) for name in MLFLOW_ONLY_ENV):
        return None
    uri, auth = tracking.server_login(settings.mlflow_tracking_uri, settings)
    headers = {"Content-Type": "application/json", **auth}
    name = settings.mlflow_experiment
    query = urlencode({"experiment_name": name})
    try:
        found = http_json(uri, "GET", "experiments/get-by-name?" + query, headers)
    except urllib.error.HTTPError as error:
        if error.code in (401, 403):  # MLflow's basic-auth app leaves /health open
            raise tracking.login_refused(
                settings.mlflow_tracking_uri, error, "nothing was recorded"
            ) from None
        if error.code != 404:
            return None  # an answer MlflowClient should handle (and explain)
        created = http_json(uri, "POST", "experiments/create", headers, {"name": name})
        query = urlencode({"experiment_id": created["experiment_id"]})
        found = http_json(uri, "GET", "experiments/get?" + query, headers)
    except ValueError:
        return None
    experiment = found.get("experiment") or {}
    location = experiment.get("artifact_location", "")
    if experiment.get("lifecycle_stage") != "active" or not (
        location.startswith("file:")
        or (location.startswith("mlflow-artifacts:/") and "://" not in location)
    ):
        return None
    return RestStore(settings.mlflow_tracking_uri, settings, experiment)


def open_store(settings: ProjectSettings) -> Store:
    """The store of the settings' tracking URI: a server's REST API where that
    is all MlflowClient would use, else MlflowClient (opened in a thread)."""
    return _rest_store(settings) or MlflowStore(settings)
