"""The runner's parts that need no kernel or store: failure messages, notebook
parameters, the audit tags and bundle, the git state (the runs themselves are
in the template suite's tests/test_tools_in_process.py)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from governed_mlops.errors import CommandError
from governed_mlops.hashes import file_sha
from governed_mlops.project import find_project
from governed_mlops.runner import execute
from governed_mlops.runner.gitinfo import GitState
from governed_mlops.stages.specs import Stage, load_stage

from tiny_project import write_project


@pytest.fixture
def tiny(tmp_path: Path) -> Stage:
    """Stage solo of a tiny project (not built: no env, no kernel)."""
    write_project(tmp_path, stages=("solo", "duo"), git=False)
    return load_stage(find_project(tmp_path), "solo", machine=False)


def cell(tags: list[str], kind: str = "code") -> dict[str, object]:
    return {"cell_type": kind, "metadata": {"tags": tags}, "source": []}


def executed_after_failure(path: Path, before: list[list[str]]) -> None:
    """The executed notebook as papermill writes it when the cell after
    ``before`` failed: an error note on top and one before the failing cell."""
    note = ["papermill-error-cell-tag"]
    cells = [cell(note, "markdown")] + [cell(tags) for tags in before]
    cells += [cell(note, "markdown"), cell([])]
    path.write_text(json.dumps({"cells": cells}), encoding="utf-8")


@pytest.mark.parametrize(
    ("before", "number"),
    [
        # The parameters, papermill's injected parameters, then the failing
        # cell: the second cell of the source notebook.
        ([["parameters"], ["injected-parameters"]], 2),
        ([[], ["parameters"], ["injected-parameters"], []], 4),
        ([[], []], 3),  # no parameters were injected
    ],
)
def test_a_failure_names_the_cell_of_the_source_notebook(
    tiny, tmp_path, before, number
):
    from papermill.exceptions import PapermillExecutionError

    output = tmp_path / "executed.ipynb"
    executed_after_failure(output, before)
    error = PapermillExecutionError(
        cell_index=len(before),  # papermill counts before it adds its notes
        exec_count=len(before) + 1,
        source="assert seed >= 0",
        ename="AssertionError",
        evalue="seed must not be negative",
        traceback=[],
    )
    assert execute.describe_failure(error, tiny, output) == (
        f"stage solo failed at cell {number} of notebooks/solo.ipynb: "
        f"AssertionError: seed must not be negative",
        {
            "failure.cell": str(number),
            "failure.error": "AssertionError",
            "failure.message": "seed must not be negative",
        },
    )


def test_a_failure_outside_a_cell_names_the_notebook(tiny, tmp_path):
    output = tmp_path / "never-written.ipynb"
    error = RuntimeError("Kernel didn't respond in 120 seconds")
    assert execute.describe_failure(error, tiny, output) == (
        "stage solo failed at notebooks/solo.ipynb: RuntimeError: Kernel didn't "
        "respond in 120 seconds",
        {
            "failure.error": "RuntimeError",
            "failure.message": "Kernel didn't respond in 120 seconds",
        },
    )
    assert execute.failing_cell(output, 4) == (5, {})  # no notebook to read


def test_a_failing_magic_is_described_by_what_it_printed(tiny, tmp_path):
    """IPython prints a magic's UsageError instead of raising it: papermill
    then has only a bare CellExecutionError, the text is in the cell's stderr."""
    from papermill.exceptions import PapermillExecutionError

    output = tmp_path / "executed.ipynb"
    executed_after_failure(output, [["parameters"]])
    data = json.loads(output.read_text(encoding="utf-8"))
    data["cells"][-1]["outputs"] = [
        {"output_type": "stream", "name": "stdout", "text": ["Error: not this\n"]},
        {
            "output_type": "stream",
            "name": "stderr",
            "text": ["UsageError: Line magic function `%nosuch` not found.\n"],
        },
    ]
    output.write_text(json.dumps(data), encoding="utf-8")
    error = PapermillExecutionError(
        cell_index=1,
        exec_count=2,
        source="%nosuch",
        ename="CellExecutionError",
        evalue="",
        traceback=[],
    )
    message, tags = execute.describe_failure(error, tiny, output)
    assert message == (
        "stage solo failed at cell 2 of notebooks/solo.ipynb: UsageError: Line "
        "magic function `%nosuch` not found."
    )
    assert tags["failure.error"] == "UsageError"
    # Printed text that is not an error line still beats an empty message.
    assert execute.printed_error(
        {"outputs": [{"output_type": "stream", "name": "stderr", "text": "oops\n"}]}
    ) == ("CellExecutionError", "oops")
    assert execute.printed_error({"outputs": []}) is None


def test_pipeline_parameters_go_to_the_stages_that_declare_them(tmp_path):
    write_project(tmp_path, stages=("solo", "duo"), git=False)
    project = find_project(tmp_path)
    stages = [load_stage(project, name, machine=False) for name in ("solo", "duo")]
    assert execute.split_parameters({"seed": 7, "duo.label": "x"}, stages) == {
        "solo": {"seed": 7},
        "duo": {"seed": 7, "label": "x"},
    }
    with pytest.raises(CommandError, match="names stage 'trio', which is not run"):
        execute.split_parameters({"trio.seed": 1}, stages)
    with pytest.raises(
        CommandError, match="no stage's notebook declares parameter 'x'"
    ):
        execute.split_parameters({"x": 1}, stages)


def test_parameters_are_read_from_the_tagged_cell_as_python(tiny):
    from governed_mlops.runner import notebook

    data = json.loads(tiny.notebook.read_text(encoding="utf-8"))
    # A jupytext notebook: no kernelspec, no language, the source as one string.
    data["metadata"] = {}
    data["cells"][0][
        "source"
    ] = "seed = 1  # the seed\nlabel = 'x'\nrate: float = 0.5\n"
    tiny.notebook.write_text(json.dumps(data), encoding="utf-8")
    assert notebook.declared_parameters(tiny.notebook) == {"seed", "label", "rate"}
    with pytest.raises(CommandError, match=r"declares: label, seed$"):
        notebook.check_parameters(
            {"sed": 1}, frozenset({"seed", "label"}), "solo", "notebooks/solo.ipynb"
        )


def test_a_notebook_without_a_parameters_cell_declares_nothing(tiny):
    from governed_mlops.runner import notebook

    data = json.loads(tiny.notebook.read_text(encoding="utf-8"))
    data["cells"][0]["metadata"]["tags"] = ["setup"]
    tiny.notebook.write_text(json.dumps(data), encoding="utf-8")
    assert not notebook.has_parameters_cell(tiny.notebook)
    assert notebook.declared_parameters(tiny.notebook) == frozenset()


def git(root: Path, *args: str) -> str:
    who = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    return subprocess.run(
        ["git", *who, *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_the_git_state_of_a_run(tmp_path, monkeypatch):
    from governed_mlops.runner.gitinfo import git_state

    assert git_state(tmp_path) == GitState("", "", False, "", b"")  # not a repository
    (tmp_path / "a.txt").write_text("one\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "a.txt")
    git(tmp_path, "commit", "-q", "-m", "a")
    git(tmp_path, "remote", "add", "origin", "https://git.example.com/churn.git")
    clean = git_state(tmp_path)
    assert clean == GitState(
        git(tmp_path, "rev-parse", "HEAD"),
        "main",
        False,
        "https://git.example.com/churn.git",
        b"",
    )
    # A change in a file of another encoding: the diff keeps its bytes.
    (tmp_path / "a.txt").write_bytes(b"one\ncaf\xe9\r\n")
    (tmp_path / "new.txt").write_text("untracked\n")
    dirty = git_state(tmp_path)
    assert dirty.dirty and dirty.commit == clean.commit
    assert b"+caf\xe9\r\n" in dirty.diff
    assert dirty.diff.endswith(b"# untracked: new.txt\n")
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without git
    assert git_state(tmp_path) == GitState("", "", False, "", b"")


def test_a_file_is_committed_as_is_only_byte_for_byte(tmp_path):
    """With core.autocrlf (Git for Windows' default) a CRLF checkout is not
    the committed file: the run keeps its own copy, which verify reads."""
    from governed_mlops.runner.gitinfo import committed_as_is

    spec = tmp_path / "stage.yaml"
    spec.write_bytes(b"name: train\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "stage.yaml")
    git(tmp_path, "commit", "-q", "-m", "spec")
    head = git(tmp_path, "rev-parse", "HEAD")
    assert committed_as_is(tmp_path, head, spec) == "stage.yaml"
    git(tmp_path, "config", "core.autocrlf", "true")
    spec.unlink()
    git(tmp_path, "checkout", "--", "stage.yaml")
    assert spec.read_bytes() == b"name: train\r\n"
    assert git(tmp_path, "status", "--porcelain") == "", "git sees no change"
    assert committed_as_is(tmp_path, head, spec) == ""


def test_a_replay_of_a_commit_this_clone_lacks_says_why_and_what_to_do(tmp_path):
    from governed_mlops.runner.replay import _export

    write_project(tmp_path)  # committed
    missing = "0123456789abcdef" * 2 + "01234567"
    with pytest.raises(CommandError) as raised:
        _export(find_project(tmp_path), missing, tmp_path / "tree")
    message = str(raised.value)
    assert message.startswith("the run's commit 0123456789ab cannot be read")
    assert "(git archive --format=tar failed (fatal: not a tree object" in message
    assert message.endswith("): fetch it, then replay")


def test_audit_tags_and_bundle_of_a_run(tiny, tmp_path, monkeypatch):
    from governed_mlops import __version__
    from governed_mlops.runner import audit

    git_ = GitState("c0ffee", "main", True, "https://git.example.com/t.git", b"+x\n")
    tags = audit.run_tags(tiny, git_, "ipykernel==6.29.5\n", "3.11.7")
    assert tags["mlflow.source.git.commit"] == "c0ffee"
    assert tags["mlflow.source.git.repoURL"] == "https://git.example.com/t.git"
    assert tags["git.dirty"] == "true" and tags["python.version"] == "3.11.7"
    assert tags["env.fingerprint"] == audit.fingerprint("ipykernel==6.29.5", "c0ffee")
    assert tags["mlops.version"] == __version__
    assert tags["stage.spec"] == "env_specs/stage_solo.yaml"
    bundle = tmp_path / "bundle"
    audit.start_bundle(bundle, tiny, git_, "ipykernel==6.29.5\n")
    assert audit.LOCK_TAG not in tags  # no lock yet: no digest
    lock = tiny.project.locks_dir / "solo.txt"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("ipykernel==6.29.5\n")
    assert audit.run_tags(tiny, git_, "", "3.11.7")[audit.LOCK_TAG] == file_sha(lock)
    lock.unlink()
    # No lock yet (the env was never built): none in the bundle either.
    assert sorted(p.name for p in bundle.iterdir()) == [
        "git.diff",
        "pip-freeze.txt",
        "source",
        "stage_solo.yaml",
    ]
    assert (bundle / "source" / "solo.ipynb").read_bytes() == tiny.notebook.read_bytes()
    # The freeze's bytes are what tag audit.freeze hashes, on any platform.
    written = tags[audit.FREEZE_TAG]
    assert file_sha(bundle / "pip-freeze.txt") == written
    # Another run keeps the env's freeze: none here.
    other = tmp_path / "other"
    audit.start_bundle(other, tiny, git_, None)
    assert not (other / "pip-freeze.txt").exists()
    assert audit.freeze_run("b", {audit.FREEZE_TAG: written}) == "b"
    held = {audit.FREEZE_TAG: written, audit.SBOM_RUN_TAG: "a"}
    assert audit.freeze_run("b", held) == "a"
    assert audit.freeze_run("b", {audit.SBOM_RUN_TAG: "a"}) == "b"  # kept its own
    outside = GitState("", "", False, "", b"")
    tags = audit.run_tags(tiny, outside, "", "3.11.7")
    assert tags["mlflow.source.git.commit"] == "none (not a git repository)"
    assert "mlflow.source.git.repoURL" not in tags

    def no_user() -> str:  # a CI container without a user name
        raise KeyError("getpwuid(): uid not found: 1001")

    monkeypatch.setattr(audit.getpass, "getuser", no_user)
    assert audit.user() == "unknown"


def test_progress_lines_name_the_step_and_its_time():
    from governed_mlops.progress import Progress

    stream = io.StringIO()
    say = Progress("solo", stream)
    say("locking 4 requirements")
    assert re.fullmatch(
        r"\[solo\] locking 4 requirements \(\d+\.\d s\)\n", stream.getvalue()
    )
    assert say.elapsed() >= 0


class Terminal(io.StringIO):
    """Text written to a terminal."""

    def isatty(self) -> bool:
        return True


def test_a_terminal_shows_the_running_cell_in_place_and_run_log_gets_the_rest(
    tmp_path,
):
    import logging

    from governed_mlops.progress import Progress
    from governed_mlops.runner.output import RunLog

    papermill = logging.getLogger("papermill")
    terminal = Terminal()
    with RunLog(tmp_path / "run.log", Progress("train", terminal), stream=terminal):
        papermill.info("Executing Cell 3---------------------------------------")
        papermill.info("the notebook printed this")
    shown = terminal.getvalue()
    assert "\r\x1b[K[train] cell 3 (" in shown
    assert "printed this" not in shown and shown.endswith("\r\x1b[K")
    log = (tmp_path / "run.log").read_text(encoding="utf-8")
    assert "| INFO     | papermill | Executing Cell 3" in log
    assert "| INFO     | papermill | the notebook printed this" in log
    assert papermill.handlers == [] and papermill.propagate, "put back"

    piped = io.StringIO()  # --verbose, not a terminal: every line, no redraws
    with RunLog(tmp_path / "v.log", Progress("train", piped), True, piped):
        papermill.info("Executing Cell 1---------------------------------------")
    assert "\r" not in piped.getvalue()
    assert "| papermill | Executing Cell 1" in piped.getvalue()


def test_python_warnings_during_a_run_go_to_run_log(tmp_path, capsys):
    import warnings

    from governed_mlops.progress import Progress
    from governed_mlops.runner.output import RunLog

    shown = warnings.showwarning
    terminal = Terminal()
    with RunLog(tmp_path / "run.log", Progress("train", terminal), stream=terminal):
        with warnings.catch_warnings():  # shown, as outside pytest
            warnings.simplefilter("always")
            # As nbformat warns for a notebook whose cells have no ids.
            warnings.warn("Cell is missing an id field", FutureWarning, stacklevel=1)
    assert warnings.showwarning is shown, "put back"
    assert "missing an id" not in terminal.getvalue() + capsys.readouterr().err
    log = (tmp_path / "run.log").read_text(encoding="utf-8")
    assert "| WARNING  | py.warnings | FutureWarning: Cell is missing an id" in log


def test_model_tags_read_back_as_the_lineage_of_their_inputs():
    from governed_mlops.runner import models

    logged = [
        {
            "path": "models/model.joblib",
            "model_uri": "models:/m-1",
            "model_id": "m-1",
            "version": "3",
            "registered_name": "churn-classifier",
        },
        {
            "path": "models/baseline.joblib",
            "model_uri": "models:/m-2",
            "model_id": "m-2",
            "version": "",
            "registered_name": "",
        },
    ]
    tags = models.tags_of(logged)
    assert tags == {
        "models.logged": "models/model.joblib=models:/m-1; "
        "models/baseline.joblib=models:/m-2",
        "models.registered": "churn-classifier/3",
    }
    assert models.artifact_name("models/my model.v2.joblib") == "my-model.v2"


def test_the_model_script_starts_with_the_notebook_and_stops_without_work(tmp_path):
    """The script that logs a stage's models is started before the notebook
    runs (its imports take seconds in a stage env); a notebook that fails
    gives it no work, and it is stopped, logging nothing."""
    from types import SimpleNamespace

    from governed_mlops.runner import models

    model = SimpleNamespace(path="models/m.joblib", flavor="sklearn")
    stage = SimpleNamespace(
        name="train",
        python=Path(sys.executable),
        project=SimpleNamespace(root=tmp_path),
        spec=SimpleNamespace(models=[model]),
    )
    store = {"MLFLOW_TRACKING_URI": (tmp_path / "mlruns").as_uri()}
    with models.Logger(stage, store) as logger:
        assert logger.process is not None and logger.process.poll() is None
    assert logger.process.returncode is not None
    assert not (tmp_path / "mlruns").exists()
    stage.spec.models = []
    assert models.Logger(stage, store).process is None


def test_the_model_script_opens_the_store_before_it_is_given_work():
    """While the notebook runs, the script opens the tracking store (reading
    the stage's run), so that logging waits only for the logging itself."""
    import http.server
    import threading

    from governed_mlops.runner import models

    asked: list[str] = []

    class Store(http.server.BaseHTTPRequestHandler):
        """A tracking server that records what it is asked and knows no run."""

        def do_GET(self) -> None:
            asked.append(self.path)
            body = b'{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no"}'
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Store)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{server.server_address[1]}",
        "MLFLOW_RUN_ID": "f" * 32,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    }
    process = subprocess.Popen(
        [sys.executable, str(models.SCRIPT)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        deadline = time.monotonic() + 180
        while not asked and process.poll() is None:
            assert time.monotonic() < deadline, "the store was never read"
            time.sleep(0.2)
        assert process.poll() is None  # still waiting for work
        path, _, query = asked[0].partition("?")
        assert path == "/api/2.0/mlflow/runs/get" and "run_id=" + "f" * 32 in query
        _, err = process.communicate(b"", timeout=60)  # no work: it exits
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        server.shutdown()
    assert process.returncode == 0, err


def test_a_server_that_answers_503_is_told_apart_from_one_that_is_away(monkeypatch):
    """A server up with its database down answers 503: the message says the
    server answered, not that it could not be reached."""
    import http.server
    import threading

    from governed_mlops.runner import store

    class Unavailable(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    monkeypatch.setattr(store, "RETRY_DELAYS", (0.01,))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    uri = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(store.StoreUnavailable) as raised:
            store.http_json(uri, "GET", "experiments/search", {})
    finally:
        server.shutdown()
        server.server_close()
    assert str(raised.value).startswith(
        f"the MLflow tracking server {uri} answered but could not serve the request "
        "(HTTP 503 Service Unavailable; 2 tries over 0.0 s): its database"
    )
    with pytest.raises(store.StoreUnavailable, match="could not be reached"):
        store.http_json(uri, "GET", "experiments/search", {})  # nothing there now


def test_a_replay_of_a_run_that_did_not_finish_is_refused():
    """A KILLED or FAILED run recorded no outputs: its replay said "0
    output(s) the same" and exit 0, which reads as reproduced."""
    from types import SimpleNamespace

    from governed_mlops.runner import audit
    from governed_mlops.runner.replay import _replayable

    tags = {"stage": "train", audit.MANIFEST_TAG: "0" * 64}
    assert _replayable(SimpleNamespace(tags=tags, status="FINISHED"), "r1") == "train"
    for status in ("KILLED", "FAILED"):
        with pytest.raises(CommandError) as raised:
            _replayable(SimpleNamespace(tags=tags, status=status), "r1")
        assert str(raised.value) == (
            f"run r1 (train) ended {status}: its outputs were not recorded, so a "
            "replay has nothing to compare with; replay a FINISHED run of train"
        )
    with pytest.raises(CommandError, match="is not a stage run"):
        _replayable(SimpleNamespace(tags={}, status="FINISHED"), "r1")


def test_answers_that_are_not_yaml_are_named():
    from governed_mlops.update.render import parse_answers

    with pytest.raises(CommandError) as raised:
        parse_answers("_commit: 1.3.0\ngarbage: [\n")
    assert str(raised.value).startswith(
        ".copier-answers.yml: not valid YAML: line 3, column 1: "
    )
