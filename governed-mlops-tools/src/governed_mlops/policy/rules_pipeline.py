"""Rules on the notebook pipeline: stage specs and the notebooks they run."""

from __future__ import annotations

import json
import re
from typing import Iterator

from ..runner.notebook import PARAMETERS_TAG
from ..project import TOOL_TABLE, Project
from ..stages.spec_checks import quick_check
from .facts import Facts
from .model import Finding, rule

SPEC = re.compile(r"env_specs/stage_[^/]+\.yaml")


@rule(
    "GOV301",
    "Stage specs are valid",
    since="1.0.0",
    rationale="Each stage's environment, kernel and notebook are declared in "
    "one checked file, so every run can be rebuilt and audited.",
    fix="Correct the field named in the message (schema: "
    "env_specs/stage.schema.json; guide: README.md, 'Stage environments'), then run "
    "`mlops stage check --all`.",
)
def stage_specs(facts: Facts) -> Iterator[Finding]:
    table = facts.tool(TOOL_TABLE)
    package = table.get("package")
    if not isinstance(package, str) or not package.isidentifier():
        yield Finding(
            f"[tool.{TOOL_TABLE}] package must name the project's import package",
            "pyproject.toml",
        )
        return
    project = Project(root=facts.root, package=package, pyproject=facts.pyproject)
    # The model imports pydantic, about half of a first run's time; specs that
    # are plainly valid are vouched for without it.
    if quick_check(project):
        return
    from ..stages.specs import SpecError, load_stages

    try:
        load_stages(project, machine=False)
    except SpecError as error:
        for line in str(error).splitlines():
            path, sep, message = line.partition(": ")
            if sep and (path == "pyproject.toml" or SPEC.fullmatch(path)):
                yield Finding(message, path)
            else:
                yield Finding(line)


def _stage_notebooks(facts: Facts) -> set[str]:
    found = set()
    for name in facts.files:
        if SPEC.fullmatch(name):
            data = facts.yaml(name)  # None when invalid: GOV301 reports it
            notebook = data.get("notebook") if isinstance(data, dict) else None
            if isinstance(notebook, str):
                found.add(notebook.replace("\\", "/").removeprefix("./"))
    return found


@rule(
    "GOV302",
    "Notebooks are parameterised and stored without outputs",
    since="1.0.0",
    rationale="A stage notebook runs with recorded parameters (papermill), and "
    "a committed notebook holds code only: outputs leak data and make diffs "
    "unreadable; results live in the MLflow run.",
    fix="Tag the cell that holds the defaults 'parameters' (Jupyter: View > "
    "Cell toolbar > Tags); strip outputs with `uv run pre-commit run nbstripout "
    "--files <file>` (the hook does it on commit). A notebook that is not JSON "
    "holds a text merge's conflict markers: resolve them, and run `uv run mlops "
    "setup` so that git merges notebooks cell by cell.",
)
def notebooks(facts: Facts) -> Iterator[Finding]:
    staged = _stage_notebooks(facts)
    for name in facts.files:
        if not name.endswith(".ipynb") or name.endswith(".executed.ipynb"):
            continue
        try:
            cells = json.loads(facts.text(name) or "").get("cells", [])
        except (ValueError, AttributeError):
            yield Finding(
                "not a readable notebook (JSON): a text merge's conflict markers?",
                name,
            )
            continue
        with_outputs = [
            number
            for number, cell in enumerate(cells, 1)
            if cell.get("outputs") or cell.get("execution_count") is not None
        ]
        if with_outputs:
            yield Finding(
                "stored outputs or execution counts in cell(s) "
                + ", ".join(map(str, with_outputs)),
                name,
            )
        tagged = any(
            PARAMETERS_TAG in (cell.get("metadata") or {}).get("tags", [])
            for cell in cells
        )
        if name in staged and not tagged:
            yield Finding(
                f"stage notebook without a cell tagged {PARAMETERS_TAG!r}", name
            )
