"""Notebook merges with nbdime and conflict blocks that keep TOML and YAML valid
(the update guard's parts, without copier)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tiny_project import code_cell, git, notebook_json

from governed_mlops.update import notebooks, structured


def notebook(*sources: str) -> str:
    """A notebook of code cells with these sources."""
    return notebook_json(
        *(
            code_cell(f"cell-{n}", s.splitlines(keepends=True))
            for n, s in enumerate(sources)
        )
    )


def sources(text: str) -> list[str]:
    return ["".join(cell["source"]) for cell in json.loads(text)["cells"]]


def test_notebook_edits_in_different_cells_merge_cleanly():
    base = notebook("a = 1\n", "print(a)\n")
    ours = notebook("a = 10\n", "print(a)\n")
    theirs = notebook("a = 1\n", "print(a, flush=True)\n")
    result = notebooks.merge(base, ours, theirs)
    assert result.conflicts == 0
    assert sources(result.text) == ["a = 10\n", "print(a, flush=True)\n"]


def test_conflicting_notebook_edits_get_markers_inside_the_cell():
    base = notebook("a = 1\nb = 2\n", "print(a)\n")
    ours = notebook("a = 10\nb = 2\n", "print(a)\n")
    theirs = notebook("a = 11\nb = 2\n", "print(a)\n")
    result = notebooks.merge(base, ours, theirs)
    assert result.conflicts == 1
    first = sources(result.text)[0]  # valid JSON, the markers in the source
    assert first.startswith("<<<<<<< ") and "a = 10\n" in first and "a = 11\n" in first


def conflicted_repo(tmp_path: Path, name: str, base: str, ours: str, theirs: str):
    """A repository with ``name`` in conflict as copier leaves it (stages 1-3
    in the index, inline markers in the file)."""
    git("init", "-q", cwd=tmp_path)
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_text(ours)
    git("add", "-A", cwd=tmp_path)
    git("commit", "-qm", "ours", cwd=tmp_path)
    shas = [
        subprocess.run(
            ["git", "hash-object", "-w", "--stdin"],
            cwd=tmp_path,
            input=text,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for text in (base, ours, theirs)
    ]
    info = f"0 {'0' * 40}\t{name}\n" + "".join(
        f"100644 {sha} {stage}\t{name}\n" for stage, sha in enumerate(shas, 1)
    )
    subprocess.run(
        ["git", "update-index", "--index-info"], cwd=tmp_path, input=info, text=True
    )
    (tmp_path / name).write_text("<<<<<<< before updating\n{broken\n")
    return tmp_path


def unmerged(repo: Path) -> str:
    return git("diff", "--name-only", "--diff-filter=U", cwd=repo)


def test_a_conflicted_notebook_is_merged_again_and_stays_unmerged(tmp_path: Path):
    base = notebook("a = 1\n")
    repo = conflicted_repo(
        tmp_path, "nb.ipynb", base, notebook("a = 10\n"), notebook("a = 11\n")
    )
    done = notebooks.resolve_conflicted(repo, ["nb.ipynb"])
    assert "CONFLICT in 1 place(s)" in done[0]
    assert "a = 10\n" in sources((repo / "nb.ipynb").read_text())[0]
    assert unmerged(repo) == "nb.ipynb\n"


def test_a_notebook_nbdime_merges_fully_is_no_longer_unmerged(tmp_path: Path):
    base = notebook("a = 1\n", "b = 1\n")
    ours, theirs = notebook("a = 10\n", "b = 1\n"), notebook("a = 1\n", "b = 2\n")
    repo = conflicted_repo(tmp_path, "nb.ipynb", base, ours, theirs)
    done = notebooks.resolve_conflicted(repo, ["nb.ipynb"])
    assert done == ["nb.ipynb: merged cell by cell (nbdime), no conflict left"]
    assert sources((repo / "nb.ipynb").read_text()) == ["a = 10\n", "b = 2\n"]
    assert unmerged(repo) == ""


def test_without_nbdime_the_projects_notebook_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    ours = notebook("a = 10\n")
    repo = conflicted_repo(
        tmp_path, "nb.ipynb", notebook("a = 1\n"), ours, notebook("a = 11\n")
    )
    monkeypatch.setitem(sys.modules, "nbdime", None)  # import fails as without it
    done = notebooks.resolve_conflicted(repo, ["nb.ipynb"])
    assert "uvx --with nbdime copier update" in done[0]
    assert (repo / "nb.ipynb").read_text() == ours
    assert unmerged(repo) == "nb.ipynb\n"


# Copier's markers, built so that no line of this file is one.
OURS, THEIRS = "<" * 7 + " before updating", ">" * 7 + " after updating"
PYPROJECT = f"""\
[project]
name = "churn"
dependencies = [
{OURS}
    "pydantic>=2",
    "scikit-learn>=1.5",
=======
    "pydantic>=2.7",
{THEIRS}
]
"""


def test_a_toml_conflict_keeps_your_lines_and_comments_the_templates():
    fixed, blocks = structured.comment_conflicts(PYPROJECT)
    assert blocks == 1
    data = tomllib.loads(fixed)
    assert data["project"]["dependencies"] == ["pydantic>=2", "scikit-learn>=1.5"]
    assert '#     "pydantic>=2.7",\n' in fixed
    assert structured.START in fixed and structured.END in fixed


SPEC = f"""\
name: train
python: "3.11"
{OURS}
packages:
  - numpy
  - lightgbm
=======
packages:
  - numpy>=2
{THEIRS}
"""


def test_a_yaml_conflict_keeps_your_lines_and_comments_the_templates():
    fixed, blocks = structured.comment_conflicts(SPEC)
    assert blocks == 1
    assert yaml.safe_load(fixed)["packages"] == ["numpy", "lightgbm"]


def test_a_block_that_cannot_parse_keeps_your_whole_file(tmp_path: Path):
    # Ours and theirs each open a table the other side's lines do not close.
    ours = '[project]\nname = "churn"\n[tool.x]\na = 1\n'
    theirs = '[project]\nname = "churn"\n[tool.x]\na = 2\n'
    repo = conflicted_repo(tmp_path, "pyproject.toml", ours, ours, theirs)
    (repo / "pyproject.toml").write_text(
        '[project]\n<<<<<<< before updating\nname = "churn\n=======\nname = 1\n'
        ">>>>>>> after updating\n"
    )
    done = structured.fix_conflicted(repo, ["pyproject.toml"])
    assert "your file kept whole" in done[0]
    text = (repo / "pyproject.toml").read_text()
    assert tomllib.loads(text)["tool"]["x"]["a"] == 1
    assert "# a = 2\n" in text
    assert unmerged(repo) == "pyproject.toml\n"


def test_files_that_are_not_structured_are_left_to_copier(tmp_path: Path):
    assert structured.is_structured("env_specs/stage_train.yaml")
    assert not structured.is_structured("env_specs/stage.schema.json")
    assert structured.fix_conflicted(tmp_path, ["README.md"]) == []


def test_an_update_with_conflict_rej_is_told_what_the_guard_cannot_merge(
    tmp_path: Path,
):
    """copier update --conflict rej writes the clash to <file>.rej and the
    template's version in the file: the guard says how to keep the edits."""
    from governed_mlops.update.guard import guard

    repo = tmp_path / "p"
    (repo / "notebooks").mkdir(parents=True)
    git("init", "-q", cwd=repo)
    (repo / "notebooks" / "03-train.ipynb").write_text(notebook("x = 1\n"))
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "project", cwd=repo)
    (repo / "notebooks" / "03-train.ipynb.rej").write_text("@@ a hunk @@\n")
    assert guard(repo, tmp_path, {}) == [
        "notebooks/03-train.ipynb.rej: the clash is beside the file (--conflict "
        "rej), not merged: the guard merges inline conflicts only (copier's "
        "default), notebooks cell by cell; to keep your edits in "
        "notebooks/03-train.ipynb, reset (`git reset --hard && git clean -fd`) "
        "and update again without --conflict rej"
    ]
