"""The pipeline report's parts: plots, rendering and escaping, and reading
a real SQLite MLflow store holding runs tagged as the runner tags them."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from governed_mlops.errors import CommandError
from governed_mlops.policy import POLICY_VERSION
from governed_mlops.project import find_project
from governed_mlops.report import build_site, collect, plots, render
from governed_mlops.settings import load

from report_runs import log_pipelines
from tiny_project import imported, mlops, restored_logging, write_project

STAGES = ("data_prep", "feature_eng", "train", "eval")
EVIL = "<script>alert(1)</script>"


def test_a_sparkline_is_numbers_only_and_marks_the_last_value():
    assert plots.sparkline([]) == "" and plots.sparkline([float("nan")]) == ""
    flat = plots.points([2.0, 2.0, 2.0], width=100, height=20)
    assert [y for _, y in flat] == [10.0, 10.0, 10.0]  # a flat line, midway
    rising = plots.points([1.0, 2.0, 3.0], width=100, height=20)
    assert rising[0] == (3.0, 17.0) and rising[-1] == (97.0, 3.0)
    svg = plots.sparkline([1.0, 3.0, 2.0])
    assert svg.startswith("<svg") and 'aria-hidden="true"' in svg
    assert re.fullmatch(r'[<>\w\s="\-.,:/]+', svg)  # no text, no script
    assert svg.count("<circle") == 1


def run(stage: str, status: str = "FINISHED", **tags: str) -> collect.StageRun:
    return collect.StageRun(
        run_id="a" * 32,
        stage=stage,
        status=status,
        start_ms=1_700_000_000_000,
        end_ms=1_700_000_004_000,
        tags={"python.version": "3.11.9", "kernel.name": "k", **tags},
        params={"note": EVIL},
        metrics={"accuracy": 0.9},
    )


def report_of(views: list[collect.StageView], **extra: object) -> collect.Report:
    return collect.Report(
        project=EVIL,
        root=Path("."),
        store="sqlite:///x.db",
        mlflow_url="http://127.0.0.1:5000",
        experiment="e",
        experiment_id="1",
        built="now",
        stages=views,
        others=[],
        pipelines=[],
        versions={"tools": "1"},
        total_runs=1,
        **extra,  # type: ignore[arg-type]
    )


def test_every_recorded_string_is_escaped_on_every_page():
    failed = run(
        EVIL,
        "FAILED",
        **{
            "failure.cell": "2",
            "failure.error": "ValueError",
            "failure.message": "<img src=x onerror=alert(2)>",
        },
    )
    view = collect.StageView(
        name=EVIL,
        slug=collect.slug(EVIL),
        state="FAILED",
        why=EVIL,
        run=failed,
        run_id=failed.run_id,
        history=[failed],
    )
    drift = collect.Drift(EVIL, "b" * 32, "a" * 32, [f"added {EVIL}"])
    report = report_of([view], drift=[drift])
    pages = [
        render.index(report),
        render.stage(report, view),
        render.status(report),
        render.notebook(report, view, failed.run_id, "<p>sanitised</p>"),
    ]
    for html in pages:
        assert "<script" not in html and "<img" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    index = pages[0]
    assert "failed at cell 2: <strong>ValueError</strong>: &lt;img src=x" in index
    assert view.slug.startswith("stage-") and f"stages/{view.slug}.html" in index
    assert 'href="http://127.0.0.1:5000/#/experiments/1/runs/' + "a" * 32 in index
    assert "<p>sanitised</p>" in pages[3]  # the notebook's own (clean) HTML


def test_the_mlflow_ui_address_comes_from_the_option_setting_or_store():
    class Settings:  # the settings' fields it reads
        mlflow_tracking_uri = "sqlite:///x.db"
        mlflow_host = "127.0.0.1"
        mlflow_port = 5001

    settings: Any = Settings()
    assert collect.mlflow_ui_url(settings) == "http://127.0.0.1:5001"
    settings.mlflow_tracking_uri = "https://mlflow.example.com/"
    assert collect.mlflow_ui_url(settings) == "https://mlflow.example.com"
    # the scheme in any case, as MLflow reads it; a link holds no login
    settings.mlflow_tracking_uri = (
        "HTTPS://ci:pw@mlflow.example.com:8443"  # pragma: allowlist secret
    )
    assert collect.mlflow_ui_url(settings) == "https://mlflow.example.com:8443"
    settings.mlflow_ui_url = "https://ui.example.com/"  # the optional setting
    assert collect.mlflow_ui_url(settings) == "https://ui.example.com"
    assert collect.mlflow_ui_url(settings, "http://x:1") == "http://x:1"


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = tmp_path / "rep"
    root.mkdir()
    write_project(root, "repgov", STAGES, git=False)
    for name in [n for n in os.environ if n.startswith(("REPGOV_", "MLFLOW_"))]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(root)
    with imported(root, "repgov"), restored_logging():
        yield find_project()


def test_no_runs_yet_is_a_page_saying_how_to_make_some(project):
    result = mlops("report", "build")
    assert result.code == 0, result.err
    site = project.root / "reports" / "site"
    assert result.out == f"report written to {site / 'index.html'}\n"
    index = (site / "index.html").read_text()
    assert "No runs yet" in index and "mlops pipeline run" in index
    assert not (project.root / "mlruns").exists()  # no store made for it
    status = (site / "status.html").read_text()
    assert f"Policy {POLICY_VERSION}: <strong>" in status
    assert "No stage has two runs to compare yet" in status
    assert sorted(p.name for p in (site / "stages").iterdir()) == [
        f"{name}.html" for name in sorted(STAGES)
    ]


def test_the_pages_name_the_project_as_people_do(project):
    """The answer project_name as typed (escaped), not the distribution name."""
    answers = project.root / ".copier-answers.yml"
    answers.write_text('project_name: "Prévisions <Météo> 天气"\n', encoding="utf-8")
    assert mlops("report", "build").code == 0
    index = (project.root / "reports" / "site" / "index.html").read_text("utf-8")
    assert "Pipeline of Prévisions &lt;Météo&gt; 天气" in index
    answers.write_text("project_name: [not, text]\n", encoding="utf-8")
    assert find_project().title == "repgov"  # the distribution's name instead


def test_an_unreachable_server_is_one_line_and_nothing_is_written(project, monkeypatch):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("REPGOV_MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    result = mlops("report", "build")
    assert result.code == 2 and len(result.err.splitlines()) == 1
    assert result.err.startswith("mlops: error: the MLflow tracking server http://")
    assert "no report was written" in result.err
    assert not (project.root / "reports").exists()


def test_a_mistyped_sqlite_store_is_refused_and_the_site_kept(project, monkeypatch):
    from governed_mlops.report.site import write_site

    site = project.root / "reports" / "site"
    write_site(site, {"index.html": "the last report"})
    missing = project.root / "no-such-dir" / "mlflow.db"
    monkeypatch.setenv("REPGOV_MLFLOW_TRACKING_URI", f"sqlite:///{missing}")
    result = mlops("report", "build")
    assert result.code == 2 and len(result.err.splitlines()) == 1
    assert f"the MLflow store {missing} (MLFLOW_TRACKING_URI) does not exist" in (
        result.err
    )
    assert (site / "index.html").read_text() == "the last report"
    assert not missing.parent.exists()


def test_the_report_reads_a_sqlite_store_of_pipeline_runs(project, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("REPGOV_MLFLOW_UI_URL", "https://mlflow.example.com/")
    settings = load(project)
    client = MlflowClient(settings.mlflow_tracking_uri)
    experiment = client.create_experiment(settings.mlflow_experiment)
    made = log_pipelines(
        client,
        experiment,
        3,
        STAGES,
        "repgov",
        fail=("train", "2", "AssertionError", "seed must not be negative"),
        cached=("data_prep",),
    )
    client.create_run(experiment, tags={"stage": EVIL, "python.version": "3.11"})
    found = collect.collect(project, settings, client=client, details=False)
    assert (
        found.total_runs == 3 * 5 - 2 + 1
        and found.pipeline.run_id == made[-1]["pipeline"]
    )
    states = {v.name: (v.state, v.why) for v in found.stages}
    assert states == {
        "data_prep": ("CACHED", f"skipped: unchanged since run {made[1]['data_prep']}"),
        "feature_eng": ("FINISHED", "parameters changed: seed"),
        "train": ("FAILED", "parameters changed: seed"),
        "eval": ("SKIPPED", "not run: stage train failed before it"),
    }
    train = found.stages[2]
    assert train.run is not None and train.run.failure == collect.Failure(
        "2", "AssertionError", "seed must not be negative"
    )
    assert train.python == "3.11.9" and train.kernel == "repgov-train"
    assert [r.metrics["rows"] for r in found.stages[1].history] == [1002, 1001, 1000]
    assert [v.name for v in found.others] == [EVIL]

    site = build_site(project, settings, project.root / "out", client=client)
    index = (site / "index.html").read_text()
    assert 'data-stage="train" data-state="FAILED"' in index
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index and "<script" not in index
    links = re.findall(r'href="([^"]+)"', index)
    local = [link for link in links if not link.startswith("http")]
    assert local and all((site / link).is_file() for link in local)
    train = made[-1]["train"]
    assert (
        f'href="https://mlflow.example.com/#/experiments/{experiment}/runs/{train}"'
        in index
    )
    stage_page = (site / "stages" / "feature_eng.html").read_text()
    assert stage_page.count('<svg class="spark"') == 3  # accuracy, rows, duration
    assert not list(project.root.glob(".out.*"))  # the temporary folder is gone


def test_a_store_that_cannot_be_read_is_one_line(project):
    store = project.root / "mlruns" / "mlflow.db"
    store.parent.mkdir()
    store.write_text("not a database")
    result = mlops("report", "build")
    assert result.code == 2 and len(result.err.splitlines()) == 1, result.err
    assert result.err.startswith(
        f"mlops: error: the MLflow tracking store sqlite:///{store} could not be read ("
    )
    assert result.err.endswith("; no report was written\n")
    assert not (project.root / "reports").exists()


def test_a_notebooks_outputs_are_sanitised(tmp_path):
    from governed_mlops.report.notebooks import to_html

    cells = [
        {
            "cell_type": "code",
            "execution_count": 1,
            "id": "c1",
            "metadata": {},
            "source": ["print('<b>hello</b>')"],
            "outputs": [
                {
                    "output_type": "display_data",
                    "metadata": {},
                    "data": {
                        "text/html": [
                            "<b>bold</b><script>alert(1)</script>",
                            "<img src=x onerror=alert(2)>",
                            "<img src='https://cdn.example.com/pixel.png' alt='px'>",
                            # What pandas writes before a DataFrame's table.
                            "<style scoped>\n    .dataframe tbody tr th:only-of-type"
                            " {\n        vertical-align: middle;\n    }\n</style>",
                            "<table class='dataframe'><tr><td>1</td></tr></table>",
                        ]
                    },
                },
                {"output_type": "stream", "name": "stdout", "text": ["<i>x</i>\n"]},
            ],
        },
        {
            "cell_type": "markdown",
            "id": "m1",
            "metadata": {},
            "source": [
                "# Stage `eval`\n\nScores the *model*.\n\n",
                f"{EVIL}\n\n<a href='data:text/html,x'>link</a>\n",
            ],
        },
    ]
    notebook = tmp_path / "run.ipynb"
    notebook.write_text(
        json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    html = to_html(notebook)
    assert "<b>bold</b>" in html  # kept: harmless markup
    assert '<h1 id="Stage-eval">Stage <code>eval</code>' in html
    assert "<p>Scores the <em>model</em>.</p>" in html
    assert "<script" not in html and "&lt;script&gt;alert(1)" in html  # as text
    assert not re.search(r"<[^>]*\bon\w+=", html)  # no event attribute
    assert "<a>link</a>" in html  # a data: link loses its target
    assert '<img alt="px"/>' in html and "cdn.example.com" not in html  # not fetched
    assert "style" not in html and "vertical-align" not in html  # dropped, unshown
    assert '<table class="dataframe"><tbody><tr><td>1</td></tr></tbody></table>' in html
    assert "&lt;i&gt;x&lt;/i&gt;" in html  # printed text stays text


def start_serve(project, *options: str) -> subprocess.Popen:
    """`mlops report serve --port 0 OPTIONS` in the project, as a terminal
    starts it: a suite run in the background passes SIGINT down as ignored,
    and Ctrl-C would never arrive."""
    return subprocess.Popen(
        [sys.executable, "-m", "governed_mlops", "report", "serve", "--port", "0"]
        + list(options),
        cwd=project.root,
        env={**os.environ, "PYTHONPATH": str(project.root / "src")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def test_serve_answers_the_pages_and_stops_on_ctrl_c(project):
    server = start_serve(project)
    try:
        first = server.stdout.readline()
        assert first.startswith("serving the pipeline report at http://127.0.0.1:")
        url = first.split(" at ")[1].split()[0]
        with urllib.request.urlopen(url) as answer:
            assert "No runs yet" in answer.read().decode()
        with urllib.request.urlopen(url + "stages/train.html") as answer:
            assert "Stage train: run history" in answer.read().decode()
        with urllib.request.urlopen(url + "style.css") as answer:
            assert answer.headers["Content-Type"].startswith("text/css")
        with urllib.request.urlopen(url + "favicon.ico") as answer:
            assert answer.status == 204  # no 404 in the browser's console
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(url + "stages/nosuch.html")
        assert missing.value.code == 404
        store = project.root / "mlruns" / "mlflow.db"  # a store, unreadable
        store.parent.mkdir()
        store.write_text("not a database")
        with pytest.raises(urllib.error.HTTPError) as broken:
            urllib.request.urlopen(url)
        assert broken.value.code == 503
        page = broken.value.read().decode()
        assert "could not be read" in page and "; the page was not made" in page
        assert "no report was written" not in page
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0
    assert err == "report server stopped\n"


def test_a_site_is_swapped_in_whole_and_a_failed_swap_keeps_the_old_one(
    tmp_path, monkeypatch
):
    from governed_mlops.report.site import write_site

    site = tmp_path / "reports" / "site"
    write_site(site, {"index.html": "first", "stages/a.html": "a"})
    write_site(site, {"index.html": "second"})
    assert (site / "index.html").read_text() == "second"
    assert not (site / "stages").exists(), "nothing of the old site is left"
    assert sorted(p.name for p in site.parent.iterdir()) == ["site"]

    real_rename = Path.rename

    def refuse_new_site(self: Path, target: Any) -> Any:
        if self.name.startswith(".site.") and "old" not in self.name:
            raise PermissionError(13, "in use", str(target))  # e.g. Windows
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", refuse_new_site)
    with pytest.raises(CommandError, match="cannot replace the report at .*in use"):
        write_site(site, {"index.html": "third"})
    assert (site / "index.html").read_text() == "second"
    assert sorted(p.name for p in site.parent.iterdir()) == ["site"]


def test_a_target_that_is_not_a_report_is_refused_untouched(tmp_path):
    from governed_mlops.report.site import write_site

    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    (project / "notebook.ipynb").write_text("{}")
    with pytest.raises(CommandError, match="not a report .*Nothing was written"):
        write_site(project, {"index.html": "x"})  # `--output .` in a project
    assert sorted(p.name for p in project.iterdir()) == [".git", "notebook.ipynb"]
    afile = tmp_path / "afile.txt"
    afile.write_text("mine")
    with pytest.raises(CommandError, match="a file, not a folder"):
        write_site(afile, {"index.html": "x"})
    assert afile.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile.txt", "project"]
    (tmp_path / "empty").mkdir()
    assert (write_site(tmp_path / "empty", {"index.html": "x"}) / "index.html").exists()
    blocked = tmp_path / "afile.txt" / "site"  # its parent is a file
    with pytest.raises(CommandError, match="cannot write the report to"):
        write_site(blocked, {"index.html": "x"})


def pages_of(site: Path) -> dict[str, str]:
    """The site's pages, the build time left out."""
    return {
        str(path.relative_to(site)): re.sub(
            r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", "", text
        )
        for path in sorted(site.rglob("*.html"))
        if (text := path.read_text())
    }


def test_a_build_reads_the_runs_copy_only_while_the_store_is_unchanged(project):
    from mlflow.tracking import MlflowClient

    from governed_mlops.report.snapshot_client import Keeping, SnapshotClient
    from governed_mlops.runner import snapshot

    settings = load(project)
    client = MlflowClient(settings.mlflow_tracking_uri)
    experiment = client.create_experiment(
        settings.mlflow_experiment,
        artifact_location=settings.mlflow_artifacts_dir.as_uri(),
    )
    made = log_pipelines(client, experiment, 2, STAGES, "repgov")
    train = made[-1]["train"]
    notebook = project.root / "train.ipynb"
    notebook.write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    client.log_artifact(train, str(notebook), "audit")
    client.set_tag(train, "notebook.path", "notebooks/train.ipynb")

    first = collect.open_client(settings, project.state_dir)
    assert isinstance(first, Keeping)  # no copy yet: the store is read
    read = build_site(project, settings, project.root / "read", client=first)
    assert (project.state_dir / snapshot.FILE).is_file()
    copied = collect.open_client(settings, project.state_dir)
    assert isinstance(copied, SnapshotClient)
    site = build_site(project, settings, project.root / "copied", client=copied)
    assert pages_of(site) == pages_of(read)
    assert f"notebooks/{train}.html" in pages_of(site)  # read from file: artifacts
    with pytest.raises(ValueError, match="leaves the run's artifacts"):
        copied.download_artifacts(train, "../../x", str(project.root))

    # A write from outside the tools: the copy is outdated, the store is read.
    client.set_tag(made[-1]["eval"], "cache.reason", "changed outside")
    assert (
        snapshot.load(
            project.state_dir, settings.mlflow_tracking_uri, settings.mlflow_experiment
        )
        is None
    )
    assert isinstance(collect.open_client(settings, project.state_dir), Keeping)
    result = mlops("report", "build")
    assert result.code == 0, result.err
    page = (project.root / "reports" / "site" / "stages" / "eval.html").read_text()
    assert "changed outside" in page


def test_a_command_that_wrote_runs_advances_the_copy_it_started_from(project):
    from mlflow.tracking import MlflowClient

    from governed_mlops.runner import snapshot, store

    settings = load(project)
    uri, name = settings.mlflow_tracking_uri, settings.mlflow_experiment

    def current() -> dict[str, str]:
        copy = snapshot.load(project.state_dir, uri, name)
        assert copy is not None
        return {run["run_id"]: run["status"] for run in copy.runs}

    # A store that did not exist at the command's start: the copy is its runs.
    runner = store.open_store(settings)
    parent = runner.create_run({"pipeline.stages": "train"})
    child = runner.create_run({"stage": "train", "mlflow.parentRunId": parent})
    client = MlflowClient(uri)
    # A run the stage's notebook starts itself, which the runner never touches.
    own = client.create_run(runner.experiment_id, tags={"by": "notebook"}).info.run_id
    client.log_metric(child, "accuracy", 0.9)
    runner.set_terminated(child, "FINISHED", store.millis())
    runner.finish(project.state_dir)
    assert current() == {parent: "RUNNING", child: "FINISHED", own: "RUNNING"}

    # The next command ends the runs the copy had as running.
    later = store.open_store(settings)
    later.set_terminated(parent, "FINISHED", store.millis())
    client.set_terminated(own, "KILLED")
    later.finish(project.state_dir)
    assert current() == {parent: "FINISHED", child: "FINISHED", own: "KILLED"}
    copy = snapshot.load(project.state_dir, uri, name)
    assert [r["metrics"] for r in copy.runs if r["run_id"] == child] == [
        {"accuracy": 0.9}
    ]

    # A write between the copy and a command's start: the copy is not advanced.
    client.set_tag(own, "edited", "outside")
    stale = store.open_store(settings)
    stale.create_run({"stage": "eval"})
    stale.finish(project.state_dir)
    assert snapshot.load(project.state_dir, uri, name) is None


def test_the_copy_reads_artifacts_only_where_mlflow_keeps_them_locally(tmp_path):
    from governed_mlops.report.snapshot_client import local_root

    assert local_root(tmp_path.as_uri()) == str(tmp_path)
    assert local_root(str(tmp_path)) == str(tmp_path)  # no artifact location given
    for elsewhere in ("mlflow-artifacts:/1/x", "s3://bucket/1/x", "relative/x"):
        assert local_root(elsewhere) == ""


def test_drift_reads_each_runs_freeze_where_it_is_kept(tmp_path):
    """A later run of an env names the run that keeps its freeze
    (``audit.sbom.run``); the drift table reads the freeze there."""
    from dataclasses import replace

    kept = {"k" * 32: "pandas==2.2.0\n", "b" * 32: "pandas==2.2.3\n"}

    class Artifacts:
        """download_artifacts as MlflowClient does it, from ``kept`` only."""

        def download_artifacts(self, run_id: str, path: str, dst: str) -> str:
            assert path == "audit/pip-freeze.txt"
            target = Path(dst, "pip-freeze.txt")
            target.write_text(kept[run_id], encoding="utf-8")  # KeyError: not kept
            return str(target)

    holder = replace(run("s", **{"env.fingerprint": "1"}), run_id="k" * 32)
    before = replace(
        run("s", **{"env.fingerprint": "1", "audit.freeze": "x"}),
        run_id="a" * 32,
        start_ms=holder.start_ms + 1,
    )
    before.tags["audit.sbom.run"] = holder.run_id
    after = replace(
        run("s", **{"env.fingerprint": "2", "audit.freeze": "y"}),
        run_id="b" * 32,
        start_ms=before.start_ms + 1,
    )
    after.tags["audit.sbom.kept"] = "true"
    view = collect.StageView("s", "s", "FINISHED", run=after, history=[after, before])
    found = collect.drift(Artifacts(), view)
    assert found is not None and found.note == ""
    assert found.changes == ["upgraded   pandas 2.2.0 -> 2.2.3"]


def _stage_run(run_id: str, stage: str, status: str = "FINISHED", parent: str = ""):
    tags = {"stage": stage, "notebook.path": f"notebooks/{stage}.ipynb"}
    if parent:
        tags["mlflow.parentRunId"] = parent
    return collect.StageRun(run_id, stage, status, 1000, 2000, tags, {}, {})


def _pipeline(run_id: str, status: str, stages: str):
    tags = {"pipeline.stages": stages}
    return collect.PipelineRun(run_id, status, 1000, None, tags, {})


def test_a_stage_the_running_pipeline_has_not_reached_is_waiting_not_never_run():
    earlier = _stage_run("e" * 32, "train")
    running = _pipeline("p" * 32, "RUNNING", "data_prep,train")
    children = {"data_prep": _stage_run("d" * 32, "data_prep", "RUNNING", "p" * 32)}
    state = collect.latest_state("train", running, children, [earlier], {})
    assert state == ("WAITING", "waiting: the pipeline is still running", None, "")
    assert render.STATES["WAITING"] == ("none", "waiting")
    # The runner gave up on it (the store went away; its end is kept here).
    kept = frozenset({"p" * 32, "d" * 32})
    assert collect.latest_state("train", running, children, [earlier], {}, kept)[
        :2
    ] == (
        "SKIPPED",
        "not run: the pipeline stopped when the tracking store went away "
        "(`mlops audit sync` records its end)",
    )
    prep = collect.latest_state("data_prep", running, children, [], {}, kept)
    assert prep[:2] == ("RUNNING", collect.STOPPED)


def _tagged(run: collect.StageRun, **tags: str) -> collect.StageRun:
    return collect.StageRun(
        run.run_id, run.stage, run.status, run.start_ms, run.end_ms,
        {**run.tags, **tags}, run.params, run.metrics,
    )  # fmt: skip


def test_a_killed_pipeline_shows_only_what_it_ran_and_why_it_stopped():
    """After a SIGKILL and `mlops audit sync`, the pipeline's run had no
    pipeline.* tags but the first: its other stages showed other pipelines'
    (and smoke) runs as finished, and a stopped stage "failed outside a cell"."""
    p, pipeline_id = "p" * 32, "p" * 32
    killed = _pipeline(pipeline_id, "KILLED", "data_prep,train,eval")
    killed.tags.update(
        {
            "pipeline.cached": "data_prep",  # tagged as decided, not at the end
            "cache.data_prep.reused": "d" * 32,
            "cache.data_prep.reason": "unchanged since run dddd",
        }
    )
    synced = _tagged(
        _stage_run("t" * 32, "train", "KILLED", p),
        **{"failure.error": "the mlops process running it ended...", "run.ended_by":
           "mlops audit sync"},
    )  # fmt: skip
    smoke_eval = _tagged(_stage_run("s" * 32, "eval"), **{"pipeline.smoke": "true"})
    children = {"train": synced}
    state = collect.latest_state("train", killed, children, [synced], {})
    assert state[0] == "KILLED" and state[1].startswith(
        "stopped: its mlops process was killed, and `mlops audit sync` ended it"
    )
    assert synced.failure is None and synced.seconds is None  # no sync-long time
    assert collect.latest_state("eval", killed, children, [smoke_eval], {})[:2] == (
        "SKIPPED",
        "not run: stage train was stopped before it",
    )
    assert collect.latest_state("data_prep", killed, children, [], {})[0] == "CACHED"
    # Ctrl-C or SIGTERM: stopped, not failed.
    interrupted = _stage_run("i" * 32, "train", "KILLED", p)
    why = collect.latest_state("train", killed, {"train": interrupted}, [], {})[1]
    assert why == "stopped (Ctrl-C or SIGTERM)" and interrupted.failure is None


def test_a_run_whose_process_is_gone_is_not_shown_running_for_ever():
    running = _pipeline("p" * 32, "RUNNING", "data_prep,train")
    train = _stage_run("t" * 32, "train", "RUNNING", "p" * 32)
    orphaned = frozenset({"p" * 32, "t" * 32})
    children = {"train": train}
    shown = collect.latest_state("train", running, children, [], {}, orphaned=orphaned)
    assert shown[:2] == ("RUNNING", collect.ORPHANED)
    waiting = collect.latest_state(
        "data_prep", running, children, [], {}, orphaned=orphaned
    )
    assert waiting[:2] == ("SKIPPED", f"not run: the pipeline's {collect.ORPHANED}")


def test_a_stage_outside_the_latest_pipeline_shows_its_latest_full_run():
    full = _stage_run("f" * 32, "data_prep")
    smoke = _tagged(_stage_run("s" * 32, "data_prep"), **{"pipeline.smoke": "true"})
    only_eval = _pipeline("p" * 32, "FINISHED", "eval")
    shown = collect.latest_state("data_prep", only_eval, {}, [smoke, full], {})
    assert shown[3] == "f" * 32
    alone = collect.latest_state("data_prep", None, {}, [smoke], {})
    assert alone[3] == "s" * 32 and alone[1].startswith("a smoke run")


def test_smoke_runs_are_marked_and_left_out_of_a_stages_metrics():
    full = collect.StageRun(
        "f" * 32, "eval", "FINISHED", 1000, 5000, {}, {}, {"f1": 0.9}
    )
    smoke = collect.StageRun(
        "s" * 32, "eval", "FINISHED", 6000, 7000, {"pipeline.smoke": "true"}, {},
        {"f1": 0.99},
    )  # fmt: skip
    view = collect.StageView(
        "eval", "eval", "FINISHED", run=full, history=[smoke, full]
    )
    page = render.stage(report_of([view]), view)
    assert '<strong class="smoke">smoke run</strong>' in page
    assert "<td>f1</td>" in page and "0.99</td>" not in page.split("Runs (newest")[0]


def test_a_skipped_stage_keeps_the_notebook_page_of_its_last_run(tmp_path):
    from governed_mlops.report.site import notebook_pages

    last = _stage_run("a" * 32, "eval")
    report = collect.Report(
        "p", tmp_path, "sqlite:///x", "http://m", "e", "1", "now", [], [], [], {}
    )
    report.stages.append(
        collect.StageView(
            "eval", "eval", "SKIPPED", "not run: stage train failed", history=[last]
        )
    )
    asked = []

    class Client:
        def download_artifacts(self, run_id: str, path: str, folder: str) -> str:
            asked.append((run_id, path))
            notebook = Path(folder) / "eval.ipynb"
            notebook.write_text(
                json.dumps(
                    {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
                )
            )
            return str(notebook)

    pages = notebook_pages(report, Client(), tmp_path / "state")
    assert list(pages) == [f"notebooks/{'a' * 32}.html"]
    assert report.notebooks == {"a" * 32}
    assert asked and asked[0][0] == "a" * 32


@pytest.mark.parametrize(
    ("host", "alone"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False)]
    + [("::", False), ("192.0.2.7", False), ("report.example.org", False)],
)
def test_only_a_loopback_host_keeps_the_pages_to_this_machine(host, alone):
    from governed_mlops.report.serve import address, loopback_only

    assert loopback_only(host) is alone
    shown = f"[{host}]" if ":" in host else host
    assert address(host, 8051) == f"http://{shown}:8051/"


def test_serve_on_every_address_says_the_pages_are_open(project):
    server = start_serve(project, "--host", "0.0.0.0")
    try:
        first, second = server.stdout.readline(), server.stdout.readline()
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)
    assert first.startswith("serving the pipeline report at http://0.0.0.0:")
    assert second == (
        "the pages are open to every machine that can reach 0.0.0.0, with no "
        "login: --host 127.0.0.1 keeps them to this one\n"
    )


def test_served_notebook_images_come_from_the_site_not_the_page(tmp_path):
    """`report serve` answers a notebook's figure at the path its page names."""
    from governed_mlops.report import serve
    from governed_mlops.report.notebooks import split_images

    html = '<img src="data:image/png;base64,iVBORw0KGgo=" alt="fig">'
    body, files = split_images(html, "b" * 32)
    ((path, data),) = files.items()
    assert body == f'<img src="{path.removeprefix("notebooks/")}" alt="fig">'
    assert data == b"\x89PNG\r\n\x1a\n"
    # An SVG stays inline, where no script of it runs; text is left as text.
    svg = '<img alt="s" src="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=">'
    text = '<pre>x.src="data:image/png;base64,iVBORw0KGgo="</pre>'
    assert split_images(svg + text, "b" * 32) == (svg + text, {})

    class Pages(serve.Pages):
        def notebook(self, run_id: str):
            return "<p>page</p>", files

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(serve, "Pages", lambda *args: Pages(*args))
    try:
        app = serve.make_app(None, None)  # type: ignore[arg-type]
        client = app.test_client()
        answer = client.get("/" + path)
        assert answer.status_code == 200 and answer.data == data
        assert answer.headers["Content-Type"] == "image/png"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert client.get(f"/notebooks/{'b' * 32}/nosuch.png").status_code == 404
    finally:
        monkeypatch.undo()


def test_serve_converts_a_running_stages_notebook_once_for_its_page_and_images(
    tmp_path,
):
    """Its page is not cached (the run goes on); its figures, asked for just
    after the page, come from that page, not from three more conversions."""
    from governed_mlops.report import serve

    figure = "iVBORw0KGgoAAAANSUhEUg=="  # a PNG's first bytes
    outputs = [
        {"output_type": "display_data", "metadata": {}, "data": {"image/png": figure}}
    ]
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": 1,
                "id": "c1",
                "metadata": {},
                "outputs": outputs,
                "source": "plot()",
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    running = _stage_run("c" * 32, "train", "RUNNING")
    downloads = []

    class Client:
        def download_artifacts(self, run_id: str, path: str, folder: str) -> str:
            downloads.append(run_id)
            local = Path(folder) / "train.ipynb"
            local.write_text(json.dumps(notebook))
            return str(local)

    class Pages(serve.Pages):
        def client(self):
            return Client()

        def report(self, details=False, notebooks=True):
            found = collect.Report(
                "p",
                tmp_path,
                "sqlite:///x",
                "http://m",
                "e",
                "1",
                "now",
                [],
                [],
                [],
                {},
            )
            found.stages.append(
                collect.StageView("train", "train", "RUNNING", "", history=[running])
            )
            return found

    project: Any = SimpleNamespace(state_dir=tmp_path / "state")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(serve, "Pages", Pages)
    try:
        client = serve.make_app(project, None).test_client()  # type: ignore[arg-type]
        page = client.get(f"/notebooks/{'c' * 32}.html").get_data(as_text=True)
        (src,) = re.findall(r'src="(c{32}/[0-9a-f]{16}\.png)"', page)
        for _ in range(3):
            answer = client.get(f"/notebooks/{src}")
            assert answer.status_code == 200 and answer.data.startswith(b"\x89PNG")
        assert downloads == ["c" * 32]
        assert client.get(f"/notebooks/{'c' * 32}/nosuch.png").status_code == 404
        assert downloads == ["c" * 32] * 2  # an image the page did not name
    finally:
        monkeypatch.undo()
