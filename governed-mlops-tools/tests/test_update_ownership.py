"""The ownership table: what recopy may write, and the docs saying the same."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

from governed_mlops.update.ownership import PROJECT, TEMPLATE, owner

ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


@pytest.mark.parametrize(
    "path, expected",
    [
        ("pyproject.toml", "project"),
        ("src/churn/config.py", "project"),
        ("notebooks/03-train.ipynb", "project"),
        ("env_specs/stage_train.yaml", "project"),
        ("env_specs/stage.schema.json", "template"),
        ("scripts/ci.sh", "template"),
        (".github/workflows/ci.yml", "template"),
        (".copier-answers.yml", "answers"),
        ("docs/anything-new.md", "project"),  # unlisted: never overwritten
    ],
)
def test_owner(path: str, expected: str):
    assert owner(path) == expected


def documented() -> dict[str, str]:
    """{a path of each row: its owner} from the architecture's file table."""
    section = ARCHITECTURE.read_text(encoding="utf-8").split(
        "## Files of a generated project (by owner)", 1
    )[1]
    section = section.split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) < 2 or not cells[1].startswith(("project", "template")):
            continue
        whose = "project" if cells[1].startswith("project") else "template"
        for name in re.findall(r"`([^`]+)`", cells[0]):
            if name.startswith("["):
                continue  # a table inside pyproject.toml
            name = name.replace("<package>", "churn").replace("<name>", "train")
            rows[name + ("x" if name.endswith("/") else "")] = whose
    return rows


def test_the_architecture_table_agrees_with_the_ownership_table():
    rows = documented()
    assert {path: owner(path) for path in rows} == rows
    for pattern in PROJECT + TEMPLATE:
        assert any(
            fnmatch.fnmatchcase(path, pattern) for path in rows
        ), f"docs/architecture.md has no row for {pattern}"
