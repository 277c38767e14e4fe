"""The tools' store calls with the oldest and the newest mlflow they allow
(``mlflow>=3.9,<4`` in the tools' ``pipeline`` extra): the project's SQLite
store through MlflowClient, and a real `mlflow server` of the same version
through its REST API, each read back with that version's own client.

The newest is the suite's own environment (uv.lock resolves the newest
release below 4); the oldest gets a venv of its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import TOOLS, UV, free_port, run

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("mlflow_versions")]
OLDEST = "3.9"
CYCLE = Path(__file__).with_name("mlflow_cycle.py")


def tools_bound() -> str:
    """The mlflow requirement of the tools' pipeline extra."""
    import tomllib

    extra = tomllib.loads((TOOLS / "pyproject.toml").read_text(encoding="utf-8"))
    pins = extra["project"]["optional-dependencies"]["pipeline"]
    return next(pin for pin in pins if pin.startswith("mlflow"))


@pytest.fixture(scope="module", params=["oldest", "newest"])
def python(request, tmp_path_factory) -> str:
    if request.param == "newest":
        return sys.executable
    venv = tmp_path_factory.mktemp("mlflow-oldest") / "venv"
    run([UV, "venv", "--quiet", "--python", sys.executable, venv], cwd=venv.parent)
    interpreter = venv / "bin" / "python"
    run(
        [UV, "pip", "install", "--quiet", "--python", interpreter]
        + [f"mlflow=={OLDEST}.*", str(TOOLS)],
        cwd=venv.parent,
    )
    return str(interpreter)


def cycle(python: str, uri: str, work: Path) -> dict:
    work.mkdir()
    out = run([python, CYCLE, uri, work], cwd=work).stdout
    return json.loads(out.splitlines()[-1])


def expected(report: dict, store: str) -> None:
    assert report["store"] == store
    assert report["status"] == "FINISHED" and report["ended"]
    assert report["params"] == 150 and report["tag"] == "now"
    assert report["artifacts"] == ["audit/pip-freeze.txt"]
    assert report["found"] and report["has_run"] == [True, False]
    assert report["read"] == f"mlflow=={report['mlflow']}\n"


def test_the_oldest_supported_mlflow_is_the_tools_lower_bound():
    assert tools_bound() == f"mlflow>={OLDEST},<4"


def test_the_sqlite_store_through_mlflowclient(python, tmp_path):
    uri = "sqlite:///" + (tmp_path / "mlflow.db").as_posix()
    report = cycle(python, uri, tmp_path / "work")
    expected(report, "MlflowStore")
    if python != sys.executable:
        assert report["mlflow"].startswith(OLDEST + ".")


def test_a_server_of_the_same_version_through_its_rest_api(python, tmp_path):
    port = free_port()
    backend = "sqlite:///" + (tmp_path / "server.db").as_posix()
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(
        [python, "-m", "mlflow", "server", "--backend-store-uri", backend]
        + ["--artifacts-destination", str(tmp_path / "served")]
        + ["--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        # One worker and no job runner (MLflow 3's GenAI jobs: eight more
        # processes), as `mlops tracking server` starts it.
        env={
            **os.environ,
            "MLFLOW_WORKERS": "1",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        },
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while server.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(uri + "/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            log.flush()
            text = (tmp_path / "server.log").read_text()
            pytest.fail("mlflow server did not start:\n" + text)
        report = cycle(python, uri, tmp_path / "work")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()
    expected(report, "RestStore")
    served = list((tmp_path / "served").rglob("audit/pip-freeze.txt"))
    assert len(served) == 1, "uploaded through the server's artifact proxy"
