"""Notebooks as people who never heard of this project write them, each run
as a stage and checked against its expected outcome (``CASES``).

The corpus is tests/notebook_corpus/ (its README.md has the same table in
prose). Each case copies one notebook into a tiny project of its own (one
stage, its env built once for the module), points the stage's spec at it,
runs ``mlops stage run one`` in this process and checks the exit code, the
command's output, the MLflow run (status, ``failure.*`` tags, params) and its
audit bundle (the executed notebook, ``run.log``). The spec is restored, and
the notebook and whatever else the run left in the work tree are deleted.
Stage envs hold only ipykernel and the tiny project's dependencies, so the
notebooks use only the standard library.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from conftest import TOOLS

sys.path.insert(0, str(TOOLS / "tests"))
from tiny_project import (  # noqa: E402
    Result,
    built_project,
    mlops,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("notebook_corpus")]
CORPUS = Path(__file__).resolve().parent / "notebook_corpus"
PACKAGE = "corpusgov"
STAGE = "one"
PREFIX = PACKAGE.upper() + "_"
ERROR_MARKER = "papermill-error-cell-tag"
FINISHED_OUT = re.compile(rf"{STAGE}: FINISHED in \d+\.\d s\nrun ([0-9a-f]{{32}})\n")
ENDED = re.compile(rf"^\[{STAGE}\] (FINISHED|FAILED), run ([0-9a-f]{{32}}) \(", re.M)


def settings():
    return sys.modules[f"{PACKAGE}.config"].get_settings()


def client():
    from mlflow.tracking import MlflowClient

    return MlflowClient(settings().mlflow_tracking_uri)


def recorded() -> dict[str, Any]:
    """Every run of the project's experiment, by id."""
    mlflow = client()
    experiment = mlflow.get_experiment_by_name(PACKAGE)
    if experiment is None:
        return {}
    runs = mlflow.search_runs([experiment.experiment_id], max_results=1000)
    return {run.info.run_id: run for run in runs}


def untracked(root: Path) -> set[str]:
    """Files in the project's work tree that git neither tracks nor ignores."""
    listed = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard", "-z"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {name for name in listed.split("\0") if name}


def git_changes(root: Path) -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The tiny project with stage ``one``, cwd, its env built and committed."""
    root = tmp_path_factory.mktemp("corpus") / PACKAGE
    with built_project(root, PACKAGE, (STAGE,)):
        yield root


@dataclass
class Outcome:
    """What one case's run left: the command's result, its MLflow run (None
    when refused before it started), its audit bundle and the executed
    notebook's cells."""

    case: Case
    result: Result
    root: Path
    run: Any = None
    bundle: Optional[Path] = None

    @property
    def executed(self) -> dict[str, Any]:
        assert self.bundle is not None
        path = self.bundle / self.case.file
        return json.loads(path.read_text(encoding="utf-8"))

    @property
    def cells(self) -> list[dict[str, Any]]:
        return self.executed["cells"]

    @property
    def printed(self) -> str:
        """All text the executed notebook's cells printed or displayed."""
        return "".join(
            "".join(output.get("text", ""))
            + "".join(output.get("data", {}).get("text/plain", ""))
            for cell in self.cells
            for output in cell.get("outputs", [])
        )

    @property
    def log(self) -> str:
        assert self.bundle is not None
        return (self.bundle / "run.log").read_text(encoding="utf-8")


# Checks beyond the table's columns, one per case that needs one.


def first_cell_is_injected(outcome: Outcome) -> None:
    first = outcome.cells[0]
    assert "injected-parameters" in first["metadata"]["tags"]
    assert "threshold = 0.9" in "".join(first["source"])


def injected_after_parameters_cell(outcome: Outcome) -> None:
    tags = [cell["metadata"].get("tags", []) for cell in outcome.cells]
    assert "parameters" in tags[1] and "injected-parameters" in tags[2], tags


def stale_outputs_replaced(outcome: Outcome) -> None:
    assert "stale output from a laptop" not in outcome.printed
    assert [cell["execution_count"] for cell in outcome.cells] == [1, 2]


def ran_as_python(outcome: Outcome) -> None:
    """The kernel that ran it tells its language; papermill keeps the
    notebook's kernelspec (``ir``) as written."""
    assert outcome.executed["metadata"]["language_info"]["name"] == "python"


def later_cells_not_run(outcome: Outcome) -> None:
    """Cell 4 (after the failure) is left as it was: not run, no outputs."""
    last = outcome.cells[-1]
    assert last["execution_count"] is None and last["outputs"] == []
    assert "never printed" not in outcome.log


def not_run_after_exit(outcome: Outcome) -> None:
    """papermill stops at the cell that called sys.exit(0) (its SystemExit
    output is kept) and counts the run a success; cell 3 never runs."""
    exited, after = outcome.cells[1], outcome.cells[2]
    assert "SystemExit" in [output.get("ename") for output in exited["outputs"]]
    assert after["execution_count"] is None and after["outputs"] == []
    assert "after exit" not in outcome.log
    assert not any(ERROR_MARKER in c["metadata"].get("tags", []) for c in outcome.cells)


def stale_error_cleared(outcome: Outcome) -> None:
    """papermill clears every cell's outputs before it runs any: the error
    cell 3 holds from an earlier run is not taken for this run's."""
    not_run_after_exit(outcome)
    assert "name 'frame' is not defined" not in json.dumps(outcome.cells)


def small_stderr_and_whole_log(outcome: Outcome) -> None:
    assert len(outcome.result.err.encode("utf-8")) < 10_000, outcome.result.err[:500]
    log = outcome.log
    assert len(log.encode("utf-8")) > 9_000_000
    assert "row 000000 " in log and "row 099999 " in log and "done" in log
    assert "row 099999 " in outcome.printed


def unicode_artifact(outcome: Outcome) -> None:
    names = [
        Path(a.path).name
        for a in client().list_artifacts(outcome.run.info.run_id, "audit")
    ]
    assert outcome.case.file in names, names
    assert outcome.case.file in outcome.result.err  # the `running ...` line


def stage_env_prefix(outcome: Outcome) -> None:
    env_dir = outcome.root / ".venvs" / STAGE
    assert outcome.printed.strip() == str(env_dir)
    assert outcome.printed.strip() != sys.prefix


def valid_as_nbformat(outcome: Outcome) -> None:
    import nbformat

    nbformat.validate(nbformat.reads(json.dumps(outcome.executed), as_version=4))


@dataclass(frozen=True)
class Case:
    """One corpus notebook, how it is run and what must come of it."""

    kind: str  # the test id
    file: str  # in tests/notebook_corpus/
    args: tuple[str, ...] = ()  # after `mlops stage run one`
    code: int = 0  # exit code
    status: Optional[str] = "FINISHED"  # of its MLflow run; None: no run
    failure: dict[str, str] = field(default_factory=dict)  # failure.* tags
    params: dict[str, str] = field(default_factory=dict)  # logged params
    printed: tuple[str, ...] = ()  # in the executed notebook's outputs
    err: tuple[str, ...] = ()  # on the command's stderr
    not_err: tuple[str, ...] = ()  # not on it
    log: tuple[str, ...] = ()  # in audit/run.log
    check: Optional[Callable[[Outcome], None]] = None

    @property
    def param(self):
        return pytest.param(self, id=self.kind)


CASES = [
    Case(
        "01-jupyter-parameterised",
        "01_jupyter_parameterised.ipynb",
        ("-p", "seed=7"),
        params={"seed": "7", "label": '"x"'},
        printed=("seed=7 label=x draw=",),
    ),
    Case(
        "01-refused-unknown-parameter",
        "01_jupyter_parameterised.ipynb",
        ("-p", "seeds=7"),
        code=2,
        status=None,
        err=("unknown parameter(s) seeds", "its parameters cell declares: label, seed"),
    ),
    Case(
        "01-refused-wrong-type",
        "01_jupyter_parameterised.ipynb",
        ("-p", "seed=1.5"),
        code=2,
        status=None,
        err=("-p seed=1.5: the notebook declares int (seed = 42)",),
    ),
    Case(
        "02-jupytext",
        "02_jupytext_light.ipynb",
        ("-p", "rows=4"),
        params={"rows": "4", "name": '"demo"'},
        printed=("demo [(0, 0), (1, 1), (2, 4), (3, 9)]",),
        check=injected_after_parameters_cell,
    ),
    Case(
        "03-vscode",
        "03_vscode.ipynb",
        printed=("python 3.", "45"),
        check=stale_outputs_replaced,
    ),
    Case(
        "04-r-kernelspec-python-code",
        "04_r_kernelspec.ipynb",
        ("-p", "n=5"),
        params={"n": "5"},
        printed=("sum 10",),
        check=ran_as_python,
    ),
    Case(
        # The notebook's own `threshold = 0.5` runs after the injected cell:
        # what the warning says.
        "05-no-parameters-cell",
        "05_no_parameters_cell.ipynb",
        ("-p", "threshold=0.9"),
        params={"threshold": "0.9"},
        printed=("threshold=0.5 kept=[0.6, 0.9]",),
        err=(
            "has no cell tagged 'parameters', so its parameters (threshold) are "
            "injected as its first cell",
        ),
        check=first_cell_is_injected,
    ),
    Case(
        "06-fails-in-cell-3",
        "06_fails_in_cell_3.ipynb",
        ("-p", "source=other.csv"),
        code=1,
        status="FAILED",
        failure={"cell": "3", "error": "ValueError", "message": "bad input"},
        printed=("loaded 3 rows from other.csv",),
        check=later_cells_not_run,
    ),
    Case(
        "07-unknown-line-magic",
        "07_unknown_magic.ipynb",
        code=1,
        status="FAILED",
        failure={
            "cell": "2",
            "error": "UsageError",
            "message": "Line magic function `%nosuch_magic` not found.",
        },
    ),
    Case(
        "08-sys-exit-0",
        "08_sys_exit_0.ipynb",
        printed=("nothing new, stopping here",),
        check=not_run_after_exit,
    ),
    Case(
        "08b-sys-exit-0-stale-error-output",
        "08b_sys_exit_0_stale_error.ipynb",
        printed=("nothing new, stopping here",),
        check=stale_error_cleared,
    ),
    Case(
        "09-system-exit-3",
        "09_system_exit_3.ipynb",
        code=1,
        status="FAILED",
        failure={"cell": "2", "error": "SystemExit", "message": "3"},
    ),
    Case(
        "10-huge-output",
        "10_huge_output.ipynb",
        check=small_stderr_and_whole_log,
    ),
    Case(
        "11-unicode-name-and-output",
        "11_análisis_データ.ipynb",
        printed=("naïve café — 日本語のデータ ✓ 🚀\n",),
        log=("naïve café — 日本語のデータ ✓ 🚀",),
        check=unicode_artifact,
    ),
    Case(
        "12-old-papermill-error-markers",
        "12_old_papermill_error_markers.ipynb",
        code=1,
        status="FAILED",
        failure={
            "cell": "6",
            "error": "ZeroDivisionError",
            "message": "division by zero",
        },
        printed=("total 3",),
    ),
    Case(
        "13-nbformat-4.4-no-ids",
        "13_nbformat_4_4.ipynb",
        printed=('{"ok": true, "cells": "without ids"}',),
        check=valid_as_nbformat,
    ),
    Case("14a-markdown-only", "14a_markdown_only.ipynb", check=valid_as_nbformat),
    Case("14b-no-cells", "14b_no_cells.ipynb", check=valid_as_nbformat),
    Case("15-shell-escape", "15_shell_escape.ipynb", check=stage_env_prefix),
    Case(
        "16-stderr",
        "16_stderr.ipynb",
        printed=("to stdout", "to stderr from python", "a python warning"),
        not_err=("to stdout", "to stderr from python", "a python warning"),
        log=("to stdout", "to stderr from python", "a python warning"),
    ),
]


def test_every_corpus_notebook_has_a_case():
    # NFC: a file system may hand back the unicode name decomposed.
    on_disk = {unicodedata.normalize("NFC", p.name) for p in CORPUS.glob("*.ipynb")}
    assert {case.file for case in CASES} == on_disk


def run_case(root: Path, case: Case) -> Result:
    """``mlops stage run one ARGS`` on the case's notebook; the spec, the
    notebook and any file the run left in the work tree are removed after."""
    spec = root / "env_specs" / f"stage_{STAGE}.yaml"
    before = spec.read_text(encoding="utf-8")
    left = untracked(root)
    copy = root / "notebooks" / case.file
    copy.write_bytes((CORPUS / case.file).read_bytes())
    data = json.loads(before)
    data.update(notebook=f"notebooks/{case.file}", parameters={})
    spec.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    try:
        result = mlops("stage", "run", STAGE, *case.args)
        # The runner reads the source notebook; it never writes it.
        assert copy.read_bytes() == (CORPUS / case.file).read_bytes()
    finally:
        spec.write_text(before, encoding="utf-8")
        for name in untracked(root) - left:
            (root / name).unlink()
    assert git_changes(root) == ""
    return result


def check_command(case: Case, result: Result) -> None:
    """Exit code, stdout and the progress lines on stderr."""
    assert result.code == case.code, result.err
    lines = [line for line in result.err.splitlines() if line.startswith(f"[{STAGE}]")]
    if case.status is None:
        assert result.out == "" and lines == []
        return
    assert len(lines) == 2, result.err
    assert lines[0].startswith(f"[{STAGE}] running notebooks/{case.file} in kernel ")
    assert ENDED.match(lines[1]) and lines[1].split(",")[0].endswith(case.status)
    # papermill's own lines go to run.log only.
    for line in ("Input Notebook:", "Executing notebook with kernel", "Executing Cell"):
        assert line not in result.err
    if case.code == 0:
        assert FINISHED_OUT.fullmatch(result.out), result.out
    else:
        assert result.out == ""


def check_failure(case: Case, outcome: Outcome) -> None:
    """The ``failure.*`` tags, and the same on stderr with the executed
    notebook's path."""
    tags = outcome.run.data.tags
    got = {key: tags.get(f"failure.{key}") for key in case.failure}
    assert got == case.failure
    if case.code == 1:
        failure = case.failure
        said = (
            f"mlops: error: stage {STAGE} failed at cell {failure['cell']} of "
            f"notebooks/{case.file}: {failure['error']}: {failure['message']}\n"
            f"  executed notebook: "
        )
        assert said in outcome.result.err
        path = outcome.result.err.split("  executed notebook: ")[1].strip()
        assert path.endswith(f"audit/{case.file}") and Path(path).is_file()
    else:
        assert not [key for key in tags if key.startswith("failure.")]


@pytest.mark.parametrize("case", [case.param for case in CASES])
def test_corpus_notebook(project, case: Case, tmp_path):
    root = project
    runs_before = set(recorded())
    result = run_case(root, case)
    check_command(case, result)
    for text in case.err:
        assert text in result.err
    for text in case.not_err:
        assert text not in result.err
    runs = recorded()
    if case.status is None:
        assert set(runs) == runs_before
        return
    (run_id,) = set(runs) - runs_before
    assert ENDED.search(result.err).group(2) == run_id
    run = runs[run_id]
    assert run.info.status == case.status
    bundle = Path(client().download_artifacts(run_id, "audit", str(tmp_path)))
    outcome = Outcome(case, result, root, run, bundle)
    check_failure(case, outcome)
    for key, value in case.params.items():
        assert run.data.params.get(key) == value, run.data.params
    printed = outcome.printed
    for text in case.printed:
        assert text in printed
    log = outcome.log
    for text in case.log:
        assert text in log
    if case.check:
        case.check(outcome)
