"""Stage-env parts that need no install: the build folders swapped in and out,
markers, kernels, locks and the drift lines (envs are built for real in the
template suite's tests/test_tools_in_process.py and test_stage_envs.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from governed_mlops.cli.audit import compare
from governed_mlops.errors import CommandError
from governed_mlops.project import find_project
from governed_mlops.stages import env, kernels, locks
from governed_mlops.stages.specs import Stage, load_stage

from tiny_project import write_project


@pytest.fixture
def stage(tmp_path: Path) -> Stage:
    """Stage solo of a tiny project, its interpreter found (nothing built)."""
    write_project(tmp_path, git=False)
    return load_stage(find_project(tmp_path), "solo")


def folder(path: Path, name: str) -> Path:
    """A stand-in env: a folder with one file naming it."""
    path.mkdir(parents=True)
    (path / "which").write_text(name, encoding="utf-8")
    return path


def which(path: Path) -> str:
    return (path / "which").read_text(encoding="utf-8")


def test_a_relocatable_build_is_made_beside_and_swapped_in(tmp_path):
    live = folder(tmp_path / ".venvs" / "solo", "old")
    folder(tmp_path / ".venvs" / "solo.new", "left by a killed build")
    building = env._start_build(live, relocatable=True)
    assert building == tmp_path / ".venvs" / "solo.new" and not building.exists()
    folder(building, "new")
    env._finish_build(building, live)
    assert which(live) == "new"
    assert sorted(p.name for p in live.parent.iterdir()) == ["solo"]


def test_a_build_in_place_keeps_the_old_env_aside_until_it_succeeds(tmp_path):
    live = folder(tmp_path / ".venvs" / "solo", "old")
    building = env._start_build(live, relocatable=False)
    assert building == live and which(tmp_path / ".venvs" / "solo.old") == "old"
    folder(building, "failed half way")
    env._abandon_build(building, live)
    assert which(live) == "old" and not (tmp_path / ".venvs" / "solo.old").exists()
    env._start_build(live, relocatable=False)
    folder(live, "new")
    env._finish_build(live, live)
    assert which(live) == "new" and not (tmp_path / ".venvs" / "solo.old").exists()


def test_a_build_that_cannot_be_moved_in_brings_the_old_env_back(tmp_path):
    live = folder(tmp_path / ".venvs" / "solo", "old")
    vanished = tmp_path / ".venvs" / "solo.new"  # removed by someone meanwhile
    with pytest.raises(OSError):
        env._finish_build(vanished, live)
    assert which(live) == "old"


def test_an_env_in_use_is_named_and_left_as_it_was(tmp_path, monkeypatch):
    """Windows refuses to move a folder a running kernel holds files in."""
    import os

    live = folder(tmp_path / ".venvs" / "solo", "old")
    real = os.replace

    def replace(source, target):
        if Path(source) == live:
            raise PermissionError(13, "Access is denied")
        return real(source, target)

    monkeypatch.setattr(env.os, "replace", replace)
    building = env._start_build(live, relocatable=True)
    folder(building, "new")
    message = r"solo is in use \(Access is denied\): a program runs from it"
    with pytest.raises(env.EnvInUse, match=message):
        env._finish_build(building, live)
    assert which(live) == "old"
    with pytest.raises(env.EnvInUse, match=message):
        env._start_build(live, relocatable=False)
    assert which(live) == "old" and not (tmp_path / ".venvs" / "solo.old").exists()


def test_an_interrupted_create_is_finished_or_undone(stage):
    aside = stage.env_dir.with_name("solo.old")
    env._recover(stage)  # nothing was interrupted: nothing to do
    assert not stage.env_dir.exists()
    folder(aside, "previous")
    folder(stage.env_dir, "half built")  # no marker: the build did not finish
    env._recover(stage)
    assert which(stage.env_dir) == "previous" and not aside.exists()
    folder(aside, "previous")
    (stage.env_dir / env.MARKER).write_text("{}", encoding="utf-8")  # finished
    env._recover(stage)
    assert which(stage.env_dir) == "previous" and not aside.exists()


def test_markers_that_cannot_be_read_mean_not_built(stage):
    stage.env_dir.mkdir(parents=True)
    assert env.read_marker(stage) is None
    (stage.env_dir / env.MARKER).write_text("{not json", encoding="utf-8")
    assert env.read_marker(stage) is None
    (stage.env_dir / env.MARKER).write_text("[1, 2]", encoding="utf-8")
    assert env.read_marker(stage) is None


def test_an_env_with_the_distributions_it_was_built_with_has_no_drift(stage):
    site = stage.env_dir / "lib" / "python3.11" / "site-packages"
    (site / "ipykernel-6.29.5.dist-info").mkdir(parents=True)
    (site / "tinygov-0.1.0.dist-info").mkdir()
    marker = {"installed": env.installed_digest(stage.env_dir), "installer": "uv"}
    (stage.env_dir / env.MARKER).write_text(json.dumps(marker), encoding="utf-8")
    assert env.distributions(stage.env_dir) == [
        "ipykernel-6.29.5.dist-info",
        "tinygov-0.1.0.dist-info",
    ]
    assert env.drift(stage) == []  # no freeze, no process: the digest matches


def test_an_unbuilt_stage_says_what_to_run(stage):
    assert env.problems(stage) == ["no lock env_specs/locks/solo.txt"]
    lock = env.lock_path(stage)
    lock.parent.mkdir(parents=True)
    lock.write_text(locks.header("solo", "sha256:old") + "ipykernel==6.29.5\n")
    assert env.problems(stage) == [
        "the lock is stale (the spec, constraints or Python changed)",
        f"no venv at {stage.env_dir}",
    ]
    with pytest.raises(CommandError, match="run `mlops stage create solo`"):
        env.require_env(stage)


def test_the_stage_index_wins_over_the_project_index(tmp_path):
    root = write_project(tmp_path, git=False)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8")
        + 'index-url = "https://pypi.example.com/simple/"\n',
        encoding="utf-8",
    )
    plain = load_stage(find_project(root), "solo")
    assert env.index_options(plain).index_url == "https://pypi.example.com/simple/"
    spec = root / "env_specs" / "stage_solo.yaml"
    data = json.loads(spec.read_text(encoding="utf-8"))
    data.update(index_url="https://stage.example.com/simple/", find_links=["wheels"])
    spec.write_text(json.dumps(data), encoding="utf-8")
    own = load_stage(find_project(root), "solo")
    options = env.index_options(own, offline=False, token="t0k")
    assert options.index_url == "https://stage.example.com/simple/"
    assert options.find_links == ("wheels",) and options.token == "t0k"
    assert env.lock_digest(own) != env.lock_digest(plain)


def test_kernels_live_in_the_project_and_lead_jupyter_path(stage, tmp_path):
    project = stage.project
    spec = kernels.kernel_spec(stage.python, "Tiny: solo", "solo")
    path = kernels.write_kernel(project, "Tiny-Solo", spec)
    assert path == project.root / ".mlops" / "jupyter" / "kernels" / "tiny-solo" / (
        "kernel.json"
    )
    assert kernels.read_kernel(project, "tiny-solo") == spec
    assert spec["argv"][:3] == [str(stage.python), "-m", "ipykernel_launcher"]
    assert kernels.read_kernel(project, "other") is None
    path.write_text('"a kernel spec is an object"', encoding="utf-8")
    assert kernels.read_kernel(project, "tiny-solo") is None
    others = f"{tmp_path / 'a'}:{project.jupyter_dir}:"
    assert kernels.jupyter_path_env(project, {"JUPYTER_PATH": others}) == {
        "JUPYTER_PATH": f"{project.jupyter_dir}:{tmp_path / 'a'}"
    }
    assert kernels.jupyter_path_env(project, {}) == {
        "JUPYTER_PATH": str(project.jupyter_dir)
    }


def test_a_lock_digest_is_read_from_its_header_only(tmp_path):
    lock = tmp_path / "solo.txt"
    assert locks.read_digest(lock) is None  # no lock
    lock.write_text(locks.header("solo", "sha256:abc") + "ipykernel==6.29.5\n")
    assert locks.read_digest(lock) == "sha256:abc"
    lock.write_text("ipykernel==6.29.5\n# mlops-lock-input: sha256:abc\n")
    assert locks.read_digest(lock) is None  # not in the header
    lock.write_text("# a comment only\n")
    assert locks.read_digest(lock) is None


def test_drift_lines_say_how_each_package_changed():
    before = {"pandas": "2.1.0", "numpy": "1.26.0", "six": "1.16.0", "odd": "b"}
    after = {"pandas": "2.2.1", "numpy": "1.25.2", "joblib": "1.4.0", "odd": "a"}
    assert compare(before, after) == [
        "added      joblib==1.4.0",
        "downgraded numpy 1.26.0 -> 1.25.2",
        "downgraded odd b -> a",  # not versions: compared as text
        "upgraded   pandas 2.1.0 -> 2.2.1",
        "removed    six==1.16.0",
    ]
    assert compare(before, before) == []


def test_a_stage_with_an_mlflow_client_gets_the_runners_mlflow_version():
    """The runner and the kernels share the SQLite store: one schema."""
    from importlib.metadata import version

    from governed_mlops.stages import locks

    inputs = locks.lock_inputs(["mlflow-skinny>=3.9,<4", "pandas"], [])
    assert f"mlflow-skinny=={version('mlflow')}" in inputs
    assert "mlflow-skinny>=3.9,<4" in inputs
    assert not any(r.startswith("mlflow") for r in locks.lock_inputs(["pandas"], []))


def windows_text_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Path.write_text`` as on Windows: each ``\\n`` is written ``\\r\\n``."""
    real = Path.write_text

    def write_text(self, data, encoding=None, errors=None, newline=None):
        if newline is None:
            data = data.replace("\n", "\r\n")
        return real(self, data, encoding=encoding, errors=errors, newline="")

    monkeypatch.setattr(Path, "write_text", write_text)


def test_a_lock_is_written_with_lf_on_every_platform(stage, tmp_path, monkeypatch):
    """Its hash keys the stage cache and the runs' records: a lock written
    with CRLF on Windows differs from the same lock committed from Linux."""

    class Locker:
        name = "uv"

        def lock(self, requirements, output, *args):
            output.write_bytes(b"ipykernel==6.29.5\n    --hash=sha256:ab\n")

    windows_text_mode(monkeypatch)
    new_lock = tmp_path / "work" / "lock.txt"
    new_lock.parent.mkdir()
    options, index = env.Options(), env.IndexOptions()
    quiet = lambda text: None  # noqa: E731
    env._lock(
        stage, Locker(), Path("python"), new_lock, index, options, "d" * 64, quiet
    )
    written = new_lock.read_bytes()
    assert b"ipykernel==6.29.5\n" in written and b"\r" not in written
