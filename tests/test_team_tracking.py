"""A team's tracking server: `mlops tracking server` on a real PostgreSQL
(pgserver), two projects recording into it at once, the server stopped in
the middle of a pipeline, and the service behaviour a user sees (ready only
once it answers, one-line refusals, one line on Ctrl-C/SIGTERM, no process
left behind). One PostgreSQL and one server for the module: start-up is
what costs here."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from conftest import TOOLS, free_port

sys.path.insert(0, str(TOOLS / "tests"))
from tiny_project import outage_notebook, write_project  # noqa: E402

pytestmark = [pytest.mark.slow]
PROJECTS = ("teama", "teamb")
STAGES = ("prep", "fit")
PASSWORD = "pa55-w0rd-team"  # pragma: allowlist secret


def prefix(package: str) -> str:
    return package.upper() + "_"


def clean_env(root: Path, **settings: str) -> dict[str, str]:
    """The environment of an `mlops` command in ``root``: none of this
    process's MLflow or project settings, the project's package importable."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", *(prefix(p) for p in PROJECTS)))
    }
    env["PYTHONPATH"] = str(root / "src")
    env.update({prefix(root.name) + k: v for k, v in settings.items()})
    return env


def tools(root: Path, *args: str, **settings: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "governed_mlops", *args],
        cwd=root,
        env=clean_env(root, **settings),
        capture_output=True,
        text=True,
        timeout=300,
    )


def leftovers(port: int) -> list[psutil.Process]:
    """Every process still serving ``port`` (mlflow server, uvicorn, jobs)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        line = " ".join(process.info["cmdline"] or [])
        if "mlflow" in line and f"--port {port}" in line:
            found.append(process)
    return found


@dataclass
class Server:
    """`mlops tracking server` as a service manager or a terminal starts it."""

    process: subprocess.Popen
    port: int
    out: Path
    err: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lines(self) -> list[str]:
        return self.out.read_text().splitlines()

    def tree(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)


def start(root: Path, port: int, logs: Path, *args: str, **settings: str) -> Server:
    """Start the server; return once it says it is ready."""
    out, err = logs / f"out-{time.monotonic_ns()}", logs / "err"
    with open(out, "w") as stdout, open(err, "a") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "governed_mlops", "tracking", "server", *args],
            cwd=root,
            env=clean_env(root, MLFLOW_PORT=str(port), **settings),
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            # As a terminal starts it: a suite run in the background passes
            # SIGINT down as ignored, and Ctrl-C would never arrive.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    server = Server(process, port, out, err)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        if any(" ready at " in line for line in server.lines()):
            return server
        time.sleep(0.2)
    stop(server)
    pytest.fail(f"the server did not start:\n{out.read_text()}{err.read_text()}")


def stop(server: Server, sig: int = signal.SIGTERM) -> int:
    if server.process.poll() is None:
        os.kill(server.process.pid, sig)
    try:
        return server.process.wait(timeout=60)
    finally:
        for process in leftovers(server.port):  # never leave one to the suite
            process.kill()


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=5) as reply:
            return reply.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    """A real PostgreSQL server, its URI with a password (trusted locally,
    so only where it shows matters)."""
    import pgserver

    # Under /tmp, not pytest's private folder: as root, pgserver runs
    # PostgreSQL as its own user, who must reach the data folder.
    folder = Path(tempfile.mkdtemp(prefix="pg-"))
    database = pgserver.get_server(folder, cleanup_mode="stop")
    try:
        uri = database.get_uri()  # postgresql://postgres:@/postgres?host=DIR
        yield uri.replace("postgres:@", f"postgres:{PASSWORD}@", 1)
    finally:
        database.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    """Two tiny projects of two stages, their envs built at once."""
    roots = []
    for package in PROJECTS:
        root = tmp_path_factory.mktemp("team") / package
        root.mkdir()
        write_project(
            root,
            package,
            STAGES,
            tools_pin=f"governed-mlops-tools[pipeline] @ {TOOLS.as_uri()}",
        )
        roots.append(root)
    builds = [
        subprocess.Popen(
            [sys.executable, "-m", "governed_mlops", "stage", "create", "--all"],
            cwd=root,
            env=clean_env(root),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for root in roots
    ]
    for build in builds:
        output = build.communicate(timeout=300)[0]
        assert build.returncode == 0, output
    return dict(zip(PROJECTS, roots))


@pytest.fixture(scope="module")
def team(postgres, projects, tmp_path_factory):
    """The team's server on PostgreSQL, its artifacts in a shared folder,
    configured through project teama's settings; a test may restart it."""
    logs = tmp_path_factory.mktemp("server")
    share = logs / "share"
    settings = {
        "MLFLOW_BACKEND_STORE_URI": postgres,
        "MLFLOW_ARTIFACTS_DESTINATION": str(share),
    }
    state = {"settings": settings, "logs": logs, "share": share}
    state["server"] = start(projects["teama"], free_port(), logs, **settings)
    yield state
    stop(state["server"])


def test_the_server_says_ready_once_it_answers_and_keeps_the_password_hidden(
    team, projects
):
    server = team["server"]
    assert answers(server.url)
    starting, ready = server.lines()
    assert starting.startswith(
        "mlops: starting mlflow server: backend postgresql+psycopg2://postgres:***@"
        "/postgres?host="
    )
    assert f"artifacts {team['share']}, " in starting
    assert " 1 worker(s), " in starting or os.cpu_count() != 2
    log = projects["teama"] / "logs" / "mlflow-server.log"
    assert starting.endswith(f"output in {log}")
    assert ready == f"mlops: tracking server ready at {server.url} (Ctrl-C stops it)"
    tree = server.tree()
    assert tree, "mlflow server and its workers"
    for process in tree:
        assert PASSWORD not in " ".join(process.cmdline())
        assert not any("huey" in part for part in process.cmdline()), "no job runner"
    assert PASSWORD not in log.read_text() + server.err.read_text()


def test_two_projects_record_their_pipelines_into_one_server_at_once(team, projects):
    url = team["server"].url
    outputs = {}
    runs = {}
    for package, root in projects.items():
        outputs[package] = root / "pipeline.out"
        with open(outputs[package], "w") as out:
            runs[package] = subprocess.Popen(
                [sys.executable, "-m", "governed_mlops", "pipeline", "run", "--force"],
                cwd=root,
                env=clean_env(root, MLFLOW_TRACKING_URI=url),
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
    for package, process in runs.items():
        assert process.wait(timeout=300) == 0, outputs[package].read_text()
    from mlflow.tracking import MlflowClient

    client = MlflowClient(url)
    experiments = set()
    for package in PROJECTS:
        printed = outputs[package].read_text().splitlines()
        parent = next(line for line in printed if line.startswith("pipeline run "))
        parent_id = parent.split()[-1]
        experiment = client.get_experiment_by_name(package)
        experiments.add(experiment.experiment_id)
        recorded = {
            run.info.run_id: run
            for run in client.search_runs([experiment.experiment_id])
        }
        stage_ids = {
            run_id
            for run_id, run in recorded.items()
            if run.data.tags.get("mlflow.parentRunId") == parent_id
        }
        assert set(recorded) == {parent_id} | stage_ids and len(stage_ids) == 2
        for run_id, run in recorded.items():
            assert run.info.status == "FINISHED"
        for run_id in stage_ids:
            names = {a.path for a in client.list_artifacts(run_id, "audit")}
            stage = recorded[run_id].info.run_name
            assert {f"audit/{stage}.ipynb", "audit/manifest.json"} <= names
            assert list(team["share"].rglob(f"{run_id}/artifacts/audit/manifest.json"))
    assert len(experiments) == 2, "each project in its own experiment"
    # Each project's report reads its own runs from the shared server and
    # links them to the server's UI; none of the other project's.
    sites = {}
    for package, root in projects.items():
        built = tools(root, "report", "build", MLFLOW_TRACKING_URI=url)
        assert built.returncode == 0, built.stderr
        sites[package] = (root / "reports" / "site" / "index.html").read_text()
    for package in PROJECTS:
        experiment = client.get_experiment_by_name(package).experiment_id
        for run in client.search_runs([experiment]):
            link = f'href="{url}/#/experiments/{experiment}/runs/{run.info.run_id}"'
            assert link in sites[package]
            other = sites[next(p for p in PROJECTS if p != package)]
            assert run.info.run_id not in other


def test_the_server_stopped_mid_pipeline_loses_nothing(team, projects):
    """SIGTERM stops the server in one line with nothing left running; the
    runner says what it kept; once the server is back, `mlops audit sync`
    completes the records."""
    root = projects["teamb"]
    server = team["server"]
    (root / "notebooks" / "outage.ipynb").write_text(
        # As the server's service manager would stop it.
        outage_notebook('os.kill(int(os.environ["OUTAGE_PID"]), signal.SIGTERM)', 300),
        "utf-8",
    )
    spec = root / "env_specs" / "stage_fit.yaml"
    before = spec.read_text(encoding="utf-8")
    data = json.loads(before)
    data.update(notebook="notebooks/outage.ipynb", parameters={})
    spec.write_text(json.dumps(data), encoding="utf-8")
    tree = server.tree()
    env = clean_env(root, MLFLOW_TRACKING_URI=server.url)
    env.update(OUTAGE_PID=str(server.process.pid), OUTAGE_PORT=str(server.port))
    try:
        broken = subprocess.run(
            [sys.executable, "-m", "governed_mlops", "pipeline", "run", "--force"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        spec.write_text(before, encoding="utf-8")
    assert server.process.wait(timeout=60) == 0, "a service manager's stop"
    assert server.lines()[-1] == (
        f"mlops: tracking server at {server.url} stopped (SIGTERM)"
    )
    assert "Traceback" not in server.err.read_text()
    assert not any(process.is_running() for process in tree)
    assert leftovers(server.port) == []
    assert broken.returncode == 1 and "Traceback" not in broken.stderr
    message = broken.stderr.split("mlops: error: ")[-1]
    assert message.startswith(
        f"the MLflow tracking store {server.url} stopped answering during stage fit"
    )
    assert "`mlops audit sync` (or the next run)" in message
    fit_id = message.split("Kept on this machine: run ")[1].split(",")[0]

    team["server"] = start(root, server.port, team["logs"], **team["settings"])
    synced = tools(root, "audit", "sync", MLFLOW_TRACKING_URI=server.url)
    assert synced.returncode == 0, synced.stderr
    assert f"{fit_id}: recorded, ended FAILED\n" in synced.stdout
    from mlflow.tracking import MlflowClient

    client = MlflowClient(server.url)
    fit = client.get_run(fit_id)
    assert fit.info.status == "FAILED"
    assert fit.data.tags["failure.error"] == "TrackingStoreUnavailable"
    names = {a.path for a in client.list_artifacts(fit_id, "audit")}
    assert "audit/outage.ipynb" in names
    experiment = client.get_experiment_by_name("teamb")
    runs = client.search_runs([experiment.experiment_id])
    assert all(run.info.status != "RUNNING" for run in runs)
    assert not list((root / ".mlops" / "pending").glob("*.json"))


def test_what_cannot_start_is_refused_in_one_line(team, projects, postgres):
    root = projects["teamb"]
    taken = tools(root, "tracking", "server", MLFLOW_PORT=str(team["server"].port))
    assert taken.returncode == 2 and taken.stdout == ""
    assert taken.stderr.startswith(
        f"mlops: error: port {team['server'].port} on 127.0.0.1 is already in use"
    )
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening
        port = closed.getsockname()[1]
        unreachable = f"postgresql://mlflow:{PASSWORD}@127.0.0.1:{port}/t"
        away = tools(
            root,
            "tracking",
            "server",
            "--port",
            str(free_port()),
            MLFLOW_BACKEND_STORE_URI=unreachable,
        )
    assert away.returncode == 2 and away.stderr.count("\n") == 1
    assert away.stderr.startswith(
        f"mlops: error: the database t on 127.0.0.1:{port} is unreachable ("
    )
    assert "TEAMB_MLFLOW_BACKEND_STORE_URI" in away.stderr
    assert PASSWORD not in away.stderr
    wrong = tools(root, "tracking", "server", "--backend-store-uri", "file:///srv/x")
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1
    assert "unsupported backend 'file://'" in wrong.stderr
    for result in (taken, away, wrong):
        assert "Traceback" not in result.stderr


def test_a_server_that_does_not_answer_in_time_is_stopped_whole(projects):
    port = free_port()
    late = tools(
        projects["teamb"],
        "tracking",
        "server",
        "--port",
        str(port),
        "--start-timeout",
        "2",
    )
    assert late.returncode == 2
    assert late.stderr.startswith(
        f"mlops: error: mlflow server did not answer http://127.0.0.1:{port}/health "
        "within 2 s and was stopped; its output is in "
    )
    assert leftovers(port) == []


def test_ctrl_c_stops_the_server_in_one_line_and_leaves_nothing(team):
    server = team["server"]
    tree = server.tree()
    os.killpg(server.process.pid, signal.SIGINT)  # the terminal's group
    assert server.process.wait(timeout=60) == 130
    assert (
        server.lines()[-1] == f"mlops: tracking server at {server.url} stopped (SIGINT)"
    )
    assert "Traceback" not in server.err.read_text()
    assert server.err.read_text() == ""
    assert not any(process.is_running() for process in tree)
    assert leftovers(server.port) == [] and not answers(server.url)
