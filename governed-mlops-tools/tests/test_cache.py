"""The stage cache's rules on a tiny project (no env, no kernel): what counts
as a change, why a stage runs again, restoring outputs, the stat cache.
The pipeline runs that use it are in tests/test_tools_in_process.py."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from governed_mlops.project import find_project
from governed_mlops.runner import cache
from governed_mlops.runner.shared_cache import SHARED_TAG, SharedCache
from governed_mlops.runner.store import RunInfo
from governed_mlops.stages.specs import Stage, load_stage

from tiny_project import spec_text, write_project


@pytest.fixture
def stages(tmp_path: Path) -> dict[str, Stage]:
    """prep writes data/out.txt; fit reads it and writes models/fit.txt."""
    write_project(tmp_path, stages=("prep", "fit"), git=False)
    specs = tmp_path / "env_specs"
    (specs / "stage_prep.yaml").write_text(
        spec_text("prep", "tinygov", outputs=["data/*.txt"]), encoding="utf-8"
    )
    (specs / "stage_fit.yaml").write_text(
        spec_text(
            "fit", "tinygov", inputs=["data/out.txt"], outputs=["models/fit.txt"]
        ),
        encoding="utf-8",
    )
    (tmp_path / "data").mkdir()
    (tmp_path / "models").mkdir()
    project = find_project(tmp_path)
    return {name: load_stage(project, name, machine=False) for name in ("prep", "fit")}


def ran(store: cache.Cache, stage: Stage, parameters: dict, output: str) -> None:
    """As after a successful run of ``stage`` that wrote ``output``."""
    decision = store.decide(stage, parameters, force=True)
    for pattern in stage.spec.outputs:
        folder = stage.project.root / pattern.split("/")[0]
        name = "out.txt" if stage.name == "prep" else "fit.txt"
        (folder / name).write_text(output, encoding="utf-8")
    store.record(stage, decision, f"run-{stage.name}-{output}")


def fresh(stage: Stage) -> cache.Cache:
    return cache.Cache(stage.project.state_dir, stage.project.root, STORE)


STORE = "sqlite:///tiny/mlruns/mlflow.db"


def test_an_unchanged_stage_is_skipped_and_a_new_one_runs(stages):
    prep = stages["prep"]
    first = fresh(prep).decide(prep, {"seed": 1}, force=False)
    assert first.run and first.reason == f"no cached run from {STORE}"
    ran(fresh(prep), prep, {"seed": 1}, "a")
    again = fresh(prep).decide(prep, {"seed": 1}, force=False)
    assert not again.run and again.reason == "unchanged since run run-prep-a"
    assert again.reused == "run-prep-a"
    forced = fresh(prep).decide(prep, {"seed": 1}, force=True)
    assert forced.run and forced.reason == "forced (--force)"
    server = "http://mlflow:5000"
    other = cache.Cache(prep.project.state_dir, prep.project.root, server)
    elsewhere = other.decide(prep, {"seed": 1}, force=False)
    assert elsewhere.run and elsewhere.reason == f"no cached run from {server}"
    other.record(prep, elsewhere, "run-on-the-server")
    # Each store keeps its own: the first is still reused from its store.
    assert fresh(prep).decide(prep, {"seed": 1}, force=False).reused == "run-prep-a"


def test_a_stage_that_declares_no_files_always_runs(tmp_path):
    """What it reads is unknown: skipping it could hide new data."""
    write_project(tmp_path, stages=("solo",), git=False)
    solo = load_stage(find_project(tmp_path), "solo", machine=False)
    ran(fresh(solo), solo, {"seed": 1}, "a")
    again = fresh(solo).decide(solo, {"seed": 1}, force=False)
    assert again.run
    assert again.reason == "its spec declares no inputs or outputs, so it always runs"


def test_formatting_outputs_and_metadata_do_not_count(stages):
    prep = stages["prep"]
    ran(fresh(prep), prep, {"seed": 1}, "a")
    data = json.loads(prep.notebook.read_text(encoding="utf-8"))
    code = data["cells"][1]
    code["source"] = ["# a comment\n", *code["source"], "\n", "   \n"]
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "x"}]
    code["execution_count"] = 7
    code["metadata"] = {"collapsed": True}
    data["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "new"})
    data["metadata"]["language_info"] = {"name": "python"}
    prep.notebook.write_text(json.dumps(data, indent=4), encoding="utf-8")
    assert not fresh(prep).decide(prep, {"seed": 1}, force=False).run
    code["source"].append("print('more')\n")
    prep.notebook.write_text(json.dumps(data), encoding="utf-8")
    changed = fresh(prep).decide(prep, {"seed": 1}, force=False)
    assert changed.run and changed.reason == "notebook code changed"


def test_each_reason_says_what_changed(stages):
    prep = stages["prep"]
    ran(fresh(prep), prep, {"seed": 1}, "a")
    assert fresh(prep).decide(prep, {"seed": 7}, force=False).reason == (
        "parameters changed: seed 1 → 7"
    )
    assert fresh(prep).decide(prep, {}, force=False).reason == (
        "parameters changed: seed 1 → the notebook's default"
    )
    lock = prep.project.locks_dir / "prep.txt"
    lock.parent.mkdir(parents=True)
    lock.write_text("iniconfig==2.0.0\n", encoding="utf-8")
    assert fresh(prep).decide(prep, {"seed": 1}, force=False).reason == "lock changed"
    lock.unlink()
    module = prep.project.root / "src" / "tinygov" / "features.py"
    module.write_text("X = 1\n", encoding="utf-8")
    assert fresh(prep).decide(prep, {"seed": 1}, force=False).reason == (
        "project package changed"
    )


def test_an_upstream_output_that_changes_reruns_the_downstream_stage(stages):
    prep, fit = stages["prep"], stages["fit"]
    ran(fresh(prep), prep, {"seed": 1}, "a")
    # Lineage: the run that wrote fit's input.
    assert fresh(fit).decide(fit, {"seed": 1}, force=False).producers == {
        "data/out.txt": "run-prep-a"
    }
    ran(fresh(fit), fit, {"seed": 1}, "fitted")
    assert not fresh(fit).decide(fit, {"seed": 1}, force=False).run
    ran(fresh(prep), prep, {"seed": 2}, "b")  # prep ran again, another output
    decision = fresh(fit).decide(fit, {"seed": 1}, force=False)
    assert decision.run and decision.reason == "input data/out.txt changed"
    (prep.project.root / "data" / "out.txt").write_text("by hand", encoding="utf-8")
    assert fresh(fit).decide(fit, {"seed": 1}, force=False).producers == {}
    (prep.project.root / "data" / "out.txt").unlink()
    assert fresh(fit).decide(fit, {"seed": 1}, force=False).reason == (
        "input data/out.txt removed"
    )


def test_a_missing_output_is_restored_from_the_cache(stages):
    prep = stages["prep"]
    ran(fresh(prep), prep, {"seed": 1}, "a")
    out = prep.project.root / "data" / "out.txt"
    out.unlink()
    decision = fresh(prep).decide(prep, {"seed": 1}, force=False)
    assert not decision.run and decision.restored == ["data/out.txt"]
    assert decision.reason.endswith("; restored data/out.txt")
    assert out.read_text(encoding="utf-8") == "a"
    out.write_text("edited by hand", encoding="utf-8")
    edited = fresh(prep).decide(prep, {"seed": 1}, force=False)
    assert (
        edited.run
        and edited.reason == "output data/out.txt changed since run run-prep-a"
    )
    assert out.read_text(encoding="utf-8") == "edited by hand", "not overwritten"
    kept = prep.project.state_dir / cache.CACHE_DIR / "objects"
    for path in kept.rglob("*"):
        if path.is_file():
            path.unlink()
    out.unlink()
    lost = fresh(prep).decide(prep, {"seed": 1}, force=False)
    assert (
        lost.run and lost.reason == "output data/out.txt missing and not in the cache"
    )


def test_going_back_to_earlier_parameters_reuses_the_earlier_runs(stages):
    """A smoke run, then the full one again: nothing runs, the full run's
    outputs come back from the cache, downstream too."""
    prep, fit = stages["prep"], stages["fit"]
    out = prep.project.root / "data" / "out.txt"
    model = prep.project.root / "models" / "fit.txt"
    ran(fresh(prep), prep, {"seed": 1}, "full")
    ran(fresh(fit), fit, {"seed": 1}, "fitted-full")
    ran(fresh(prep), prep, {"seed": 2}, "smoke")
    ran(fresh(fit), fit, {"seed": 1}, "fitted-smoke")
    back = fresh(prep).decide(prep, {"seed": 1}, force=False)
    assert not back.run and back.reused == "run-prep-full"
    assert back.reason == "as in the earlier run run-prep-full; restored data/out.txt"
    assert out.read_text(encoding="utf-8") == "full"
    downstream = fresh(fit).decide(fit, {"seed": 1}, force=False)
    assert not downstream.run and downstream.reused == "run-fit-fitted-full"
    assert model.read_text(encoding="utf-8") == "fitted-full"
    # The smoke run is an earlier run now.
    smoke = fresh(prep).decide(prep, {"seed": 2}, force=False)
    assert not smoke.run and smoke.reused == "run-prep-smoke"
    assert out.read_text(encoding="utf-8") == "smoke"
    # An output edited by hand is never overwritten: the stage runs.
    out.write_text("by hand", encoding="utf-8")
    edited = fresh(prep).decide(prep, {"seed": 1}, force=False)
    assert edited.run and edited.reason == "parameters changed: seed 2 → 1"
    assert out.read_text(encoding="utf-8") == "by hand"
    # Only the last few runs of a stage are kept besides its last.
    for seed in range(10, 10 + cache.HISTORY + 1):
        ran(fresh(prep), prep, {"seed": seed}, f"s{seed}")
    assert fresh(prep).decide(prep, {"seed": 1}, force=False).run


def test_an_unchanged_file_is_not_read_again(tmp_path):
    """The stat cache trusts size, modification time and inode: rewriting a
    file with the same size and times shows the hash was not recomputed."""
    big = tmp_path / "big.bin"
    big.write_bytes(b"a" * 4096)
    stats = cache.StatCache(tmp_path / "stat.json")
    first = stats.sha(big)
    stats.save()
    stamp = big.stat()
    with open(big, "r+b") as handle:  # same inode, same size
        handle.write(b"b")
    os.utime(big, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    again = cache.StatCache(tmp_path / "stat.json")
    assert again.sha(big) == first, "read from the stat cache"
    os.utime(big, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1000))
    assert again.sha(big) != first, "a new modification time is read again"


def test_bad_globs_are_refused_in_the_spec(tmp_path):
    from governed_mlops.stages.specs import SpecError, parse_spec

    write_project(tmp_path, stages=("prep",), git=False)
    spec = tmp_path / "env_specs" / "stage_prep.yaml"
    for bad, says in (
        ("/abs/x.csv", "is absolute; write it relative to the project root"),
        ("../x.csv", "leaves the project"),
    ):
        spec.write_text(spec_text("prep", "tinygov", inputs=[bad]), encoding="utf-8")
        with pytest.raises(SpecError, match="inputs") as raised:
            parse_spec(spec, "env_specs/stage_prep.yaml")
        assert says in str(raised.value)


def test_a_model_input_names_the_mlflow_model_its_run_logged(stages, tmp_path):
    """eval-style lineage: the input fit reads is the model prep's run logged."""
    store = cache.Cache(tmp_path / ".mlops", tmp_path, "sqlite:///x.db")
    (tmp_path / "data" / "out.txt").write_text("one", encoding="utf-8")
    decision = store.decide(stages["prep"], {}, force=False)
    store.record(stages["prep"], decision, "run-prep", {"data/out.txt": "models:/m-1"})
    fit = store.decide(stages["fit"], {}, force=False)
    assert fit.producers == {"data/out.txt": "run-prep"}
    assert fit.models == {"data/out.txt": "models:/m-1"}
    # Another content than the one logged: neither run nor model is named.
    (tmp_path / "data" / "out.txt").write_text("two", encoding="utf-8")
    assert store.decide(stages["fit"], {}, force=False).models == {}


class ArtifactRuns:
    """The part of the runner's Store the shared cache uses, in memory: runs
    with tags and artifact files (the real store is in
    tests/test_tools_in_process.py, which runs it against MLflow)."""

    uri = STORE

    def __init__(self) -> None:
        self.tags: dict[str, dict[str, str]] = {}
        self.files: dict[tuple[str, str], bytes] = {}
        self.broken = ""

    def warm(self) -> None:
        pass

    def last_run(self, tags, status):
        if self.broken:
            raise OSError(self.broken)
        for run_id in reversed(list(self.tags)):
            if tags.items() <= self.tags[run_id].items():
                return RunInfo(run_id, status, self.tags[run_id])
        return None

    def read_bytes(self, run_id, path):
        return self.files[run_id, path]

    def read_artifact(self, run_id, path):
        return self.read_bytes(run_id, path).decode("utf-8")

    def log_artifacts(self, run_id, folder, artifact_path):
        for path in Path(folder).rglob("*"):
            if path.is_file():
                name = f"{artifact_path}/{path.relative_to(folder).as_posix()}"
                self.files[run_id, name] = path.read_bytes()

    def set_tag(self, run_id, key, value):
        self.tags[run_id][key] = value


def shared_ran(runs: ArtifactRuns, stage: Stage, output: str) -> str:
    """A pipeline run of prep on another machine, shared through ``runs``."""
    other = cache.Cache(
        stage.project.state_dir, stage.project.root, STORE, SharedCache(runs)
    )
    decision = other.decide(stage, {"seed": 1}, force=True)
    run_id = f"run-{output}"
    runs.tags[run_id] = {"stage": stage.name, "cache.key": decision.key}
    (stage.project.root / "data" / "out.txt").write_text(output, encoding="utf-8")
    other.record(stage, decision, run_id)
    # That machine's local cache and output are not on this one.
    shutil.rmtree(stage.project.state_dir / cache.CACHE_DIR)
    (stage.project.root / "data" / "out.txt").unlink()
    return run_id


def test_the_shared_cache_restores_what_this_machine_lacks(stages):
    prep = stages["prep"]
    runs = ArtifactRuns()
    run_id = shared_ran(runs, prep, "from afar")
    assert runs.tags[run_id][SHARED_TAG] == "true"
    assert runs.files[run_id, "cache/outputs/data/out.txt"] == b"from afar"
    # Without the shared cache this machine has no run to reuse.
    alone = fresh(prep).decide(prep, {"seed": 1}, force=False)
    assert alone.run and alone.reason == f"no cached run from {STORE}"
    shared = cache.Cache(
        prep.project.state_dir, prep.project.root, STORE, SharedCache(runs)
    )
    reused = shared.decide(prep, {"seed": 1}, force=False)
    assert not reused.run and reused.reused == run_id
    assert reused.reason == (
        f"unchanged since run {run_id} (shared cache: MLflow); restored data/out.txt"
    )
    out = prep.project.root / "data" / "out.txt"
    assert out.read_text(encoding="utf-8") == "from afar"
    # Kept locally: the next decision needs no store.
    runs.broken = "the store is away"
    again = fresh(prep).decide(prep, {"seed": 1}, force=False)
    assert not again.run and again.reused == run_id


def test_the_shared_cache_never_hands_over_what_does_not_match(stages):
    prep = stages["prep"]
    runs = ArtifactRuns()
    run_id = shared_ran(runs, prep, "from afar")
    runs.files[run_id, "cache/outputs/data/out.txt"] = b"tampered with"

    def decide():
        store = cache.Cache(
            prep.project.state_dir, prep.project.root, STORE, SharedCache(runs)
        )
        return store.decide(prep, {"seed": 1}, force=False)

    tampered = decide()
    assert tampered.run and tampered.reason == f"no cached run from {STORE}"
    assert not (prep.project.root / "data" / "out.txt").exists()
    # An output edited here is not overwritten by the shared one.
    runs.files[run_id, "cache/outputs/data/out.txt"] = b"from afar"
    (prep.project.root / "data" / "out.txt").write_text("mine", encoding="utf-8")
    assert decide().run
    assert (prep.project.root / "data" / "out.txt").read_text() == "mine"
    # The store away: the stage runs, and its line says why.
    runs.broken = "connection refused"
    away = decide()
    assert away.run and away.reason == (
        f"no cached run from {STORE}; the shared cache in {STORE} could not be "
        "read (OSError: connection refused)"
    )


def test_a_run_that_could_not_be_shared_still_counts_here(stages, capsys):
    prep = stages["prep"]
    runs = ArtifactRuns()
    runs.set_tag = None  # type: ignore[assignment] - calling it fails
    store = cache.Cache(
        prep.project.state_dir, prep.project.root, STORE, SharedCache(runs)
    )
    decision = store.decide(prep, {"seed": 1}, force=True)
    (prep.project.root / "data" / "out.txt").write_text("a", encoding="utf-8")
    store.record(prep, decision, "run-a")
    assert "run run-a is not in the shared cache of" in capsys.readouterr().err
    assert not fresh(prep).decide(prep, {"seed": 1}, force=False).run
