"""The tools run in this process on a tiny project: real stage envs built by
uv, real Jupyter kernels running a parameterised notebook through papermill,
real MLflow stores (the SQLite store and a tracking server), as `mlops` runs
them in a generated project, but measured by the suite's coverage.

The project (governed-mlops-tools/tests/tiny_project.py) has two stages whose
envs hold only ipykernel and the project's dependencies; they are built once
per module (one xdist worker). Tests that change an env, a spec or a setting
put it back before they end.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from urllib.parse import quote
from pathlib import Path
from typing import Iterator

import pytest

from conftest import TOOLS, TOOLS_VERSION, UV, free_port

sys.path.insert(0, str(TOOLS / "tests"))
from tiny_project import (  # noqa: E402
    PARAMETERS,
    Result,
    built_project,
    code_cell,
    commit,
    mlops,
    notebook_json,
    outage_notebook,
)

from governed_mlops.project import Project, find_project  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("tools_in_process")]
PACKAGE = "tinygov"
STAGES = ("prep", "fit")
PREFIX = PACKAGE.upper() + "_"
# A small package from the index, installed by hand into a stage env.
EXTRA = "iniconfig==2.0.0"
# A package index that takes any login: where a private index would be.
PRIVATE = "https://pypi.org/simple/"


def settings():
    config = sys.modules[f"{PACKAGE}.config"]
    return config.get_settings()


def set_env(patch: pytest.MonkeyPatch, **values: str) -> None:
    """Project settings from the environment, read again by the next command."""
    for name, value in values.items():
        patch.setenv(PREFIX + name, value)
    sys.modules[f"{PACKAGE}.config"].get_settings.cache_clear()


def git_head(root: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True
    ).stdout.strip()


def uv_pip(root: Path, stage: str, *args: str) -> None:
    python = root / ".venvs" / stage / "bin" / "python"
    subprocess.run(
        [UV, "pip", *args, "--python", python],
        cwd=root,
        check=True,
        capture_output=True,
    )


def client(uri: str | None = None):
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri or settings().mlflow_tracking_uri)


def recorded(uri: str | None = None) -> dict[str, object]:
    """Every run of the project's experiment, by id."""
    mlflow = client(uri)
    experiment = mlflow.get_experiment_by_name(PACKAGE)
    if experiment is None:
        return {}
    runs = mlflow.search_runs([experiment.experiment_id], max_results=1000)
    return {run.info.run_id: run for run in runs}


def artifacts(run_id: str, uri: str | None = None) -> list[str]:
    return sorted(a.path for a in client(uri).list_artifacts(run_id, "audit"))


# Where bundles are downloaded: under pytest's temporary folder, which pytest
# prunes (MLflow's default destination is a new temp folder nobody removes).
DOWNLOADS: list[Path] = []


@pytest.fixture(scope="module", autouse=True)
def downloads(tmp_path_factory):
    DOWNLOADS.append(tmp_path_factory.mktemp("downloads"))
    yield
    DOWNLOADS.pop()


def bundle(run_id: str, uri: str | None = None) -> Path:
    """A run's audit bundle, downloaded from its store as a reviewer would."""
    folder = tempfile.mkdtemp(dir=DOWNLOADS[-1])
    return Path(client(uri).download_artifacts(run_id, "audit", folder))


def run_id_of(result: Result) -> str:
    assert result.code == 0, result.err
    return result.out.split("run ")[-1].strip()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny project, its package imported, cwd, with both envs built and
    their locks committed."""
    root = tmp_path_factory.mktemp("tiny") / PACKAGE
    with built_project(root, PACKAGE, STAGES) as created:
        yield root, created


@pytest.fixture(scope="module")
def first_run(tiny):
    """The first run of stage prep: MLflow makes the project's SQLite store."""
    root, _ = tiny
    result = mlops("stage", "run", "prep", "-p", "seed=3")
    return run_id_of(result), result


def stage(name: str):
    from governed_mlops.stages.specs import load_stage

    return load_stage(find_project(), name)


def test_create_builds_each_stage_env_with_its_lock_and_kernel(tiny):
    from governed_mlops.stages import env, kernels, locks

    root, created = tiny
    assert created.out == "prep: built\nfit: built\n"
    assert "[prep] ready: " in created.err and "[fit] ready: " in created.err
    for name in STAGES:
        built = stage(name)
        lock = root / "env_specs" / "locks" / f"{name}.txt"
        assert locks.read_digest(lock) == env.lock_digest(built)
        pins = locks.pins(lock.read_text(encoding="utf-8"))
        assert {"ipykernel", "pydantic-settings", "loguru"} <= set(pins)
        kernel = kernels.read_kernel(built.project, f"{PACKAGE}-{name}")
        assert kernel["argv"][0] == str(root / ".venvs" / name / "bin" / "python")
        marker = env.read_marker(built)
        assert marker["installed"] == env.installed_digest(built.env_dir)
        assert marker["installer"] == "uv" and marker["stage"] == name
        assert f"{PACKAGE}-0.1.0.dist-info" in env.distributions(built.env_dir)
        assert "ipykernel==" in env.freeze_path(built).read_text(encoding="utf-8")
        # Its SBOM, written when it was built: every locked package at its pin.
        sbom = json.loads((built.env_dir / "mlops-sbom.cdx.json").read_text("utf-8"))
        assert sbom["bomFormat"] == "CycloneDX" and sbom["specVersion"] == "1.6"
        assert sbom["metadata"]["component"]["name"] == f"{PACKAGE}-stage-{name}"
        listed = {c["name"].lower(): c.get("version") for c in sbom["components"]}
        for package in ("ipykernel", "pydantic-settings", "loguru"):
            assert listed[package] == pins[package], package
        assert marker["sbom"] == marker["installed"]


def test_create_again_checks_and_lists_the_built_envs(tiny):
    root, _ = tiny
    before = (root / ".venvs" / "prep").stat().st_ino
    again = mlops("stage", "create", "--all")
    assert again.out == "prep: up to date\nfit: up to date\n"
    assert (root / ".venvs" / "prep").stat().st_ino == before
    checked = mlops("stage", "check", "--all")
    assert checked.code == 0
    assert checked.out.splitlines() == [
        f"{name}: ok ({root / '.venvs' / name}, kernel {PACKAGE}-{name})"
        for name in STAGES
    ]
    listed = mlops("stage", "list")
    rows = [line.split() for line in listed.out.splitlines()]
    assert rows[0] == ["stage", "python", "env", "kernel", "notebook"]
    assert [row[0] for row in rows[1:]] == list(STAGES)
    assert all(row[3] == "(built)" for row in rows[1:])


def test_a_stage_run_is_recorded_with_its_audit_trail(tiny, first_run):
    from governed_mlops.hashes import file_sha
    from governed_mlops.runner import audit

    root, _ = tiny
    run_id, result = first_run
    assert result.out == f"prep: FINISHED in {result.out.split()[3]} s\nrun {run_id}\n"
    run = recorded()[run_id]
    tags = run.data.tags
    head = git_head(root)
    assert run.info.status == "FINISHED" and run.info.run_name == "prep"
    assert tags["stage"] == "prep" and tags["stage.spec"] == "env_specs/stage_prep.yaml"
    assert tags["mlflow.source.git.commit"] == head and tags["git.dirty"] == "false"
    assert tags["mlflow.source.git.branch"] == "main"
    assert tags["kernel.name"] == f"{PACKAGE}-prep"
    assert tags["kernel.python"] == str(root / ".venvs" / "prep" / "bin" / "python")
    notebook = (root / "notebooks" / "prep.ipynb").read_bytes()
    assert tags["notebook.sha256"] == hashlib.sha256(notebook).hexdigest()
    # One line when the stage starts, one when it ends; the rest is in run.log.
    started, ended = result.err.splitlines()
    assert started.startswith("[prep] running notebooks/prep.ipynb in kernel ")
    assert f", run {run_id} (" in started
    assert ended.startswith(f"[prep] FINISHED, run {run_id} (")
    # The bundle is stored once: in the MLflow artifact store.
    assert not (root / "artifacts" / run_id).exists()
    downloaded = bundle(run_id)
    freeze = (downloaded / "pip-freeze.txt").read_text(encoding="utf-8")
    assert tags["env.fingerprint"] == audit.fingerprint(freeze, head)
    assert tags["run.start"] <= tags["run.end"]
    # Every parameter the notebook ran with: -p seed, and label's default.
    assert run.data.params == {"seed": "3", "label": '"tiny"'}
    assert tags["params.injected"] == "seed"
    # The notebook, spec and lock are in the run's commit as they ran: the
    # manifest names them there instead of keeping copies.
    # The first run of an env keeps its SBOM and freeze; later ones name it.
    assert artifacts(run_id) == [
        "audit/manifest.json",
        "audit/pip-freeze.txt",
        "audit/prep.ipynb",
        "audit/run.log",
        "audit/sbom.cdx.json",
    ]
    assert tags["audit.freeze"] == file_sha(downloaded / "pip-freeze.txt")
    sbom = downloaded / "sbom.cdx.json"
    assert sbom.read_bytes() == (root / ".venvs/prep/mlops-sbom.cdx.json").read_bytes()
    assert tags["audit.sbom"] == file_sha(sbom) and tags["audit.sbom.kept"] == "true"
    manifest = json.loads((downloaded / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["committed"] == {
        "lock": {
            "path": "env_specs/locks/prep.txt",
            "sha256": file_sha(root / "env_specs" / "locks" / "prep.txt"),
        },
        "notebook": {
            "path": "notebooks/prep.ipynb",
            "sha256": hashlib.sha256(notebook).hexdigest(),
        },
        "spec": {
            "path": "env_specs/stage_prep.yaml",
            "sha256": file_sha(root / "env_specs" / "stage_prep.yaml"),
        },
    }
    assert tags["audit.manifest"] == file_sha(downloaded / "manifest.json")
    executed = json.loads((downloaded / "prep.ipynb").read_text(encoding="utf-8"))
    printed = [
        "".join(o.get("text", "")) for c in executed["cells"] for o in c["outputs"]
    ]
    # The kernel is the stage env's, with the project's own settings.
    assert f"tiny: 6 under {root}\n" in printed
    # papermill's lines, the notebook's output and the kernel's own messages
    # are in run.log, at INFO, not on the terminal.
    log = (downloaded / "run.log").read_text(encoding="utf-8")
    assert "Executing Cell 1" in log and f"tiny: 6 under {root}" in log
    assert "Executing Cell" not in result.err and "tiny: 6" not in result.err
    assert " | DEBUG " not in log


def test_later_runs_of_an_env_name_the_run_keeping_its_sbom_and_freeze(tiny, first_run):
    from governed_mlops.runner.store import file_uri_path

    first, _ = first_run
    run_id = run_id_of(mlops("stage", "run", "prep", "-p", "seed=4"))
    tags = recorded()[run_id].data.tags
    assert tags["audit.sbom.run"] == first and "audit.sbom.kept" not in tags
    first_tags = recorded()[first].data.tags
    assert tags["audit.sbom"] == first_tags["audit.sbom"]
    assert tags["audit.freeze"] == first_tags["audit.freeze"]
    assert "audit/sbom.cdx.json" not in artifacts(run_id)
    assert "audit/pip-freeze.txt" not in artifacts(run_id)
    manifest = json.loads((bundle(run_id) / "manifest.json").read_text("utf-8"))
    assert manifest["sbom"] == {"sha256": tags["audit.sbom"], "run_id": first}
    assert manifest["freeze"] == {"sha256": tags["audit.freeze"], "run_id": first}
    intact = mlops("audit", "verify", run_id, "--verbose")
    assert intact.code == 0, intact.out
    assert f"  ok       audit/sbom.cdx.json of run {first} (SBOM)\n" in intact.out
    assert f"  ok       audit/pip-freeze.txt of run {first} (pip freeze)\n" in (
        intact.out
    )
    assert "  ok       env.fingerprint (freeze and commit)\n" in intact.out
    # Drift reads the later run's freeze where it is kept.
    drift = mlops("audit", "drift", "prep")
    assert drift.code == 0, drift.err
    assert drift.out.splitlines()[0] == f"stage prep: last successful run {run_id}"
    assert drift.out.splitlines()[3:] == ["no drift"]
    # The copy the first run keeps is what both records vouch for.
    kept = Path(file_uri_path(recorded()[first].info.artifact_uri), "audit")
    sbom = kept / "sbom.cdx.json"
    original = sbom.read_bytes()
    sbom.write_bytes(original.replace(b"ipykernel", b"ipykernal", 1))
    try:
        later, earlier = mlops("audit", "verify", run_id), mlops(
            "audit", "verify", first
        )
    finally:
        sbom.write_bytes(original)
    assert (
        later.code == 1
        and (
            f"  DIFFERS  audit/sbom.cdx.json of run {first} (SBOM): its hash differs "
            f"from the manifest\n"
        )
        in later.out
    )
    assert earlier.code == 1 and "  DIFFERS  audit/sbom.cdx.json: its hash" in (
        earlier.out
    )
    freeze = kept / "pip-freeze.txt"
    original = freeze.read_bytes()
    freeze.write_bytes(original + b"extra==1.0\n")
    try:
        later = mlops("audit", "verify", run_id)
    finally:
        freeze.write_bytes(original)
    assert later.code == 1
    assert (
        f"  DIFFERS  audit/pip-freeze.txt of run {first} (pip freeze): its hash "
        f"differs from the manifest\n"
    ) in later.out
    assert "  DIFFERS  env.fingerprint: the freeze and commit" in later.out


def test_deps_sbom_describes_the_project_env_and_every_stage_env(tiny):
    from importlib.metadata import version

    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    root, _ = tiny
    done = mlops("deps", "sbom")
    assert done.code == 0, done.err
    folder = root / "reports" / "sbom"
    shown = [line.split(":")[0] for line in done.out.splitlines()]
    assert shown == [
        "reports/sbom/project.cdx.json",
        "reports/sbom/stage-prep.cdx.json",
        "reports/sbom/stage-fit.cdx.json",
    ]
    for name in STAGES:  # the SBOM the env was built with
        assert (folder / f"stage-{name}.cdx.json").read_bytes() == (
            root / ".venvs" / name / "mlops-sbom.cdx.json"
        ).read_bytes()
    text = (folder / "project.cdx.json").read_text(encoding="utf-8")
    project = json.loads(text)
    assert project["metadata"]["component"]["name"] == PACKAGE
    listed = {c["name"].lower(): c["version"] for c in project["components"]}
    for package in ("mlflow", "papermill", "cyclonedx-bom"):
        assert listed[package] == version(package), package
    stage_sbom = (folder / "stage-prep.cdx.json").read_text(encoding="utf-8")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(stage_sbom) is None
    only = mlops("deps", "sbom", "--no-stages", "--output-dir", "elsewhere")
    assert only.out.splitlines()[0].startswith("elsewhere/project.cdx.json: ")
    assert len(only.out.splitlines()) == 1
    both = mlops("deps", "sbom", "prep", "--no-stages")
    assert both.code == 2 and "name stages, or pass --no-stages" in both.err


def test_verbose_streams_the_run_log(tiny, first_run):
    result = mlops("stage", "run", "prep", "-p", "seed=3", "--verbose")
    run_id = run_id_of(result)
    assert "| papermill | Executing Cell 1" in result.err
    assert "tiny: 6 under " in result.err
    log = (bundle(run_id) / "run.log").read_text(encoding="utf-8")
    assert "tiny: 6 under " in log


def test_the_project_sqlite_store_is_recorded_through_mlflows_client(tiny, first_run):
    """No code path writes MLflow's schema: the SQLite store is MlflowClient's,
    opened in a thread while the runner checks the env."""
    from governed_mlops.runner import store

    opened = store.open_store(settings())
    assert isinstance(opened, store.MlflowStore)
    assert opened.has_run(first_run[0]) and not opened.has_run("0" * 32)
    found = opened.last_run({"stage": "prep"}, "FINISHED")
    assert found is not None and found.tags["stage"] == "prep"
    assert "ipykernel==" in opened.read_artifact(first_run[0], "audit/pip-freeze.txt")


def test_a_pipeline_runs_the_stages_in_order_under_one_parent(tiny, first_run):
    root, _ = tiny
    result = mlops("pipeline", "run", "-p", "seed=2", "-p", "fit.label=fitted")
    assert result.code == 0, result.err
    assert "[prep] stage 1/2: running notebooks/prep.ipynb" in result.err
    assert result.err.index("[prep] stage 1/2") < result.err.index("[fit] stage 2/2")
    lines = result.out.splitlines()
    parent = lines[0].removeprefix("pipeline run ")
    rows = [line.split() for line in lines[2:]]
    assert [row[:2] for row in rows] == [["prep", "FINISHED"], ["fit", "FINISHED"]]
    runs = recorded()
    assert runs[parent].info.status == "FINISHED"
    # The parent run says what ran, on which commit, with which parameters.
    tags = runs[parent].data.tags
    assert tags["pipeline.stages"] == "prep,fit" and tags["pipeline.ran"] == "prep,fit"
    assert tags["pipeline.skipped"] == "" and tags["pipeline.smoke"] == "false"
    assert tags["mlflow.source.git.commit"] == git_head(root)
    assert runs[parent].data.params == {"seed": "2", "fit.label": "fitted"}
    prep, fit = (runs[row[3]] for row in rows)
    assert prep.data.tags["mlflow.parentRunId"] == parent
    assert fit.data.tags["mlflow.parentRunId"] == parent
    assert prep.data.params == {"seed": "2", "label": '"tiny"'}
    assert fit.data.params == {"seed": "2", "label": '"fitted"'}
    only_fit = mlops("pipeline", "run", "--from", "fit", "--smoke")
    assert [line.split()[0] for line in only_fit.out.splitlines()[2:]] == ["fit"]
    smoke = only_fit.out.splitlines()[0].removeprefix("pipeline run ")
    assert recorded()[smoke].data.tags["pipeline.smoke"] == "true"


def test_a_failing_cell_fails_the_run_and_is_named(tiny, first_run):
    root, _ = tiny
    failed = mlops("stage", "run", "prep", "-p", "seed=-1")
    assert failed.code == 1
    message = failed.err.split("mlops: error: ")[-1]
    # The second cell of the source notebook (papermill adds cells to its
    # output: the injected parameters and, on a failure, an error note).
    assert message.startswith(
        "stage prep failed at cell 2 of notebooks/prep.ipynb: "
        "AssertionError: seed must not be negative\n  executed notebook: "
    )
    executed = Path(message.split("executed notebook: ")[1].strip())
    # The executed notebook is where MLflow stored it: .../<run>/artifacts/audit
    run_id = executed.parents[2].name
    assert executed.is_file() and executed.parent.name == "audit"
    run = recorded()[run_id]
    assert run.info.status == "FAILED" and run.data.params["seed"] == "-1"
    assert "audit/prep.ipynb" in artifacts(run_id)
    failure = {k: v for k, v in run.data.tags.items() if k.startswith("failure.")}
    assert failure == {
        "failure.cell": "2",
        "failure.error": "AssertionError",
        "failure.message": "seed must not be negative",
    }
    log = (bundle(run_id) / "run.log").read_text(encoding="utf-8")
    assert "stage prep failed at cell 2 of notebooks/prep.ipynb" in log
    piped = mlops("pipeline", "run", "-p", "prep.seed=-1")
    assert piped.code == 1
    rows = [line.split() for line in piped.out.splitlines()[2:]]
    assert [row[:2] for row in rows] == [["prep", "FAILED"], ["fit", "SKIPPED"]]
    assert rows[1][2:] == ["-"]
    parent = piped.out.splitlines()[0].removeprefix("pipeline run ")
    assert recorded()[parent].info.status == "FAILED"
    assert "stage prep failed at cell 2 of notebooks/prep.ipynb" in piped.err


def test_a_failure_outside_the_notebook_ends_the_run_failed(tiny, first_run):
    """The run exists once its record is made: a bundle folder that cannot be
    written ends it FAILED with the error, not RUNNING, and no traceback."""
    root, _ = tiny
    blocked = root / "not-a-folder"
    blocked.write_text("a file where the bundles would go\n", encoding="utf-8")
    before = set(recorded())
    with pytest.MonkeyPatch.context() as patch:
        set_env(patch, ARTIFACTS_DIR=str(blocked))
        failed = mlops("stage", "run", "prep")
    sys.modules[f"{PACKAGE}.config"].get_settings.cache_clear()
    blocked.unlink()
    assert failed.code == 1
    assert "Traceback" not in failed.err
    assert "mlops: error: stage prep failed at notebooks/prep.ipynb: " in failed.err
    (run_id,) = set(recorded()) - before
    run = recorded()[run_id]
    assert run.info.status == "FAILED"
    assert run.data.tags["failure.error"] in {"NotADirectoryError", "FileExistsError"}
    assert "failure.cell" not in run.data.tags


def test_a_value_over_mlflows_limit_is_kept_whole_in_the_bundle(tiny, first_run):
    root, _ = tiny
    value = 'é"\\' * 3000  # 9,000 characters, 30,002 as JSON
    run_id = run_id_of(mlops("stage", "run", "prep", "-p", f"label={value}"))
    run = recorded()[run_id]
    assert run.info.status == "FINISHED"
    assert run.data.params["label"] == ("(30002 characters: in audit/parameters.json)")
    assert run.data.params["seed"] == "1"
    assert run.data.tags["params.whole"] == "audit/parameters.json"
    assert run.data.tags["params.long"] == "label"
    assert "audit/parameters.json" in artifacts(run_id)
    whole = bundle(run_id) / "parameters.json"
    assert json.loads(whole.read_text(encoding="utf-8")) == {"seed": 1, "label": value}
    executed = json.loads((bundle(run_id) / "prep.ipynb").read_text())
    printed = "".join(executed["cells"][-1]["outputs"][0]["text"])
    assert printed.startswith(f"{value}: 2 under ")


def foreign_notebook() -> str:
    """A notebook as jupytext writes one: no kernelspec, no language, no cell
    tagged 'parameters'; it reports where the kernel finds its programs."""
    where = [
        "import os, shutil, sys\n",
        'print("PATH0", os.environ["PATH"].split(os.pathsep)[0])\n',
        'print("WHICH", shutil.which("python"))\n',
        'print("SEED", globals().get("seed", "unset"))\n',
        'print("SECRETS", sorted(k for k in os.environ if k.endswith("_TOKEN")))\n',
        'print("KERNEL", os.environ.get("GOVERNED_MLOPS_KERNEL"))\n',
    ]
    shell = ["!python -c \"import sys; print('PREFIX', sys.prefix)\"\n"]
    return notebook_json(code_cell("where", where), code_cell("shell", shell))


@contextlib.contextmanager
def fit_runs(root: Path, name: str, text: str) -> Iterator[None]:
    """Stage fit runs ``notebooks/<name>`` (``text``), without parameters,
    until the block ends; then its spec is as it was and the notebook gone."""
    spec = root / "env_specs" / "stage_fit.yaml"
    before = spec.read_text(encoding="utf-8")
    (root / "notebooks" / name).write_text(text, "utf-8")
    data = json.loads(before)
    data.update(notebook=f"notebooks/{name}", parameters={})
    spec.write_text(json.dumps(data), encoding="utf-8")
    try:
        yield
    finally:
        spec.write_text(before, encoding="utf-8")
        (root / "notebooks" / name).unlink()


def printed(executed: Path) -> dict[str, str]:
    """``KEY value`` lines the executed notebook's cells printed."""
    cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    lines = [
        line
        for cell in cells
        for output in cell.get("outputs", [])
        for line in "".join(output.get("text", "")).splitlines()
    ]
    return dict(line.split(" ", 1) for line in lines if " " in line)


def test_any_notebook_runs_in_the_stage_kernel_with_the_stage_env_first(
    tiny, monkeypatch
):
    """No kernelspec and no parameters cell: it runs without parameters, and
    given some they are injected as its first cell, with a warning. The
    project's index token is not the kernel's to read."""
    root, _ = tiny
    monkeypatch.setenv(PREFIX + "PACKAGE_INDEX_TOKEN", "tok-not-for-kernels")
    with fit_runs(root, "foreign.ipynb", foreign_notebook()):
        plain = mlops("stage", "run", "fit")
        given = mlops("stage", "run", "fit", "-p", "seed=5")
    env_bin = stage("fit").python.parent
    for result in (plain, given):
        run_id = run_id_of(result)
        assert recorded()[run_id].info.status == "FINISHED"
        seen = printed(bundle(run_id) / "foreign.ipynb")
        assert seen["PATH0"] == str(env_bin)
        assert seen["SECRETS"] == "[]"
        assert seen["KERNEL"] == "1"  # the project's settings leave secrets out
        assert seen["WHICH"] == str(env_bin / "python")
        assert seen["PREFIX"] == str(stage("fit").env_dir)
    assert "has no cell tagged 'parameters'" not in plain.err
    assert printed(bundle(run_id_of(plain)) / "foreign.ipynb")["SEED"] == "unset"
    assert "stage fit: notebooks/foreign.ipynb has no cell tagged 'parameters', " in (
        given.err
    )
    assert "(seed) are injected as its first cell" in given.err
    executed = bundle(run_id_of(given)) / "foreign.ipynb"
    first = json.loads(executed.read_text(encoding="utf-8"))["cells"][0]
    assert "injected-parameters" in first["metadata"]["tags"]
    assert printed(executed)["SEED"] == "5"
    log = (bundle(run_id_of(given)) / "run.log").read_text("utf-8")
    assert "are injected as its first cell" in log


def file_notebook(reads: str, writes: str) -> str:
    """A stage notebook writing ``writes`` (relative to the project) from its
    parameters and, when given, the content of ``reads``."""
    code = [
        "from pathlib import Path\n",
        "root = Path.cwd().parent\n",
        (
            f"text = (root / {reads!r}).read_text() if {reads!r} else str(seed)\n"
            if reads
            else "text = str(seed)\n"
        ),
        f"(root / {writes!r}).parent.mkdir(exist_ok=True)\n",
        f"(root / {writes!r}).write_text(f'{{label}} {{text}}')\n",
    ]
    return notebook_json(PARAMETERS, code_cell("write", code))


@contextlib.contextmanager
def cached_stages(root: Path) -> Iterator[None]:
    """prep writes data/out.txt; fit reads it and writes models/fit.txt: both
    specs declare what they read and write. Put back on leaving."""
    specs = {n: root / "env_specs" / f"stage_{n}.yaml" for n in STAGES}
    saved = {n: path.read_text(encoding="utf-8") for n, path in specs.items()}
    notebooks = {
        "prep": file_notebook("", "data/out.txt"),
        "fit": file_notebook("data/out.txt", "models/fit.txt"),
    }
    declared = {
        "prep": {"outputs": ["data/*.txt"]},
        "fit": {"inputs": ["data/out.txt"], "outputs": ["models/fit.txt"]},
    }
    for name in STAGES:
        (root / "notebooks" / f"cached_{name}.ipynb").write_text(notebooks[name])
        data = json.loads(saved[name])
        data.update(notebook=f"notebooks/cached_{name}.ipynb", **declared[name])
        specs[name].write_text(json.dumps(data), encoding="utf-8")
    try:
        yield
    finally:
        for name in STAGES:
            specs[name].write_text(saved[name], encoding="utf-8")
            (root / "notebooks" / f"cached_{name}.ipynb").unlink()
        # Untracked files would make later runs' trees dirty.
        shutil.rmtree(root / "data", ignore_errors=True)
        shutil.rmtree(root / "models", ignore_errors=True)


def pipeline(*args: str) -> tuple[dict[str, list[str]], Result]:
    """`mlops pipeline run`, its summary rows by stage."""
    result = mlops("pipeline", "run", *args)
    assert result.code == 0, result.err
    rows = {row[0]: row for row in map(str.split, result.out.splitlines()[2:])}
    return rows, result


def line(result: Result, stage: str) -> str:
    """The stage's progress line in a pipeline."""
    return next(
        text for text in result.err.splitlines() if text.startswith(f"[{stage}] stage")
    )


def test_a_pipeline_skips_what_has_not_changed_and_says_why(
    tiny, tmp_path, monkeypatch
):
    root, _ = tiny
    with cached_stages(root):
        first, _ = pipeline("--force")  # whatever earlier tests left
        assert [row[1] for row in first.values()] == ["FINISHED", "FINISHED"]
        known = len(recorded())
        same, result = pipeline()
        assert {n: row[1:] for n, row in same.items()} == {
            n: ["CACHED", "-", first[n][3]] for n in STAGES
        }
        assert line(result, "prep").startswith(
            f"[prep] stage 1/2: skipped, unchanged since run {first['prep'][3]}"
        )
        # Nothing ran: nothing is recorded, not even a parent run.
        assert result.out.splitlines()[0] == (
            "pipeline: every stage unchanged, nothing ran (no run recorded)"
        )
        assert len(recorded()) == known
        # A smoke run reuses no full run, and a full run no smoke run: the
        # full run after it reuses the earlier full runs again.
        smoke, result = pipeline("--smoke")
        assert [row[1] for row in smoke.values()] == ["FINISHED", "FINISHED"]
        assert ": a smoke run" in line(result, "prep")
        again, result = pipeline()
        assert {n: row[1:] for n, row in again.items()} == {
            n: ["CACHED", "-", first[n][3]] for n in STAGES
        }
        known = len(recorded())
        # Formatting, outputs and metadata of the notebook do not count.
        path = root / "notebooks" / "cached_prep.ipynb"
        data = json.loads(path.read_text(encoding="utf-8"))
        data["cells"][1]["source"].insert(0, "# only a comment\n")
        data["cells"][1]["outputs"] = [
            {"output_type": "stream", "name": "stdout", "text": "x"}
        ]
        path.write_text(json.dumps(data, indent=4), encoding="utf-8")
        reformatted, _ = pipeline()
        assert [row[1] for row in reformatted.values()] == ["CACHED", "CACHED"]
        # A parameter of one stage: only that stage runs.
        relabelled, result = pipeline("-p", "fit.label=other")
        assert [row[1] for row in relabelled.values()] == ["CACHED", "FINISHED"]
        assert 'parameters changed: label → "other" (was the notebook\'s default)' in (
            line(result, "fit")
        )
        # The stage reused is recorded under the parent run of the one that ran.
        parent = result.out.splitlines()[0].removeprefix("pipeline run ")
        tags = recorded()[parent].data.tags
        assert tags["pipeline.cached"] == "prep" and tags["pipeline.ran"] == "fit"
        assert tags["cache.prep.reused"] == first["prep"][3]
        assert (root / "models" / "fit.txt").read_text() == "other tiny 1"
        # A deleted output is restored from the cache.
        (root / "models" / "fit.txt").unlink()
        restored, result = pipeline("-p", "fit.label=other")
        assert [row[1] for row in restored.values()] == ["CACHED", "CACHED"]
        assert "restored models/fit.txt" in line(result, "fit")
        assert (root / "models" / "fit.txt").read_text() == "other tiny 1"
        # prep's output changes: fit, which reads it, runs again.
        upstream, result = pipeline("-p", "prep.seed=5", "-p", "fit.label=other")
        assert [row[1] for row in upstream.values()] == ["FINISHED", "FINISHED"]
        assert "parameters changed: seed 1 → 5" in line(result, "prep")
        assert "input data/out.txt changed" in line(result, "fit")
        fit_run = recorded()[upstream["fit"][3]].data.tags
        assert fit_run["lineage.runs"] == upstream["prep"][3]
        assert fit_run["lineage.inputs"] == f"data/out.txt={upstream['prep'][3]}"
        # --force STAGE runs that stage; the same output leaves fit cached.
        forced, result = pipeline(
            "--force", "prep", "-p", "prep.seed=5", "-p", "fit.label=other"
        )
        assert [row[1] for row in forced.values()] == ["FINISHED", "CACHED"]
        assert "forced (--force)" in line(result, "prep")
        unknown = mlops("pipeline", "run", "--force", "nosuch")
        assert unknown.code == 2 and "--force nosuch: no such stage" in unknown.err
        # Replay: fit again, apart, from its lock and its input as it read it.
        before = sorted(p.name for p in (root / ".venvs").iterdir())
        # From a private index: uv gets its token (in its environment only).
        spy, record = uv_spy(tmp_path)
        monkeypatch.setenv("UV", str(spy))
        monkeypatch.setattr(Project, "index_url", property(lambda _: PRIVATE))
        set_env(monkeypatch, PACKAGE_INDEX_TOKEN="replay-tok")
        try:
            replayed = mlops("audit", "replay", upstream["fit"][3])
        finally:
            monkeypatch.undo()
            sys.modules[f"{PACKAGE}.config"].get_settings.cache_clear()
        indexes = {
            json.loads(line).get("UV_DEFAULT_INDEX")
            for line in record.read_text(encoding="utf-8").splitlines()
        }
        # pragma: allowlist nextline secret
        assert "https://__token__:replay-tok@pypi.org/simple/" in indexes
        assert replayed.code == 0, replayed.out + replayed.err
        assert "  same     models/fit.txt\n" in replayed.out
        assert replayed.out.endswith(
            f"replay of run {upstream['fit'][3]} (fit): 1 output(s) the same\n"
        )
        assert sorted(p.name for p in (root / ".venvs").iterdir()) == before
        # A notebook whose output is not reproducible: the replay says so.
        path = root / "notebooks" / "cached_prep.ipynb"
        data = json.loads(path.read_text(encoding="utf-8"))
        lines = data["cells"][1]["source"]
        at = next(n for n, text in enumerate(lines) if text.startswith("text ="))
        lines[at] = "import time; text = str(time.time_ns())\n"
        path.write_text(json.dumps(data), encoding="utf-8")
        noisy = run_id_of(mlops("stage", "run", "prep"))
        reason = recorded()[noisy].data.tags["cache.reason"]
        assert reason == "run on its own (`mlops stage run`)", "not --force"
        differs = mlops("audit", "replay", noisy, "--keep")
        assert differs.code == 1
        assert "  DIFFERS  data/out.txt: differs from the run's\n" in differs.out
        # papermill's lines (and the kernel's own output) went to replay.log.
        kept = Path(differs.out.split("  kept in  ", 1)[1].splitlines()[0])
        log = (kept / "replay.log").read_text(encoding="utf-8")
        assert "| papermill | Executing Cell" in log
        shutil.rmtree(kept)


@pytest.mark.parametrize(
    "when", ["as prep's run ends", "while prep runs", "as prep's run is made"]
)
def test_a_pipeline_stopped_by_sigterm_says_what_ran_and_keeps_what_finished(
    tiny, monkeypatch, when
):
    """SIGTERM (an aborted build, a cancelled `mlflow run`) stops the pipeline;
    its run still names the stage it stopped in as run, not as skipped, and a
    stage that finished is reused by the next run. Held back while the
    stage's run was made, it left that run RUNNING."""
    from governed_mlops.runner import execute, orphans

    root, _ = tiny
    target = {
        "as prep's run ends": (orphans.Claim, "release"),
        "while prep runs": (execute.Runner, "_execute"),
        "as prep's run is made": (orphans, "claim"),
    }[when]
    original = getattr(*target)
    calls: list[bool] = []
    # The pipeline's run is claimed first: then prep's.
    at = 2 if when == "as prep's run is made" else 1
    finished = when == "as prep's run ends"
    seed = {"as prep's run ends": 4, "while prep runs": 6}.get(when, 8)

    def terminate_once(*args, **kwargs):
        calls.append(True)
        if len(calls) == at:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(*args, **kwargs)

    with cached_stages(root):
        pipeline("--force")  # what earlier tests left
        before = set(recorded())
        monkeypatch.setattr(*target, terminate_once)
        stopped = mlops("pipeline", "run", "--force", "-p", f"prep.seed={seed}")
        monkeypatch.undo()
        assert stopped.code == 143, stopped.err
        assert "mlops: terminated (SIGTERM)" in stopped.err
        new = {i: r for i, r in recorded().items() if i not in before}
        (parent,) = [r for r in new.values() if "pipeline.ran" in r.data.tags]
        (prep,) = [r for r in new.values() if r.data.tags.get("stage") == "prep"]
        assert len(new) == 2, "fit was not started"
        tags = parent.data.tags
        assert parent.info.status == "KILLED"
        assert (tags["pipeline.ran"], tags["pipeline.skipped"]) == ("prep", "fit")
        assert prep.info.status == ("FINISHED" if finished else "KILLED")
        rows, _ = pipeline("-p", f"prep.seed={seed}")
        if finished:  # not run again: the stage cache has it
            assert rows["prep"][1:] == ["CACHED", "-", prep.info.run_id]
        else:
            assert rows["prep"][1] == "FINISHED"
        assert rows["fit"][1] == "FINISHED"


def test_the_run_mlflow_run_made_is_claimed_while_its_entry_point_runs(
    tiny, first_run, monkeypatch
):
    """Killed unasked (SIGKILL; on Windows, the end of an aborted build),
    neither `mlops mlproject` nor `mlflow run` ends that run: its claim lets
    `mlops audit sync` end it KILLED."""
    from governed_mlops.runner import execute, orphans

    root, _ = tiny
    mlflow = client()
    experiment = mlflow.get_experiment_by_name(PACKAGE).experiment_id
    outer = mlflow.create_run(experiment).info.run_id  # as `mlflow run` does
    claim = root / ".mlops" / orphans.CLAIMS_DIR / f"{outer}.json"
    seen = []
    run_stage = execute.Runner.run_stage

    def noting(*args, **kwargs):
        seen.append((claim.is_file(), outer in orphans.orphans(root / ".mlops")))
        return run_stage(*args, **kwargs)

    monkeypatch.setattr(execute.Runner, "run_stage", noting)
    monkeypatch.setenv("MLFLOW_RUN_ID", outer)
    result = mlops("mlproject", "prep", "--seed", "5")
    assert result.code == 0, result.err
    assert seen == [(True, False)]  # claimed and held: no orphan
    assert not claim.exists()  # `mlflow run` ends its run itself now
    mlflow.set_terminated(outer)


HOLD_STAGE = """
import sys, time
from pathlib import Path
from governed_mlops.project import find_project
from governed_mlops.stages.in_use import using
from governed_mlops.stages.specs import load_stage
with using([load_stage(find_project(Path(sys.argv[1])), "prep")]):
    print("holding", flush=True)
    time.sleep(60)
"""


def test_a_stage_another_command_uses_is_refused_before_anything(tiny, first_run):
    """Two runs of a stage at once each left the other's model file
    half-written and failed; a build replaced the env a run was using."""
    root, _ = tiny
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_STAGE, str(root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        before = len(recorded())
        busy = (
            "stage prep is in use by another mlops command (a stage run, pipeline "
            "run or stage create of it): wait for it to end, then run this again"
        )
        for command in (
            ["stage", "run", "prep"],
            ["pipeline", "run", "--force"],
            ["stage", "create", "prep", "--force"],
        ):
            result = mlops(*command)
            assert result.code == 2 and busy in result.err, (command, result.err)
        assert len(recorded()) == before  # nothing ran, nothing recorded
        assert (root / ".venvs" / "prep").is_dir()
    finally:
        holder.kill()
        holder.wait()
    assert mlops("stage", "run", "prep").code == 0  # its lock went with it


def test_a_reused_stage_is_tagged_on_the_pipeline_run_as_it_is_decided(
    tiny, monkeypatch
):
    """Tagged only at the pipeline's end, a report built while fit ran (or
    after its process was killed) showed prep waiting, or another run's."""
    from governed_mlops.runner import execute

    root, _ = tiny
    seen: list[str] = []
    run_stage = execute.Runner.run_stage

    def noting(self, stage, *args, **kwargs):
        tags = recorded()[kwargs["parent_run_id"]].data.tags
        seen.append(f"{stage.name}: {tags.get('pipeline.cached')}")
        return run_stage(self, stage, *args, **kwargs)

    with cached_stages(root):
        pipeline("--force")
        monkeypatch.setattr(execute.Runner, "run_stage", noting)
        rows, _ = pipeline("-p", "fit.label=tagged")
        monkeypatch.undo()
    assert [row[1] for row in rows.values()] == ["CACHED", "FINISHED"]
    assert seen == ["fit: prep"]


def test_the_mlflow_stage_cache_serves_a_machine_with_none(tiny, monkeypatch):
    """With STAGE_CACHE=mlflow a run keeps its outputs on its tracking store:
    a checkout with no local cache and no outputs (another machine recording
    to the same store) reuses both stages and gets their outputs from there."""
    root, _ = tiny
    cache_dir = root / ".mlops" / "cache"
    outputs = ("data/out.txt", "models/fit.txt")

    def fresh_machine() -> None:
        shutil.rmtree(cache_dir, ignore_errors=True)
        for name in outputs:
            (root / name).unlink()

    with cached_stages(root):
        set_env(monkeypatch, STAGE_CACHE="mlflow")
        first, _ = pipeline("--force", "-p", "prep.seed=11")
        made = {name: (root / name).read_text() for name in outputs}
        assert made["models/fit.txt"] == "tiny tiny 11"
        runs = recorded()
        for stage_name, row in first.items():
            assert runs[row[3]].data.tags["cache.shared"] == "true"
        kept = client().list_artifacts(first["prep"][3], "cache/outputs/data")
        assert [a.path for a in kept] == ["cache/outputs/data/out.txt"]

        fresh_machine()
        reused, result = pipeline("-p", "prep.seed=11")
        assert {n: row[1:] for n, row in reused.items()} == {
            n: ["CACHED", "-", first[n][3]] for n in STAGES
        }
        assert (
            f"unchanged since run {first['fit'][3]} (shared cache: MLflow); "
            "restored models/fit.txt" in line(result, "fit")
        )
        assert {name: (root / name).read_text() for name in outputs} == made
        assert len(recorded()) == len(runs)  # nothing ran, nothing recorded
        # The entries it found are this machine's now: no store needed next.
        again, result = pipeline("-p", "prep.seed=11")
        assert "(shared cache" not in line(result, "fit")

        # Another key: nothing on the store has it, the stage runs.
        changed, result = pipeline("-p", "prep.seed=12")
        assert [row[1] for row in changed.values()] == ["FINISHED", "FINISHED"]

        # The local cache alone, the default: a fresh machine runs both.
        set_env(monkeypatch, STAGE_CACHE="local")
        fresh_machine()
        alone, result = pipeline("-p", "prep.seed=11")
        assert [row[1] for row in alone.values()] == ["FINISHED", "FINISHED"]
        assert "no cached run from" in line(result, "prep")


def test_verify_finds_a_record_intact_and_names_what_was_tampered_with(tiny):
    from governed_mlops.runner.store import file_uri_path

    root, _ = tiny
    run_id = run_id_of(mlops("stage", "run", "prep", "-p", "seed=6"))
    intact = mlops("audit", "verify", run_id, "--verbose")
    assert intact.code == 0, intact.out + intact.err
    assert intact.out.splitlines()[-1].startswith(f"run {run_id}: record intact (")
    commit = git_head(root)[:12]
    for checked in (
        "audit/manifest.json",
        "audit/prep.ipynb",
        f"env_specs/locks/prep.txt at {commit} (lock)",
        f"notebooks/prep.ipynb at {commit} (notebook)",
        f"env_specs/stage_prep.yaml at {commit} (spec)",
        "audit/source/prep.ipynb (source notebook)",
        "env.fingerprint (freeze and commit)",
        "audit/prep.ipynb: injected parameters",
    ):
        assert f"  ok       {checked}\n" in intact.out, checked
    stored = Path(file_uri_path(recorded()[run_id].info.artifact_uri)) / "audit"
    cases = {
        "prep.ipynb": "audit/prep.ipynb: its hash differs from the manifest",
        "manifest.json": "audit/manifest.json: its hash differs from tag "
        "audit.manifest",
        "run.log": "audit/run.log: its hash differs from the manifest",
    }
    for name, says in cases.items():
        path = stored / name
        original = path.read_bytes()
        path.write_bytes(original.replace(b"6", b"7", 1) + b" ")
        try:
            tampered = mlops("audit", "verify", run_id)
        finally:
            path.write_bytes(original)
        assert tampered.code == 1, name
        assert f"  DIFFERS  {says}\n" in tampered.out, tampered.out
        assert "record NOT intact" in tampered.out.splitlines()[-1]
    log = stored / "run.log"
    kept = log.read_bytes()
    log.unlink()
    try:
        missing = mlops("audit", "verify", run_id)
    finally:
        log.write_bytes(kept)
    assert "audit/run.log: missing from the run's artifacts" in missing.out
    assert mlops("audit", "verify", run_id).code == 0
    unknown = mlops("audit", "verify", "0" * 32)
    assert unknown.code == 2 and f"no run {'0' * 32} in the tracking store" in (
        unknown.err
    )
    assert "whole run id" not in unknown.err
    # A stage run its process left RUNNING (killed): not sealed, and never will be.
    mlflow = client()
    experiment = mlflow.get_experiment_by_name(PACKAGE).experiment_id
    orphan = mlflow.create_run(experiment, tags={"stage": "prep"}).info.run_id
    try:
        running = mlops("audit", "verify", orphan)
    finally:
        mlflow.delete_run(orphan)
    assert running.code == 2 and running.err == (
        f"mlops: error: run {orphan} of stage prep is RUNNING: its record is "
        f"sealed when it ends. If its `mlops` process was killed, `mlops audit "
        f"sync` on the machine that ran it ends it KILLED\n"
    )
    # A run id shortened as the docs and the terminal show it: say so.
    short = mlops("audit", "verify", run_id[:4])
    assert short.code == 2 and short.err.endswith(
        "; give the whole run id (32 characters, as `mlops pipeline run` and the "
        "MLflow UI show it)\n"
    )


def test_audit_sync_ends_an_orphaned_run_once_the_store_lets_it(tiny, first_run):
    """A run left RUNNING by a killed process, which someone deleted in the
    MLflow UI meanwhile: the store refuses to end it, and sync says so with
    no traceback, keeping its claim; restored, the next sync ends it."""
    import socket

    from governed_mlops.runner import orphans, store

    mlflow = client()
    experiment = mlflow.get_experiment_by_name(PACKAGE).experiment_id
    orphan = mlflow.create_run(experiment, tags={"stage": "prep"}).info.run_id
    root, _ = tiny
    claim = root / ".mlops" / orphans.CLAIMS_DIR / f"{orphan}.json"
    claim.parent.mkdir(parents=True, exist_ok=True)
    owner = {"run_id": orphan, "pid": 1, "host": socket.gethostname(), "bundle": ""}
    owner["tracking_uri"] = store.open_store(settings()).uri
    claim.write_text(json.dumps(owner))  # no process holds it: its own died
    mlflow.delete_run(orphan)
    refused = mlops("audit", "sync")
    assert refused.code == 2, refused.err
    assert f"{orphan}: left RUNNING (" in refused.out and "Traceback" not in (
        refused.out + refused.err
    )
    assert claim.is_file()
    mlflow.restore_run(orphan)
    ended = mlops("audit", "sync")
    assert ended.code == 0, ended.err
    assert ended.out == f"{orphan}: ended KILLED (its mlops process had died)\n"
    assert mlflow.get_run(orphan).info.status == "KILLED" and not claim.exists()
    unsealed = mlops("audit", "verify", orphan)
    assert unsealed.code == 2 and unsealed.err == (
        f"mlops: error: run {orphan} of stage prep was never sealed: its `mlops` "
        f"process was killed, and `mlops audit sync` ended it KILLED. Its audit/ "
        f"holds what it had written, with nothing to verify it against\n"
    )
    mlflow.delete_run(orphan)


def test_parameters_are_checked_before_anything_runs(tiny, first_run):
    before = set(recorded())
    unknown = mlops("stage", "run", "prep", "-p", "sed=1")
    assert unknown.code == 2
    assert unknown.err == (
        "mlops: error: stage prep: unknown parameter(s) sed for "
        "notebooks/prep.ipynb; its parameters cell declares: label, seed\n"
    )
    wrong_stage = mlops("pipeline", "run", "-p", "nostage.seed=1")
    assert "parameter 'nostage.seed' names stage 'nostage', which is not run" in (
        wrong_stage.err
    )
    nobody = mlops("pipeline", "run", "-p", "zzz=1")
    assert "no stage's notebook declares parameter 'zzz'" in nobody.err
    unwritten = mlops("stage", "run", "prep", "-p", "seed")
    assert "parameter 'seed' must be written key=value" in unwritten.err
    mistyped = mlops("stage", "run", "prep", "-p", "seed=1.5")
    assert mistyped.err == (
        "mlops: error: stage prep: -p seed=1.5: the notebook declares int "
        "(seed = 1); a float is not an int\n"
    )
    codes = {wrong_stage.code, nobody.code, unwritten.code, mistyped.code}
    assert codes == {2}
    assert set(recorded()) == before, "a refused run must leave no record"


def test_a_package_installed_by_hand_is_found_refused_and_rebuilt(tiny, first_run):
    root, _ = tiny
    difference = f"{EXTRA} is installed but not in the lock"
    uv_pip(root, "fit", "install", EXTRA)
    try:
        checked = mlops("stage", "check", "fit")
        refused = mlops("stage", "run", "fit")
        allowed = mlops("stage", "run", "fit", "--allow-drift")
    finally:
        rebuilt = mlops("stage", "create", "fit")
    assert checked.code == 1
    assert checked.out == (
        f"fit: FAIL\n  - {difference}\n  fix: mlops stage create fit --force\n"
    )
    assert refused.code == 2
    assert refused.err.startswith(
        f"mlops: error: stage fit: its env differs from its lock: {difference}; "
        f"rebuild it with `mlops stage create fit`, or pass --allow-drift"
    )
    run_id = run_id_of(allowed)
    assert recorded()[run_id].data.tags["env.drift"] == difference
    # Its SBOM is the env as it ran, the package installed by hand included.
    sbom = json.loads((bundle(run_id) / "sbom.cdx.json").read_text("utf-8"))
    name, pinned = EXTRA.split("==")
    assert {"name": name, "version": pinned} in [
        {k: c.get(k) for k in ("name", "version")} for c in sbom["components"]
    ]
    log = (bundle(run_id) / "run.log").read_text(encoding="utf-8")
    assert "differs from its lock (--allow-drift" in log
    assert rebuilt.out == "fit: built\n"
    assert f"env differs from its lock: {difference}; rebuilding" in rebuilt.err
    assert mlops("stage", "check", "fit").code == 0


def test_a_spec_changed_since_its_env_was_built_is_refused_before_anything_runs(
    tiny, first_run
):
    """A package added to the spec (or another Python) without `stage create`:
    the run would go on in an env the spec no longer describes."""
    root, _ = tiny
    spec = root / "env_specs" / "stage_fit.yaml"
    before = spec.read_text(encoding="utf-8")
    data = json.loads(before)
    spec.write_text(json.dumps({**data, "packages": [EXTRA]}), encoding="utf-8")
    runs = set(recorded())
    try:
        refused = mlops("stage", "run", "fit")
        pipeline = mlops("pipeline", "run")
    finally:
        spec.write_text(before, encoding="utf-8")
    stale = "the lock is stale (the spec, constraints or Python changed)"
    assert (refused.code, pipeline.code) == (2, 2)
    for result in (refused, pipeline):
        assert result.err.startswith(
            f"mlops: error: stage fit: its env differs from its lock: {stale}; "
            f"rebuild it with `mlops stage create fit`"
        ), result.err
    assert set(recorded()) == runs, "a refused run must leave no record"


def test_check_names_each_part_of_an_env_that_is_off(tiny):
    from governed_mlops.stages import env, kernels

    root, _ = tiny
    built = stage("prep")
    kernel_file = kernels.kernel_spec_dir(built.project, built.kernel_name)
    kernel_file = kernel_file / "kernel.json"
    marker_file = built.env_dir / env.MARKER
    spec_file = root / "env_specs" / "stage_prep.yaml"
    originals = {p: p.read_text(encoding="utf-8") for p in (kernel_file, marker_file)}
    spec = spec_file.read_text(encoding="utf-8")
    foreign = json.loads(originals[kernel_file])
    foreign["argv"][0] = "/usr/bin/python3"
    marker = json.loads(originals[marker_file])
    marker["interpreter"] = "/opt/python/bin/python3"

    def problems() -> list[str]:
        result = mlops("stage", "check", "prep")
        assert result.code == 1
        assert result.out.endswith("  fix: mlops stage create prep --force\n")
        return [line[4:] for line in result.out.splitlines() if line.startswith("  - ")]

    try:
        kernel_file.write_text(json.dumps(foreign), encoding="utf-8")
        assert problems() == [
            f"kernel {PACKAGE}-prep runs /usr/bin/python3, not the stage venv's "
            f"{built.python}"
        ]
        assert mlops("stage", "run", "prep").err == (
            "mlops: error: stage prep has no working env or kernel: run "
            "`mlops stage create prep`\n"
        )
        kernel_file.unlink()
        assert problems() == [f"kernel {PACKAGE}-prep is not registered"]
        kernel_file.write_text(originals[kernel_file], encoding="utf-8")
        marker_file.write_text(json.dumps(marker), encoding="utf-8")
        assert problems() == [
            "the venv was built with /opt/python/bin/python3, the spec now gives "
            f"{built.interpreter.path}"
        ]
        marker_file.unlink()
        assert problems() == [f"{built.env_dir} was not built by `mlops stage create`"]
        marker_file.write_text(originals[marker_file], encoding="utf-8")
        spec_file.write_text(
            spec.replace('"packages": []', '"packages": ["iniconfig"]'),
            encoding="utf-8",
        )
        assert problems() == [
            "the lock is stale (the spec, constraints or Python changed)"
        ]
    finally:
        spec_file.write_text(spec, encoding="utf-8")
        for path, text in originals.items():
            path.write_text(text, encoding="utf-8")
    assert mlops("stage", "check", "prep").code == 0


def test_a_failed_build_keeps_the_previous_env(tiny):
    root, _ = tiny
    spec_file = root / "env_specs" / "stage_fit.yaml"
    spec = spec_file.read_text(encoding="utf-8")
    lock = (root / "env_specs" / "locks" / "fit.txt").read_text(encoding="utf-8")
    missing = "governed-mlops-no-such-package==1.0"
    spec_file.write_text(
        spec.replace('"packages": []', f'"packages": ["{missing}"]'), encoding="utf-8"
    )
    try:
        failed = mlops("stage", "create", "fit")
        verbose = mlops("stage", "create", "fit", "--verbose")
    finally:
        spec_file.write_text(spec, encoding="utf-8")
    assert failed.code == 2
    assert failed.out == "fit: FAILED\n"
    message = failed.err.split("mlops: error: ")[-1]
    # uv's own lines; its command line (a temporary folder, a dozen options)
    # only with --verbose.
    assert message.startswith("fit: locking failed:\n")
    assert "pip compile" not in message
    assert "fit: locking failed (" in verbose.err and "pip compile" in verbose.err
    assert "governed-mlops-no-such-package" in message
    assert message.endswith(" (the previous env is kept)\n")
    assert not (root / ".venvs" / "fit.new").exists()
    assert (root / "env_specs" / "locks" / "fit.txt").read_text("utf-8") == lock
    assert mlops("stage", "check", "fit").code == 0


def test_a_build_whose_sbom_fails_keeps_the_previous_env_and_lock(tiny, monkeypatch):
    """The SBOM was written after the new env took the old one's place: its
    failure (cyclonedx-bom missing) left a new env without its marker and a
    relocked lock in the project."""
    from governed_mlops.supply import sbom

    root, _ = tiny
    lock = (root / "env_specs" / "locks" / "fit.txt").read_text(encoding="utf-8")
    marker = (root / ".venvs" / "fit" / "mlops-stage.json").read_text("utf-8")

    def fails(*args, **kwargs):
        raise sbom.SbomError("cyclonedx-bom could not describe it: a test")

    monkeypatch.setattr(sbom, "write_sbom", fails)
    failed = mlops("stage", "create", "fit", "--force")
    monkeypatch.undo()
    assert failed.code == 2 and failed.out == "fit: FAILED\n", failed.err
    assert "cyclonedx-bom could not describe it: a test" in failed.err
    assert (root / "env_specs" / "locks" / "fit.txt").read_text("utf-8") == lock
    assert (root / ".venvs" / "fit" / "mlops-stage.json").read_text("utf-8") == marker
    assert not (root / ".venvs" / "fit.new").exists()
    assert mlops("stage", "check", "fit").code == 0


def test_audit_drift_lists_what_changed_since_the_last_good_run(tiny, first_run):
    root, _ = tiny
    same = mlops("audit", "drift", "prep")
    assert same.code == 0, same.err
    lines = same.out.splitlines()
    last = lines[0].removeprefix("stage prep: last successful run ")
    assert recorded()[last].info.status == "FINISHED"
    assert lines[1].split()[-1] == lines[2].split()[-1]
    assert lines[3:] == ["no drift"]
    old = git_head(root)
    (root / "NOTES.md").write_text("a change after the run\n", encoding="utf-8")
    commit(root, "notes")
    uv_pip(root, "prep", "install", EXTRA)
    try:
        drifted = mlops("audit", "drift", "prep")
    finally:
        uv_pip(root, "prep", "uninstall", "iniconfig")
    # The recorded freeze comes from the run's artifacts in MLflow.
    assert drifted.code == 1
    assert drifted.out.splitlines()[3:] == [
        f"  added      {EXTRA}",
        f"  commit     {old[:12]} -> {git_head(root)[:12]}",
    ]
    assert mlops("stage", "check", "prep").code == 0


def test_audit_drift_needs_a_successful_run(tiny, first_run):
    with pytest.MonkeyPatch.context() as patch:
        set_env(patch, MLFLOW_EXPERIMENT="never-run")
        result = mlops("audit", "drift", "prep")
        uri = settings().mlflow_tracking_uri
    sys.modules[f"{PACKAGE}.config"].get_settings.cache_clear()
    assert result.code == 2
    assert result.err == (
        f"mlops: error: no successful run of stage prep in experiment 'never-run' "
        f"at {uri}: run `mlops stage run prep` first\n"
    )


def start_server(root: Path, served: Path, port: int, logs: Path):
    """`mlops tracking server` as a developer starts it, in its own process
    group (coverage follows it); returns once it answers and `mlops` has said
    so (it checks the server on its own schedule, after ours may have)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(root / "src"),
        PREFIX + "MLFLOW_DIR": str(served),
        PREFIX + "MLFLOW_PORT": str(port),
        PREFIX + "MLFLOW_SERVER_WORKERS": "1",
    }
    with open(logs / "out", "a") as out, open(logs / "err", "a") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "governed_mlops", "tracking", "server"],
            cwd=root,
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,
            # As a terminal starts it: a suite run in the background passes
            # SIGINT down as ignored, and Ctrl-C would never arrive.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        said = "tracking server ready at" in (logs / "out").read_text()
        try:
            with urllib.request.urlopen(uri + "/health", timeout=2) as answer:
                if answer.status == 200 and said:
                    return process
        except OSError:
            pass
        time.sleep(0.5)
    stop_server(process)
    pytest.fail(f"mlflow server did not start:\n{(logs / 'err').read_text()}")


def stop_server(process, sig: int = signal.SIGINT) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def server(tiny, tmp_path_factory):
    """The project's tracking server, stopped with Ctrl-C when the module ends."""
    root, _ = tiny
    logs = tmp_path_factory.mktemp("server")
    served = logs / "served"
    port = free_port()
    process = start_server(root, served, port, logs)
    try:
        yield f"http://127.0.0.1:{port}", served, process, logs
    finally:
        stop_server(process)


def test_tracking_server_serves_the_project_store(server):
    uri, served, process, logs = server
    printed = (logs / "out").read_text().splitlines()
    backend = "sqlite:///" + (served / "mlflow.db").as_posix()
    assert printed[0].startswith(
        f"mlops: starting mlflow server: backend {backend}, artifacts "
        f"{served / 'artifacts'}, 1 worker(s), output in "
    )
    assert printed[1] == f"mlops: tracking server ready at {uri} (Ctrl-C stops it)"
    assert (served / "mlflow.db").is_file()
    helped = mlops("tracking", "server", "--help")
    assert helped.code == 0
    assert "MLFLOW_BACKEND_STORE_URI" in helped.out


def test_runs_on_a_tracking_server_go_through_its_rest_api(tiny, server):
    from governed_mlops.runner import store

    root, _ = tiny
    uri, served, _, _ = server
    with pytest.MonkeyPatch.context() as patch:
        set_env(patch, MLFLOW_TRACKING_URI=uri)
        assert mlops("tracking", "uri").out == uri + "\n"
        # The REST store creates the experiment, as MlflowClient would.
        first = run_id_of(mlops("stage", "run", "prep"))
        # pragma: allowlist nextline secret
        set_env(patch, MLFLOW_TRACKING_USERNAME="ci", MLFLOW_TRACKING_PASSWORD="pw")
        rest = store.open_store(settings())
        assert isinstance(rest, store.RestStore)
        assert rest.headers["Authorization"] == "Basic Y2k6cHc="  # ci:pw
        patch.setenv("MLFLOW_RUN_ID", first)  # as `mlflow run` sets it
        nested = run_id_of(mlops("stage", "run", "prep", "-p", "seed=8"))
        patch.setenv("MLFLOW_RUN_ID", "0" * 32)  # a run of another store
        alone = run_id_of(mlops("stage", "run", "prep"))
        patch.delenv("MLFLOW_RUN_ID")
        # drift reads the last run and its freeze through the REST API too.
        drift = mlops("audit", "drift", "prep")
        assert drift.code == 0, drift.err
        assert drift.out.startswith("stage prep: last successful run ")
        # verify reads the run and its artifacts through the proxy too.
        verified = mlops("audit", "verify", alone)
        assert verified.code == 0, verified.out + verified.err
        runs = recorded(uri)
    sys.modules[f"{PACKAGE}.config"].get_settings.cache_clear()
    for run_id in (first, nested, alone):
        assert runs[run_id].info.status == "FINISHED"
        assert runs[run_id].info.artifact_uri.startswith("mlflow-artifacts:/")
        assert "audit/prep.ipynb" in artifacts(run_id, uri)
        uploaded = list(served.rglob(f"{run_id}/artifacts/audit/prep.ipynb"))
        assert len(uploaded) == 1
    assert runs[nested].data.tags["mlflow.parentRunId"] == first
    assert runs[nested].data.params == {"seed": "8", "label": '"tiny"'}
    assert "mlflow.parentRunId" not in runs[alone].data.tags
    assert set(runs[nested].data.tags) - {"mlflow.parentRunId"} == set(
        runs[alone].data.tags
    )


def test_a_server_behind_a_login_takes_it_from_the_uri_or_the_settings(
    tiny, server, tmp_path
):
    """A proxy that asks every request for a login, /health too: the login
    written in the URI, or the settings' user name and password, reach it;
    a wrong one is named as a login problem; no password is ever shown."""
    import auth_proxy

    root, _ = tiny
    uri, _, _, _ = server
    password = "p@ss/w0rd"  # pragma: allowlist secret
    with auth_proxy.serve(uri, "ci", password) as (proxy, refused):
        host = proxy.split("//", 1)[1]
        with_login = f"http://ci:{quote(password, safe='')}@{host}"
        with pytest.MonkeyPatch.context() as patch:
            set_env(patch, MLFLOW_TRACKING_URI=with_login)
            in_uri = run_id_of(mlops("stage", "run", "prep", "-p", "seed=11"))
            info = mlops("info")
            # Outside the project: its tree stays clean for the other tests.
            built = mlops("report", "build", "--output", str(tmp_path / "site"))
            assert built.code == 0, built.err
            set_env(patch, MLFLOW_TRACKING_URI=proxy, MLFLOW_TRACKING_USERNAME="ci")
            set_env(patch, MLFLOW_TRACKING_PASSWORD=password)
            in_settings = run_id_of(mlops("stage", "run", "prep", "-p", "seed=12"))
            set_env(patch, MLFLOW_TRACKING_PASSWORD="wrong")  # pragma: allowlist secret
            wrong = mlops("stage", "run", "prep", "-p", "seed=13")
        sys.modules[f"{PACKAGE}.config"].get_settings.cache_clear()
        assert refused == ["GET /health"]  # the wrong login, checked first
    runs = recorded(uri)
    assert runs[in_uri].info.status == runs[in_settings].info.status == "FINISHED"
    assert f"mlflow uri   : {proxy}\n" in info.out
    assert wrong.code == 2
    assert f"the MLflow tracking server {proxy} refused the login (HTTP 401" in (
        wrong.err
    )
    assert "Start it" not in wrong.err
    pages = "".join(p.read_text("utf-8") for p in tmp_path.rglob("*.html"))
    assert f'href="{proxy}/#/experiments/' in pages
    for shown in (info.out, info.err, built.out, built.err, wrong.err, pages):
        assert password not in shown and quote(password, safe="") not in shown


def login_notebook() -> str:
    """A notebook that prints what its kernel's MLflow client is given."""
    where = [
        "import os\n",
        'print("URI", os.environ["MLFLOW_TRACKING_URI"])\n',
        'print("USER", os.environ.get("MLFLOW_TRACKING_USERNAME", "-"))\n',
    ]
    return notebook_json(code_cell("where", where))


def test_a_secret_a_notebook_raises_is_masked_in_what_the_run_records(tiny, tmp_path):
    """The kernel holds the store's password (MLflow needs it); a notebook
    that prints it or puts it in an error must not carry it into run.log,
    the failure tags, the message or the report CI publishes."""
    root, _ = tiny
    password = "Zq8-raised-pw"  # pragma: allowlist secret
    leak = [
        "import os\n",
        'print("PW", os.environ["MLFLOW_TRACKING_PASSWORD"])\n',
        'raise RuntimeError("login " + os.environ["MLFLOW_TRACKING_PASSWORD"])\n',
    ]
    before = set(recorded())
    with fit_runs(root, "leak.ipynb", notebook_json(code_cell("leak", leak))):
        with pytest.MonkeyPatch.context() as patch:
            set_env(patch, MLFLOW_TRACKING_USERNAME="ci")
            set_env(patch, MLFLOW_TRACKING_PASSWORD=password)
            failed = mlops("stage", "run", "fit")
            site = tmp_path / "site"  # not in the project: its tree stays clean
            report = mlops("report", "build", "--output", str(site))
        sys.modules[f"{PACKAGE}.config"].get_settings.cache_clear()
    assert failed.code == 1
    assert "RuntimeError: login ***" in failed.err and password not in failed.err
    (run_id,) = set(recorded()) - before
    tags = recorded()[run_id].data.tags
    assert tags["failure.message"] == "login ***"
    log = (bundle(run_id) / "run.log").read_text(encoding="utf-8")
    assert "login ***" in log and password not in log
    executed = (bundle(run_id) / "leak.ipynb").read_text(encoding="utf-8")
    assert "PW ***" in executed and password not in executed
    assert report.code == 0, report.err
    pages = list(site.rglob("*.html"))
    assert pages and not [p for p in pages if password in p.read_text("utf-8")]


def test_a_login_mlflows_own_app_refuses_is_named_and_kernels_get_it_apart(
    tiny, server
):
    """MLflow's basic-auth app leaves /health open and refuses the API: a
    wrong login is named as such before anything runs. A login written in
    the URI reaches the kernel as MLflow's variables, its URI without it (an
    error MLflow prints in the notebook would otherwise hold the password).
    A login the URI does not encode is refused without being shown."""
    import auth_proxy

    root, _ = tiny
    uri, _, _, _ = server
    password = "s3c/ret@1"  # pragma: allowlist secret
    with fit_runs(root, "login.ipynb", login_notebook()):
        with auth_proxy.serve(uri, "ci", password, open_health=True) as (proxy, _):
            host = proxy.split("//", 1)[1]
            encoded = f"http://ci:{quote(password, safe='')}@{host}"
            with pytest.MonkeyPatch.context() as patch:
                set_env(patch, MLFLOW_TRACKING_URI=encoded)
                ran = mlops("stage", "run", "fit")
                # pragma: allowlist nextline secret
                set_env(patch, MLFLOW_TRACKING_URI=f"http://ci:wrong@{host}")
                wrong = mlops("stage", "run", "fit")
                # A token: MlflowClient's path, which fails at its first call.
                patch.setenv("MLFLOW_TRACKING_TOKEN", "not-this-servers")
                through_client = mlops("pipeline", "run", "--only", "fit")
                patch.delenv("MLFLOW_TRACKING_TOKEN")
                set_env(patch, MLFLOW_TRACKING_URI=f"http://ci:{password}@{host}")
                raw = mlops("stage", "run", "fit")
                raw_info = mlops("info")
            sys.modules[f"{PACKAGE}.config"].get_settings.cache_clear()
    seen = printed(bundle(run_id_of(ran), uri) / "login.ipynb")
    assert seen == {"URI": proxy, "USER": "ci"}
    assert wrong.code == 2 and wrong.out == ""
    assert f"the MLflow tracking server {proxy} refused the login (HTTP 401" in (
        wrong.err
    )
    assert raw.code == 2 and "a password written in it must have @ as %40" in raw.err
    assert through_client.code != 0
    assert "every stage unchanged" not in through_client.out
    assert "pipeline: no pipeline run recorded" in through_client.out
    assert "mlflow uri   : http://(an unreadable URL)" in raw_info.out
    for shown in (ran.err, wrong.err, raw.err, raw_info.out):
        assert "s3c" not in shown and "ret@1" not in shown


def test_a_server_experiment_with_local_artifacts_is_written_there(
    tiny, server, tmp_path
):
    from governed_mlops.runner import store

    root, _ = tiny
    uri, _, _, _ = server
    location = tmp_path / "local-artifacts"
    client(uri).create_experiment("local", artifact_location=location.as_uri())
    with pytest.MonkeyPatch.context() as patch:
        set_env(patch, MLFLOW_TRACKING_URI=uri, MLFLOW_EXPERIMENT="local")
        assert isinstance(store.open_store(settings()), store.RestStore)
        run_id = run_id_of(mlops("stage", "run", "prep"))
    sys.modules[f"{PACKAGE}.config"].get_settings.cache_clear()
    copied = location / run_id / "artifacts" / "audit"
    assert sorted(p.name for p in copied.iterdir()) == [
        "manifest.json",
        "pip-freeze.txt",  # as does its freeze
        "prep.ipynb",
        "run.log",
        "sbom.cdx.json",  # the first run of the env in this store keeps it
    ]
    run = client(uri).get_run(run_id)
    assert run.info.status == "FINISHED"


def test_the_store_going_away_mid_pipeline_loses_nothing(tiny, tmp_path):
    """A real `mlflow server` stopped during stage fit: bounded retries, one
    message saying what was kept where, the runs ended FAILED and the bundle
    uploaded once the server is back (by the next run), nothing left RUNNING."""
    root, _ = tiny
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    served = tmp_path / "served"
    process = start_server(root, served, port, tmp_path)
    spec = root / "env_specs" / "stage_fit.yaml"
    before = spec.read_text(encoding="utf-8")
    (root / "notebooks" / "outage.ipynb").write_text(
        # SIGKILL to the server's process group, whose id the test passes.
        outage_notebook(
            'os.killpg(int(os.environ["OUTAGE_SERVER_PGID"]), signal.SIGKILL)', 100
        ),
        "utf-8",
    )
    data = json.loads(before)
    data.update(notebook="notebooks/outage.ipynb", parameters={})
    spec.write_text(json.dumps(data), encoding="utf-8")
    pending = root / ".mlops" / "pending"
    try:
        with pytest.MonkeyPatch.context() as patch:
            set_env(patch, MLFLOW_TRACKING_URI=uri)
            patch.setenv("OUTAGE_SERVER_PGID", str(process.pid))
            patch.setenv("OUTAGE_PORT", str(port))
            broken = mlops("pipeline", "run", "--force")
            process.wait(timeout=60)
            kept = sorted(path.stem for path in pending.glob("*.json"))
            bundles = sorted(path.name for path in (root / "artifacts").iterdir())
            still_away = mlops("audit", "sync")
            unchecked = mlops("audit", "drift", "prep")
            spec.write_text(before, encoding="utf-8")
            process = start_server(root, served, port, tmp_path)
            later = mlops("stage", "run", "prep")
            nothing = mlops("audit", "sync")
            runs = recorded(uri)
            uploaded = {run_id: artifacts(run_id, uri) for run_id in runs}
    finally:
        spec.write_text(before, encoding="utf-8")
        (root / "notebooks" / "outage.ipynb").unlink()
        stop_server(process)
        sys.modules[f"{PACKAGE}.config"].get_settings.cache_clear()
    assert broken.code == 1 and "Traceback" not in broken.err
    lines = broken.out.splitlines()
    parent = lines[0].removeprefix("pipeline run ")
    rows = [line.split() for line in lines[2:]]
    assert [row[:2] for row in rows] == [["prep", "FINISHED"], ["fit", "FAILED"]]
    prep_id, fit_id = rows[0][3], rows[1][3]
    message = broken.err.split("mlops: error: ")[-1]
    assert message.count("\n") == 1, "one message"
    assert message.startswith(
        f"the MLflow tracking store {uri} stopped answering during stage fit ("
    )
    assert f"Kept on this machine: run {fit_id}, its bundle in " in message
    assert "`mlops audit sync` (or the next run)" in message
    assert f"the pipeline's run {parent} is kept there too" in message
    # What the message says is kept is there: the records and fit's bundle.
    assert kept == sorted([fit_id, parent]) and bundles == [fit_id]
    assert still_away.code == 2
    assert f"nothing was synced: 2 run(s) stay kept in {pending}" in still_away.err
    assert unchecked.code == 2 and "nothing was checked" in unchecked.err
    assert "Traceback" not in still_away.err + unchecked.err
    assert later.code == 0, later.err
    assert f"[audit sync] recorded run {fit_id} (FAILED)" in later.err
    assert f"[audit sync] recorded run {parent} (FAILED)" in later.err
    assert nothing.out == "nothing to sync: no run is kept on this machine\n"
    assert not list(pending.glob("*.json"))
    assert not (root / "artifacts" / fit_id).exists(), "stored once, in MLflow"
    assert runs[prep_id].info.status == "FINISHED"
    assert runs[fit_id].info.status == "FAILED"
    assert runs[fit_id].data.tags["failure.error"] == "TrackingStoreUnavailable"
    assert "audit/outage.ipynb" in uploaded[fit_id]
    assert runs[parent].info.status == "FAILED"
    assert runs[parent].data.tags["pipeline.ran"] == "prep,fit"
    assert all(run.info.status != "RUNNING" for run in runs.values())


def test_ctrl_c_stops_the_tracking_server(server):
    uri, _, process, logs = server
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=60) == 130
    stopped = f"mlops: tracking server at {uri} stopped (SIGINT)"
    assert (logs / "out").read_text().splitlines()[-1] == stopped
    assert "Traceback" not in (logs / "err").read_text()
    with pytest.raises(OSError):
        urllib.request.urlopen(uri + "/health", timeout=5)


def test_stage_wheels_fill_the_wheelhouse_for_offline_builds(tiny):
    root, _ = tiny
    wheels = root / "wheels"
    assert not wheels.exists()
    nothing = mlops("stage", "create", "fit", "--offline")
    assert nothing.code == 2
    assert nothing.err == (
        f"mlops: error: fit: --offline needs wheels in {wheels}: run "
        f"`mlops stage wheels fit` where the index is reachable\n"
    )
    filled = mlops("stage", "wheels", "fit")
    assert filled.code == 0, filled.err
    names = sorted(p.name for p in wheels.iterdir())
    assert filled.out == f"{wheels}: {len(names)} files\n"
    assert any(n.startswith("ipykernel-") for n in names)
    assert any(n.startswith("poetry_core-") for n in names)  # the build backend
    assert any(n.startswith(f"governed_mlops_tools-{TOOLS_VERSION}-") for n in names)
    offline = mlops("stage", "create", "fit", "--offline", "--force")
    assert offline.code == 0, offline.err
    assert offline.out == "fit: built\n"
    assert mlops("stage", "check", "fit").code == 0


def test_a_ci_step_gets_only_the_secrets_its_command_needs(tiny, monkeypatch):
    """pytest, pip-audit or cyclonedx have no use for the store's password or
    the index token; a pipeline needs the first, stage envs the second."""
    from governed_mlops.cli.ci import _settings, _step_env
    from governed_mlops.project import find_project

    root, _ = tiny
    stored = "store-pw"  # pragma: allowlist secret
    set_env(monkeypatch, MLFLOW_TRACKING_PASSWORD=stored)
    set_env(monkeypatch, PACKAGE_INDEX_TOKEN="index-tok")
    monkeypatch.setenv("UV_INDEX_PRIVATE_PASSWORD", "index-tok")
    secrets = {
        PREFIX + "MLFLOW_TRACKING_PASSWORD",
        PREFIX + "PACKAGE_INDEX_TOKEN",
        "UV_INDEX_PRIVATE_PASSWORD",
    }
    project = find_project(root)
    try:
        read = _settings(project)
        given = {
            step: secrets & set(_step_env(project, read, step)) for step in STEPS_SEEN
        }
    finally:
        sys.modules[f"{PACKAGE}.config"].get_settings.cache_clear()
    assert given == {
        "test": set(),
        "sbom": set(),
        "pipeline": {PREFIX + "MLFLOW_TRACKING_PASSWORD"},
        "envs": {PREFIX + "PACKAGE_INDEX_TOKEN", "UV_INDEX_PRIVATE_PASSWORD"},
    }


STEPS_SEEN = ("test", "sbom", "pipeline", "envs")


def uv_spy(folder: Path) -> tuple[Path, Path]:
    """A program that records the environment each uv command got, then runs
    uv (`mlops` takes ``$UV`` as uv, as under `uv run`): the script and its
    record."""
    record = folder / "uv-environments.jsonl"
    spy = folder / "uv-spy"
    spy.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"with open({str(record)!r}, 'a', encoding='utf-8') as out:\n"
        "    out.write(json.dumps(dict(os.environ)) + '\\n')\n"
        f"os.execv({UV!r}, [{UV!r}, *sys.argv[1:]])\n",
        encoding="utf-8",
    )
    spy.chmod(0o755)
    return spy, record


def test_stage_create_by_hand_gives_uv_only_the_index_token(
    tiny, tmp_path, monkeypatch
):
    """Run outside `mlops ci envs` (which strips the step's environment), the
    installer still gets no MLflow password or upload token: only the index's."""
    spy, record = uv_spy(tmp_path)
    monkeypatch.setenv("UV", str(spy))
    stored = "store-pw-by-hand"  # pragma: allowlist secret
    upload = "upload-tok-by-hand"  # pragma: allowlist secret
    set_env(monkeypatch, MLFLOW_TRACKING_PASSWORD=stored, PUBLISH_TOKEN=upload)
    set_env(monkeypatch, PACKAGE_INDEX_TOKEN="index-tok-by-hand")
    try:
        built = mlops("stage", "create", "fit", "--force")
    finally:
        sys.modules[f"{PACKAGE}.config"].get_settings.cache_clear()
    assert built.code == 0, built.err
    assert built.out == "fit: built\n"
    seen = [
        json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()
    ]
    assert len(seen) >= 3  # venv, install, freeze
    for environment in seen:
        values = set(environment.values())
        assert stored not in values and upload not in values
        assert environment[PREFIX + "PACKAGE_INDEX_TOKEN"] == "index-tok-by-hand"
