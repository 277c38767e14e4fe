"""The notebook runner in a generated project: real kernels, papermill and MLflow.

One project per module (one xdist worker): stage envs built once, then the
sample pipeline, the fault cases, a real `mlflow server` and `mlflow run`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import copy_project, free_port, git, install_project, mlops, run

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("runner")]
STAGES = ("data_prep", "feature_eng", "train", "eval")
PREFIX = "MY_MLOPS_PROJECT_"

RUNS = """
import json, sys
from mlflow.tracking import MlflowClient

client = MlflowClient(sys.argv[1])
experiment = client.get_experiment_by_name("my_mlops_project")
out = []
found = client.search_runs([experiment.experiment_id]) if experiment else []
for run in found:
    out.append({
        "id": run.info.run_id,
        "name": run.info.run_name,
        "status": run.info.status,
        "user": run.info.user_id,
        "artifact_uri": run.info.artifact_uri,
        "times": [run.info.start_time, run.info.end_time],
        "tags": run.data.tags,
        "params": run.data.params,
        "metrics": run.data.metrics,
        "artifacts": [a.path for a in client.list_artifacts(run.info.run_id)]
        + [a.path for a in client.list_artifacts(run.info.run_id, "audit")],
    })
print(json.dumps(out))
"""


def store(project: Path) -> str:
    return "sqlite:///" + (project / "mlruns" / "mlflow.db").as_posix()


def runs(project: Path, uri: str | None = None) -> dict[str, dict]:
    """Every run of the project's experiment, by run id."""
    python = project / ".venv" / "bin" / "python"
    out = run([python, "-c", RUNS, uri or store(project)], cwd=project).stdout
    return {r["id"]: r for r in json.loads(out)}


def audit_dir(run_: dict) -> Path:
    """The run's audit bundle in the project's artifact store (a local folder)."""
    uri = run_["artifact_uri"]
    assert uri.startswith("file:"), uri
    return Path(urllib.request.url2pathname(urllib.parse.urlparse(uri).path)) / "audit"


def head(project: Path) -> str:
    return run(["git", "rev-parse", "HEAD"], cwd=project).stdout.strip()


@pytest.fixture(scope="module")
def project(tmp_path_factory, template_dir):
    """A default project, committed, with its stage envs and one pipeline run."""
    root = copy_project(template_dir, tmp_path_factory.mktemp("r") / "proj")
    install_project(root, "3.11")
    mlops(root, "stage", "create", "--all")
    git("add", "-A", cwd=root)  # the stage locks are committed too
    git("commit", "-q", "-m", "generated", cwd=root)
    return root


@pytest.fixture(scope="module")
def pipeline(project):
    """`mlops pipeline run` of the sample pipeline, and what MLflow recorded;
    then the same again, which finds every stage unchanged, and the runs
    recorded after it."""
    result = mlops(project, "pipeline", "run")
    recorded = runs(project)
    again = mlops(project, "pipeline", "run")
    return result, recorded, again, runs(project)


def test_pipeline_runs_every_stage_under_one_parent(project, pipeline):
    result, recorded, _, _ = pipeline
    for stage in STAGES:
        number = STAGES.index(stage) + 1
        assert f"[{stage}] stage {number}/4: running notebooks/" in result.stderr
    summary = [line.split() for line in result.stdout.splitlines()[2:]]
    assert [row[:2] for row in summary] == [[s, "FINISHED"] for s in STAGES]
    parents = [r for r in recorded.values() if r["name"] == "pipeline"]
    assert len(parents) == 1 and parents[0]["status"] == "FINISHED"
    assert result.stdout.splitlines()[0] == f"pipeline run {parents[0]['id']}"
    children = {r["name"]: r for r in recorded.values() if r["name"] in STAGES}
    assert set(children) == set(STAGES)
    for stage, child in children.items():
        assert child["status"] == "FINISHED"
        assert child["tags"]["mlflow.parentRunId"] == parents[0]["id"]
        assert [row[3] for row in summary if row[0] == stage] == [child["id"]]


def test_an_unchanged_pipeline_is_a_noop_that_says_why(project, pipeline):
    result, recorded, again, after = pipeline
    first = {
        line.split()[0]: line.split()[3] for line in result.stdout.splitlines()[2:]
    }
    rows = [line.split() for line in again.stdout.splitlines()[2:]]
    # Every stage reused, with the run it reuses; none ran.
    assert rows == [[stage, "CACHED", "-", first[stage]] for stage in STAGES]
    for number, stage in enumerate(STAGES, 1):
        assert (
            f"[{stage}] stage {number}/4: skipped, unchanged since run {first[stage]}"
            in again.stderr
        )
    # A no-op: no parent run, nothing new in the store.
    assert again.stdout.splitlines()[0] == (
        "pipeline: every stage unchanged, nothing ran (no run recorded)"
    )
    assert set(after) == set(recorded)


def test_the_pipeline_leaves_the_report_a_current_copy_of_its_runs(project, pipeline):
    """What `mlops report build` reads instead of importing mlflow: the runs
    as the store holds them, stamped with the store's state."""
    from governed_mlops.runner import snapshot

    _, recorded, _, after = pipeline
    copy = snapshot.load(project / ".mlops", store(project), "my_mlops_project")
    assert copy is not None  # the store is as the pipeline left it
    kept = {run["run_id"]: run for run in copy.runs}
    assert {i: r["status"] for i, r in kept.items()} == {
        i: r["status"] for i, r in after.items()
    }
    for run_id, run_ in recorded.items():
        assert kept[run_id]["tags"] == run_["tags"]
        assert kept[run_id]["params"] == run_["params"]
        assert kept[run_id]["metrics"] == run_["metrics"]


def test_every_stage_run_has_its_audit_trail(project, pipeline):
    _, recorded, _, _ = pipeline
    commit = head(project)
    for run_ in (r for r in recorded.values() if r["name"] in STAGES):
        stage, tags = run_["name"], run_["tags"]
        venv_python = project / ".venvs" / stage / "bin" / "python"
        spec = f"env_specs/stage_{stage}.yaml"
        notebook = tags["notebook.path"]
        assert tags["mlflow.source.git.commit"] == commit
        assert tags["mlflow.source.git.branch"] == "main"
        assert tags["git.dirty"] == "false"
        assert tags["stage"] == stage and tags["stage.spec"] == spec
        assert tags["kernel.python"] == str(venv_python)
        version = run(
            [venv_python, "-c", "import platform; print(platform.python_version())"],
            cwd=project,
        )
        assert tags["python.version"] == version.stdout.strip()
        digest = hashlib.sha256((project / notebook).read_bytes()).hexdigest()
        assert tags["notebook.sha256"] == digest
        # The bundle is stored once, in the artifact store.
        assert not (project / "artifacts" / run_["id"]).exists()
        freeze = (audit_dir(run_) / "pip-freeze.txt").read_text()
        expected = hashlib.sha256((freeze.strip() + "\n" + commit).encode()).hexdigest()
        assert tags["env.fingerprint"] == "sha256:" + expected
        assert tags["host"] and tags["mlflow.user"]
        assert tags["run.start"] <= tags["run.end"]
        name = Path(notebook).name
        # Each env's first run keeps its freeze and SBOM.
        assert tags["audit.sbom.kept"] == "true"
        for artifact in (name, "pip-freeze.txt", "sbom.cdx.json", "run.log"):
            assert f"audit/{artifact}" in run_["artifacts"], (stage, artifact)
            assert (audit_dir(run_) / artifact).is_file()
        # The spec, like the notebook and lock, is named at the clean commit.
        manifest = json.loads((audit_dir(run_) / "manifest.json").read_text())
        assert manifest["committed"]["spec"]["path"] == f"env_specs/stage_{stage}.yaml"
        assert f"audit/stage_{stage}.yaml" not in run_["artifacts"]
        executed = json.loads((audit_dir(run_) / name).read_text())
        # Logged: what papermill injected, and every other declared default.
        injected = executed["metadata"]["papermill"]["parameters"]
        assert tags.get("params.injected", "") == ", ".join(sorted(injected))
        assert {k: json.loads(run_["params"][k]) for k in injected} == injected
        assert "scikit-learn==" in freeze


def archived(project: Path) -> set[Path]:
    """The files the project's CI keeps: the Jenkinsfile's archiveArtifacts
    patterns and the GitHub smoke job's upload paths."""
    patterns: list[str] = []
    jenkinsfile = project / "Jenkinsfile"
    if jenkinsfile.is_file():
        found = re.search(
            r"archiveArtifacts artifacts: '([^']+)'", jenkinsfile.read_text()
        )
        assert found, "no archiveArtifacts in the Jenkinsfile"
        patterns += [p.strip() for p in found.group(1).split(",")]
    workflow = project / ".github" / "workflows" / "ci.yml"
    if workflow.is_file():
        steps = yaml.safe_load(workflow.read_text())["jobs"]["smoke"]["steps"]
        for step in steps:
            if step.get("with", {}).get("name") == "smoke-artifacts":
                patterns += [
                    p.rstrip("/") + "/**" for p in step["with"]["path"].split()
                ]
    files = set()
    for pattern in patterns:
        # Ant's "a/**" is every file below a/ (pathlib's "**" matches folders).
        pattern += "/*" if pattern.endswith("**") else ""
        files |= {p for p in project.glob(pattern) if p.is_file()}
    return files


def test_ci_keeps_every_stage_runs_audit_bundle(project, pipeline):
    """What CI archives holds each stage run's executed notebook and record,
    though its runner or workspace is thrown away."""
    _, recorded, _, _ = pipeline
    kept = archived(project)
    for run_ in (r for r in recorded.values() if r["name"] in STAGES):
        name = Path(run_["tags"]["notebook.path"]).name
        for artifact in (name, "run.log", "manifest.json"):
            assert audit_dir(run_) / artifact in kept, (run_["name"], artifact)
    assert project / "mlruns" / "mlflow.db" in kept


def test_eval_metrics_and_figure_are_in_its_run(project, pipeline):
    _, recorded, _, _ = pipeline
    evaluation = next(r for r in recorded.values() if r["name"] == "eval")
    assert evaluation["metrics"]["f1"] > evaluation["metrics"]["baseline_f1"] > 0
    assert "confusion_matrix.png" in evaluation["artifacts"]
    data_prep = next(r for r in recorded.values() if r["name"] == "data_prep")
    assert data_prep["params"]["seed"] == "42"
    # train's own defaults, which no spec or -p gives, are on its run too.
    train = next(r for r in recorded.values() if r["name"] == "train")
    assert {"n_estimators", "max_depth"} <= set(train["params"])
    # Lineage: eval names the train run whose model it scored.
    lineage = evaluation["tags"]["lineage.inputs"].split("; ")
    assert f"models/model.joblib={train['id']}" in lineage
    assert train["id"] in evaluation["tags"]["lineage.runs"].split(",")
    # Both models logged as MLflow models on train's run, one registered under
    # the name its spec gives; eval names the model it scored.
    spec = yaml.safe_load((project / "env_specs" / "stage_train.yaml").read_text())
    name = spec["models"][0]["registered_name"]
    logged = dict(
        pair.split("=", 1) for pair in train["tags"]["models.logged"].split("; ")
    )
    assert set(logged) == {"models/model.joblib", "models/baseline.joblib"}
    assert all(uri.startswith("models:/m-") for uri in logged.values())
    assert train["tags"]["models.registered"] == f"{name}/1"
    assert evaluation["tags"]["lineage.models"] == "; ".join(
        f"{path}={logged[path]}"
        for path in ("models/baseline.joblib", "models/model.joblib")
    )
    assert data_prep["metrics"]["rows_train"] > data_prep["metrics"]["rows_test"]


def test_sources_stay_clean_and_data_lands_under_settings_paths(project, pipeline):
    for notebook in (project / "notebooks").glob("*.ipynb"):
        cells = json.loads(notebook.read_text())["cells"]
        assert all(not c.get("outputs") for c in cells), notebook
    assert (
        list((project / "notebooks").glob("*"))
        == sorted((project / "notebooks").glob("*.ipynb"))
        or len(list((project / "notebooks").iterdir())) == 4
    )
    for produced in (
        "data/interim/train.csv",
        "data/processed/test.csv",
        "models/model.joblib",
    ):
        assert (project / produced).is_file(), produced
    assert (project / "mlruns" / "mlflow.db").is_file()
    assert run(["git", "status", "--porcelain"], cwd=project).stdout == ""


def test_a_later_run_is_recorded_as_the_pipeline_recorded_it(project, pipeline):
    _, recorded, _, _ = pipeline
    before = set(runs(project))
    result = mlops(project, "stage", "run", "data_prep", "-p", "seed=5")
    new = [r for i, r in runs(project).items() if i not in before]
    assert len(new) == 1 and result.stdout.split()[-1] == new[0]["id"]
    later = new[0]
    first = next(r for r in recorded.values() if r["name"] == "data_prep")
    assert later["status"] == "FINISHED" and later["user"] == first["user"]
    # The env's SBOM: kept by the first run, named by the later one.
    assert set(later["tags"]) == set(first["tags"]) - {
        "mlflow.parentRunId",
        "audit.sbom.kept",
    } | {"audit.sbom.run"}
    assert later["tags"]["audit.sbom.run"] == first["id"]
    assert later["tags"]["audit.sbom"] == first["tags"]["audit.sbom"]
    assert later["params"] == {**first["params"], "seed": "5"}
    # ... and its freeze: the later run keeps neither.
    assert later["tags"]["audit.freeze"] == first["tags"]["audit.freeze"]
    assert sorted(later["artifacts"]) == sorted(
        a
        for a in first["artifacts"]
        if a not in ("audit/sbom.cdx.json", "audit/pip-freeze.txt")
    )
    assert set(later["metrics"]) == set(first["metrics"])
    assert later["artifact_uri"] == first["artifact_uri"].replace(
        first["id"], later["id"]
    )
    assert 0 < later["times"][0] < later["times"][1]
    # One line when the stage starts and one when it ends.
    lines = result.stderr.splitlines()
    assert [line.split()[0] for line in lines] == ["[data_prep]", "[data_prep]"]
    assert lines[1].startswith(f"[data_prep] FINISHED, run {later['id']} (")


def test_a_failing_cell_fails_the_run_and_keeps_its_record(project):
    before = set(runs(project))
    result = mlops(project, "stage", "run", "eval", "-p", "threshold=2.0", check=False)
    assert result.returncode == 1
    assert "stage eval failed at cell 4 of notebooks/04-eval.ipynb" in result.stderr
    assert "AssertionError: the model does not beat the baseline" in result.stderr
    assert "Traceback" not in result.stderr.split("mlops: error:")[-1]
    new = [r for i, r in runs(project).items() if i not in before]
    assert len(new) == 1 and new[0]["status"] == "FAILED"
    assert new[0]["params"]["threshold"] == "2.0"
    assert "audit/04-eval.ipynb" in new[0]["artifacts"]
    executed = audit_dir(new[0]) / "04-eval.ipynb"
    assert f"executed notebook: {executed}" in result.stderr
    outputs = [
        o
        for c in json.loads(executed.read_text())["cells"]
        for o in c.get("outputs", [])
    ]
    assert any(o.get("ename") == "AssertionError" for o in outputs)


def test_parameters_are_checked_before_anything_runs(project):
    before = set(runs(project))
    unknown = mlops(project, "stage", "run", "data_prep", "-p", "sed=1", check=False)
    assert unknown.returncode == 2
    assert (
        "stage data_prep: unknown parameter(s) sed for notebooks/01-data-prep.ipynb"
        in unknown.stderr
    )
    assert "declares: sample_fraction, seed, test_size" in unknown.stderr
    wrong_stage = mlops(project, "pipeline", "run", "-p", "nostage.seed=1", check=False)
    assert "parameter 'nostage.seed' names stage 'nostage'" in wrong_stage.stderr
    nobody = mlops(project, "pipeline", "run", "-p", "zzz=1", check=False)
    assert "no stage's notebook declares parameter 'zzz'" in nobody.stderr
    mistyped = mlops(project, "stage", "run", "train", "-p", "seed=abc", check=False)
    assert mistyped.returncode == 2
    assert "stage train: -p seed=abc: the notebook declares int" in mistyped.stderr
    assert set(runs(project)) == before, "a refused run must leave no record"


def test_a_notebook_without_a_parameters_cell_gets_them_first(project):
    notebook = project / "notebooks" / "01-data-prep.ipynb"
    original = notebook.read_text()
    notebook.write_text(original.replace('"parameters"\n', '"params"\n'))
    try:
        untagged = mlops(project, "stage", "run", "data_prep", "-p", "extra=1")
    finally:
        notebook.write_text(original)
    warning = next(
        line for line in untagged.stderr.splitlines() if "no cell tagged" in line
    )
    assert (
        "stage data_prep: notebooks/01-data-prep.ipynb has no cell tagged "
        "'parameters', so its parameters (extra, " in warning
    )
    assert "are injected as its first cell" in warning


def test_a_missing_stage_env_names_the_command(project):
    kernel_dir = project / ".mlops" / "jupyter" / "kernels" / "my-mlops-project-train"
    moved = kernel_dir.with_name("moved")
    kernel_dir.rename(moved)
    try:
        result = mlops(project, "stage", "run", "train", check=False)
    finally:
        moved.rename(kernel_dir)
    assert result.returncode == 2
    assert "run `mlops stage create train`" in result.stderr


def test_a_drifted_env_is_refused_unless_drift_is_allowed(project):
    python = project / ".venvs" / "data_prep" / "bin" / "python"
    uv = project / ".venv" / "bin" / "uv"
    before = set(runs(project))
    run([uv, "pip", "install", "--python", python, "iniconfig==2.0.0"], cwd=project)
    difference = "iniconfig==2.0.0 is installed but not in the lock"
    try:
        refused = mlops(project, "stage", "run", "data_prep", check=False)
        piped = mlops(project, "pipeline", "run", "--only", "data_prep", check=False)
        allowed = mlops(project, "stage", "run", "data_prep", "--allow-drift")
    finally:  # the env is as it was built again: the same distributions
        run([uv, "pip", "uninstall", "--python", python, "iniconfig"], cwd=project)
    for result in (refused, piped):
        assert result.returncode == 2
        assert (
            f"stage data_prep: its env differs from its lock: {difference}; rebuild "
            f"it with `mlops stage create data_prep`, or pass --allow-drift"
        ) in result.stderr
    assert re.search(r"WARNING .*differs from its lock \(--allow-drift", allowed.stderr)
    run_id = allowed.stdout.split()[-1]
    after = runs(project)
    assert set(after) - before == {run_id}, "a refused run must leave no record"
    assert after[run_id]["tags"]["env.drift"] == difference
    assert "WARNING" in (audit_dir(after[run_id]) / "run.log").read_text()
    assert mlops(project, "stage", "create", "data_prep").stdout == (
        "data_prep: up to date\n"
    )


def test_an_unreachable_tracking_server_stops_before_the_notebook(project):
    uri = f"http://127.0.0.1:{free_port()}"
    before = set(runs(project))
    result = mlops(
        project,
        "stage",
        "run",
        "data_prep",
        check=False,
        env={PREFIX + "MLFLOW_TRACKING_URI": uri},
    )
    assert result.returncode == 2
    assert f"the MLflow tracking server {uri} is unreachable" in result.stderr
    assert (
        "nothing was run" in result.stderr and "mlops tracking server" in result.stderr
    )
    assert set(runs(project)) == before


def training(project: Path) -> tuple[subprocess.Popen, str]:
    """`mlops stage run train` (long), once its notebook runs cell 5; and
    what it printed until then."""
    process = subprocess.Popen(
        [project / ".venv" / "bin" / "mlops", "stage", "run", "train"]
        # --verbose: papermill's lines on stderr, the cell running now.
        + ["-p", "n_estimators=200000", "--verbose"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As a terminal starts it: a suite run in the background (nohup, `&`)
        # passes SIGINT down as ignored, and the interrupt would never arrive.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        start_new_session=True,  # a group of its own, as a terminal's job
    )
    return process, read_until(process.stderr, "Executing Cell 5")


def read_until(stream, marker: str, seconds: float = 300) -> str:
    """A process's output read until ``marker`` appears (or it ends, or
    ``seconds`` pass): what it printed until then."""
    deadline = time.monotonic() + seconds
    seen = ""
    while marker not in seen and time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen += line
    return seen


@pytest.mark.parametrize(
    "sig, code, group",
    [
        (signal.SIGINT, 130, True),
        (signal.SIGTERM, 143, True),
        (signal.SIGTERM, 143, False),
    ],
    ids=["ctrl-c", "term", "term-mlops-alone"],
)
def test_an_interrupt_marks_the_run_killed_and_keeps_the_bundle(
    project, sig, code, group
):
    """Ctrl-C reaches the terminal's process group; SIGTERM is what `mlflow
    run` sends the group of an entry point it cancels, and Jenkins a build it
    aborts: both end the run KILLED, none leaves it RUNNING."""
    before = set(runs(project))
    process, seen = training(project)
    time.sleep(2)
    if group:  # the terminal's, mlflow run's, Jenkins': the kernel too
        os.killpg(process.pid, sig)
    else:  # `kill PID`
        process.send_signal(sig)
    _, rest = process.communicate(timeout=300)
    assert process.returncode == code, seen + rest
    new = [r for i, r in runs(project).items() if i not in before]
    assert len(new) == 1 and new[0]["status"] == "KILLED"
    bundle = audit_dir(new[0])
    assert (bundle / "run.log").is_file() and (bundle / "manifest.json").is_file()
    assert "audit/run.log" in new[0]["artifacts"]


def test_a_run_its_killed_process_left_running_is_ended_by_audit_sync(project):
    """SIGKILL (an agent killed, a machine down): nothing in the process can
    end its run; `mlops audit sync` ends it KILLED with what it had written."""
    before = set(runs(project))
    process, seen = training(project)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    (left,) = [r for i, r in runs(project).items() if i not in before]
    assert left["status"] == "RUNNING", seen
    synced = mlops(project, "audit", "sync")
    assert f"{left['id']}: ended KILLED (its mlops process had died)" in synced.stdout
    ended = runs(project)[left["id"]]
    assert ended["status"] == "KILLED"
    assert ended["tags"]["failure.error"].startswith("the mlops process running it")
    assert "audit/run.log" in ended["artifacts"]
    assert not (project / "artifacts" / left["id"]).exists()
    again = mlops(project, "audit", "sync")
    assert again.stdout == "nothing to sync: no run is kept on this machine\n"


def test_a_dirty_tree_is_recorded_with_its_diff(project):
    readme = project / "README.md"
    original = readme.read_text()
    readme.write_text(original + "\nan uncommitted line\n")
    try:
        mlops(project, "stage", "run", "data_prep", "-p", "sample_fraction=0.5")
    finally:
        readme.write_text(original)
    latest = max(
        (r for r in runs(project).values() if r["name"] == "data_prep"),
        key=lambda r: r["tags"]["run.start"] + r["id"],
    )
    assert latest["tags"]["git.dirty"] == "true"
    assert "audit/git.diff" in latest["artifacts"]
    diff = (audit_dir(latest) / "git.diff").read_text()
    assert "+an uncommitted line" in diff


def test_drift_lists_what_changed_since_the_last_good_run(project, pipeline):
    same = mlops(project, "audit", "drift", "feature_eng")
    assert "no drift" in same.stdout
    python = project / ".venvs" / "feature_eng" / "bin" / "python"
    uv = project / ".venv" / "bin" / "uv"
    run([uv, "pip", "uninstall", "--python", python, "joblib"], cwd=project)
    (project / "NOTES.md").write_text("a new commit\n")
    git("add", "NOTES.md", cwd=project)
    git("commit", "-q", "-m", "notes", cwd=project)
    try:
        drift = mlops(project, "audit", "drift", "feature_eng", check=False)
    finally:
        mlops(project, "stage", "create", "feature_eng", "--force")
    assert drift.returncode == 1
    assert "removed    joblib==" in drift.stdout
    assert f"-> {head(project)[:12]}" in drift.stdout


def test_a_real_mlflow_server_records_stage_runs_through_its_artifact_proxy(
    project, tmp_path
):
    """A fresh server store: the first run creates the experiment, both speak
    MLflow's REST API (no mlflow import) and upload through the proxy."""
    port = free_port()
    served = tmp_path / "served"  # the server's own store and artifact folder
    env = {PREFIX + "MLFLOW_PORT": str(port), PREFIX + "MLFLOW_DIR": str(served)}
    server = subprocess.Popen(
        [project / "scripts" / "mlflow_server.sh"],
        cwd=project,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "server.log", "w"),
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    tracked = {PREFIX + "MLFLOW_TRACKING_URI": uri}
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(uri + "/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail(
                "mlflow server did not start:\n" + (tmp_path / "server.log").read_text()
            )
        first = mlops(project, "stage", "run", "data_prep", env=tracked)
        python = project / ".venv" / "bin" / "python"
        second = run(
            [python, "-X", "importtime", "-m", "governed_mlops"]
            + ["stage", "run", "data_prep"],
            cwd=project,
            env=tracked,
        )
        assert not re.search(r"\| +mlflow$", second.stderr, re.M), "not REST"
        recorded = runs(project, uri)
        for result in (first, second):
            run_id = result.stdout.split("run ")[-1].strip()
            assert recorded[run_id]["status"] == "FINISHED"
            assert recorded[run_id]["artifact_uri"].startswith("mlflow-artifacts:/")
            assert "audit/01-data-prep.ipynb" in recorded[run_id]["artifacts"]
            assert recorded[run_id]["metrics"]["rows_train"] > 0
            uploaded = list(served.rglob(f"{run_id}/artifacts/audit/*.ipynb"))
            assert [p.name for p in uploaded] == ["01-data-prep.ipynb"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    assert server.poll() is not None


def test_mlflow_run_entry_point_nests_the_stage_run(project, pipeline):
    """Train needs the processed data of an earlier pipeline run."""
    env = {
        "PATH": f"{project / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_TRACKING_URI": store(project),
    }
    mlflow = project / ".venv" / "bin" / "mlflow"
    # Any notebook parameter passes, typed by the notebook as with -p.
    result = run(
        [mlflow, "run", ".", "-e", "train", "-P", "seed=7", "-P", "max_depth=3"]
        + ["--env-manager", "local", "--experiment-name", "my_mlops_project"],
        cwd=project,
        env=env,
    )
    assert "succeeded" in result.stderr
    recorded = runs(project)
    train = [
        r
        for r in recorded.values()
        if r["name"] == "train" and r["params"].get("seed") == "7"
    ]
    assert len(train) == 1 and train[0]["status"] == "FINISHED"
    assert train[0]["params"]["max_depth"] == "3"
    outer = recorded[train[0]["tags"]["mlflow.parentRunId"]]
    assert outer["tags"].get("mlflow.project.entryPoint") == "train"
    # Without -P the spec's values hold (seed: 42 in stage_train.yaml).
    spec = project / "env_specs" / "stage_train.yaml"
    text = spec.read_text()
    spec.write_text(text.replace("seed: 42", "seed: 13"))
    try:
        before = set(runs(project))
        # In MLflow's Default experiment: the stage runs are not nested there.
        result = run(
            [mlflow, "run", ".", "-e", "train", "--env-manager", "local"],
            cwd=project,
            env=env,
        )
    finally:
        spec.write_text(text)
    (new,) = [r for i, r in runs(project).items() if i not in before]
    assert new["params"]["seed"] == "13" and new["status"] == "FINISHED"
    assert "mlflow.parentRunId" not in new["tags"]
    assert "are not nested under it (give mlflow run --experiment-name" in (
        result.stderr
    )


def test_a_smoke_runs_models_are_logged_not_registered(project, pipeline):
    """A smoke run trains on a sample: its model must not become a version of
    the registered model, and its stage runs say they were smoke runs."""
    before = set(runs(project))
    mlops(project, "pipeline", "run", "--only", "train", "--force", "--smoke")
    (train,) = [
        r for i, r in runs(project).items() if i not in before and r["name"] == "train"
    ]
    assert train["tags"]["pipeline.smoke"] == "true"
    assert "models/model.joblib=models:/m-" in train["tags"]["models.logged"]
    assert "models.registered" not in train["tags"]
    _, recorded, _, _ = pipeline
    real = next(r for r in recorded.values() if r["name"] == "train")
    assert "pipeline.smoke" not in real["tags"]


def test_a_cancelled_mlflow_run_leaves_no_run_running(project, pipeline):
    """SIGTERM to `mlflow run`'s group (how it cancels, how a job is aborted)
    stops `mlflow run` before it ends its own run: `mlops` ends it."""
    env = {
        **os.environ,
        "PATH": f"{project / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_TRACKING_URI": store(project),
    }
    before = set(runs(project))
    process = subprocess.Popen(
        [project / ".venv" / "bin" / "mlflow", "run", ".", "-e", "train"]
        + ["-P", "n_estimators=200000", "--env-manager", "local"]
        + ["--experiment-name", "my_mlops_project"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    seen = read_until(process.stdout, "[train] running")
    time.sleep(5)  # the notebook runs
    os.killpg(process.pid, signal.SIGTERM)
    process.communicate(timeout=300)
    new = [r for i, r in runs(project).items() if i not in before]
    assert len(new) == 2, seen
    outer = next(r for r in new if r["tags"].get("mlflow.project.entryPoint"))
    stage = next(r for r in new if r["tags"].get("stage") == "train")
    assert (outer["status"], stage["status"]) == ("KILLED", "KILLED"), seen
