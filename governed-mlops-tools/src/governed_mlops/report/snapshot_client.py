"""The report's reads of a SQLite store without importing mlflow.

:class:`SnapshotClient` answers the report's three ``MlflowClient`` calls
from the runs copy the runner keeps (:mod:`..runner.snapshot`) while the
store is unchanged: the runs themselves, and artifacts read from the runs'
local artifact location, as MLflow's local artifact repository does.
Anything else (an artifact elsewhere) opens ``MlflowClient`` then.
:class:`Keeping` is ``MlflowClient`` for a store whose copy is not current:
what the report reads becomes the new copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlparse

from ..runner import snapshot
from ..runner.store import file_uri_path
from ..settings import ProjectSettings
from .rest import Data, Experiment, Info, Page, Run


def run_of(found: dict[str, Any]) -> Run:
    return Run(
        Info(
            found["run_id"],
            found["status"],
            found["start_time"],
            found["end_time"],
            found["artifact_uri"],
        ),
        Data(found["tags"], found["params"], found["metrics"]),
    )


def local_root(uri: str) -> str:
    """The folder of a run's artifacts when MLflow keeps them on this
    machine: a ``file:`` URI, or a plain absolute path (what MLflow records
    for an experiment made without an artifact location); else empty."""
    if uri.startswith("file:"):
        return file_uri_path(uri)
    scheme = urlparse(uri).scheme
    if len(scheme) <= 1 and Path(uri).is_absolute():  # one letter: a drive
        return uri
    return ""


class SnapshotClient:
    """The report's ``MlflowClient`` calls, answered from a current copy."""

    def __init__(self, copy: snapshot.Snapshot, settings: ProjectSettings):
        self.copy = copy
        self.settings = settings
        self._runs = [run_of(found) for found in copy.runs]
        self._by_id = {run.info.run_id: run for run in self._runs}
        self._client: Any = None

    def client(self) -> Any:
        """MlflowClient, opened on first need."""
        if self._client is None:
            from ..runner import tracking

            self._client = tracking.client(self.settings)
        return self._client

    def get_experiment_by_name(self, name: str) -> Any:
        if name != self.copy.experiment:
            return self.client().get_experiment_by_name(name)
        return Experiment(self.copy.experiment_id)

    def search_runs(
        self,
        experiment_ids: list[str],
        order_by: Optional[list[str]] = None,
        max_results: int = 1000,
        page_token: Optional[str] = None,
    ) -> Any:
        start = int(page_token or 0)
        end = start + max_results
        if experiment_ids != [self.copy.experiment_id] or (
            end > len(self._runs) and not self.copy.complete
        ):
            return self.client().search_runs(
                experiment_ids,
                order_by=order_by,
                max_results=max_results,
                page_token=page_token,
            )
        page = Page(self._runs[start:end])
        page.token = str(end) if end < len(self._runs) else ""
        return page

    def download_artifacts(self, run_id: str, path: str, folder: str) -> str:
        found = self._by_id.get(run_id)
        root = local_root(found.info.artifact_uri) if found else ""
        if not root:
            local: str = self.client().download_artifacts(run_id, path, folder)
            return local
        base = Path(root).resolve()
        source = (base / path).resolve()
        if not source.is_relative_to(base):
            raise ValueError(f"artifact path {path!r} leaves the run's artifacts")
        target = Path(folder) / source.name
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)  # FileNotFoundError: not logged
        return str(target)


class Keeping:
    """``MlflowClient``'s reads; :meth:`keep` saves what was read as the copy."""

    def __init__(self, client: Any, state_dir: Path, settings: ProjectSettings):
        self._client = client
        self.state_dir = state_dir
        self.settings = settings
        self._before: Optional[snapshot.Stamp] = None

    def get_experiment_by_name(self, name: str) -> Any:
        found = self._client.get_experiment_by_name(name)
        # The store is open now (its tables made or migrated): the stamp
        # before the runs are read, so any later write outdates the copy.
        db = snapshot.database(self.settings.mlflow_tracking_uri)
        self._before = snapshot.stamp(db) if db else None
        return found

    def search_runs(self, *args: Any, **kwargs: Any) -> Any:
        return self._client.search_runs(*args, **kwargs)

    def download_artifacts(self, run_id: str, path: str, folder: str) -> str:
        local: str = self._client.download_artifacts(run_id, path, folder)
        return local

    def keep(self, experiment_id: str, runs: list[Any], complete: bool) -> None:
        """Save ``runs`` (the experiment's newest, newest first) as the copy."""
        if not self._before:
            return
        copy = snapshot.Snapshot(
            self.settings.mlflow_tracking_uri,
            self.settings.mlflow_experiment,
            experiment_id,
            self._before,
            [snapshot.record(run) for run in runs[: snapshot.LIMIT]],
            complete and len(runs) <= snapshot.LIMIT,
        )
        try:
            snapshot.save(self.state_dir, copy)
        except OSError:
            pass  # a shortcut only: the next build reads the store again
