"""The report's reads from a tracking server through MLflow's REST API.

The same documented endpoints ``MlflowClient`` calls (``experiments/
get-by-name``, ``runs/search`` with page tokens, the artifact proxy), with
the runner's bounded retries and basic auth (:mod:`..runner.store`), and
without importing mlflow, which takes seconds: a report of a tracking
server's runs builds in about a second. :func:`rest_client` offers it only
where ``MlflowClient`` would make the same plain calls.
"""

from __future__ import annotations

import os
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlencode

from ..settings import ProjectSettings


@dataclass
class Info:
    run_id: str
    status: str
    start_time: int
    end_time: Optional[int]
    artifact_uri: str = ""


@dataclass
class Data:
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class Run:
    info: Info
    data: Data


@dataclass
class Experiment:
    experiment_id: str


class Page(list[Run]):
    """A page of runs and the token of the next (empty: the last page)."""

    token: str = ""


def pairs(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {item["key"]: item.get("value", "") for item in items}


def run_of(found: dict[str, Any]) -> Run:
    info, data = found["info"], found.get("data", {})
    return Run(
        Info(
            str(info["run_id"]),
            str(info.get("status", "")),
            int(info.get("start_time") or 0),
            int(info["end_time"]) if info.get("end_time") else None,
        ),
        Data(
            {k: str(v) for k, v in pairs(data.get("tags", [])).items()},
            {k: str(v) for k, v in pairs(data.get("params", [])).items()},
            {k: float(v) for k, v in pairs(data.get("metrics", [])).items()},
        ),
    )


class RestClient:
    """The few ``MlflowClient`` calls the report makes, over REST."""

    def __init__(self, settings: ProjectSettings):
        from ..runner.tracking import server_login

        self.settings = settings
        self.uri, auth = server_login(settings.mlflow_tracking_uri, settings)
        self.headers = {"Content-Type": "application/json", **auth}
        self._artifacts: Any = None

    def call(
        self, method: str, endpoint: str, body: Optional[dict[str, Any]] = None
    ) -> dict[str, Any]:
        from ..runner.store import http_json

        return http_json(self.uri, method, endpoint, self.headers, body)

    def get_experiment_by_name(self, name: str) -> Optional[Experiment]:
        query = urlencode({"experiment_name": name})
        try:
            found = self.call("GET", "experiments/get-by-name?" + query)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise
        return Experiment(str(found["experiment"]["experiment_id"]))

    def search_runs(
        self,
        experiment_ids: list[str],
        order_by: Optional[list[str]] = None,
        max_results: int = 1000,
        page_token: Optional[str] = None,
    ) -> Page:
        body: dict[str, Any] = {
            "experiment_ids": experiment_ids,
            "order_by": order_by or [],
            "max_results": max_results,
        }
        if page_token:
            body["page_token"] = page_token
        found = self.call("POST", "runs/search", body)
        page = Page(run_of(run) for run in found.get("runs", []))
        page.token = str(found.get("next_page_token", "") or "")
        return page

    def download_artifacts(self, run_id: str, path: str, folder: str) -> str:
        from ..runner.store import RestStore

        if self._artifacts is None:
            self._artifacts = RestStore(
                self.settings.mlflow_tracking_uri, self.settings, {"experiment_id": ""}
            )
        local = Path(folder) / Path(path).name
        local.write_bytes(self._artifacts.read_bytes(run_id, path))
        return str(local)


def rest_client(settings: ProjectSettings) -> Optional[RestClient]:
    """A :class:`RestClient` for an http(s) tracking URI without the client
    settings only ``MlflowClient`` honours (a token, TLS, other auth)."""
    from ..runner.store import MLFLOW_ONLY_ENV
    from ..runner.tracking import is_http

    uri = settings.mlflow_tracking_uri
    if not is_http(uri):
        return None
    if any(os.environ.get(name) for name in MLFLOW_ONLY_ENV):
        return None
    return RestClient(settings)
