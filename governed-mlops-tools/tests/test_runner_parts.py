"""The runner's parts that need no kernel or store: failure messages, notebook
parameters, the audit tags and bundle, the git state (the runs themselves are
in the template suite's tests/test_tools_in_process.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from governed_mlops.project import find_project
from governed_mlops.runner import execute
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
        f"AssertionError: seed must not be negative\n  executed notebook: {output}"
    )


def test_a_failure_outside_a_cell_names_the_notebook(tiny, tmp_path):
    output = tmp_path / "never-written.ipynb"
    error = RuntimeError("Kernel didn't respond in 120 seconds")
    assert execute.describe_failure(error, tiny, output) == (
        "stage solo failed at notebooks/solo.ipynb: RuntimeError: Kernel didn't "
        f"respond in 120 seconds\n  executed notebook: {output}"
    )
    assert execute.source_cell_number(output, 4) == 5  # no notebook to read
