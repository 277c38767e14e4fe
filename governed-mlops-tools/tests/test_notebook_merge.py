"""git merges notebooks with the driver `mlops setup` defines: cell by cell
through nbdime from the clone's .venv, else as text (never one side only)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from governed_mlops import notebook_merge

IDENTITY = ["-c", "user.name=t", "-c", "user.email=t@example.com"]


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", *IDENTITY, *args], cwd=root, capture_output=True, text=True, check=check
    )


def notebook(first: str, second: str) -> str:
    cells = [
        {"cell_type": "code", "execution_count": None, "id": f"c{n}", "metadata": {},
         "outputs": [], "source": text}
        for n, text in enumerate((first, second))
    ]  # fmt: skip
    data = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(data, indent=1) + "\n"


def conflicted(root: Path) -> Path:
    """A repository where two branches changed the same cell."""
    git(root, "init", "-q", "-b", "main")
    (root / ".gitattributes").write_text("*.ipynb merge=nbdime\n")
    path = root / "train.ipynb"
    path.write_text(notebook("seed = 1", "print(seed)"))
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    git(root, "checkout", "-qb", "alice")
    path.write_text(notebook("seed = 2  # alice", "print(seed)"))
    git(root, "commit", "-qam", "alice")
    git(root, "checkout", "-q", "main")
    path.write_text(notebook("seed = 3  # bob", "print(seed)"))
    git(root, "commit", "-qam", "bob")
    return path


def test_a_same_cell_conflict_leaves_a_notebook_with_markers_in_the_cell(tmp_path):
    path = conflicted(tmp_path)
    assert notebook_merge.configure(tmp_path) == list(notebook_merge.SETTINGS)
    assert notebook_merge.configure(tmp_path) == []  # done already
    driver = Path(sys.executable).parent / "git-nbmergedriver"
    if not driver.is_file():
        pytest.skip(f"no nbdime beside {sys.executable}")
    scripts = tmp_path / ".venv" / "bin"
    scripts.mkdir(parents=True)
    (scripts / "git-nbmergedriver").symlink_to(driver)
    # The clone's .venv Python: this one, with the tools and nbdime.
    (scripts / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (scripts / "python").chmod(0o755)
    merged = git(tmp_path, "merge", "alice", check=False)
    assert merged.returncode == 1  # a conflict, for a person to resolve
    opened = nbformat.reads(path.read_text(), as_version=4)  # still JSON
    first = opened.cells[0].source
    assert "seed = 3  # bob" in first and "seed = 2  # alice" in first
    assert "<<<<<<<" in first and opened.cells[1].source == "print(seed)"
    assert "UU train.ipynb" in git(tmp_path, "status", "--short").stdout
    assert b"\r\n" not in path.read_bytes()


def test_a_merged_notebook_keeps_lf_line_ends(tmp_path):
    """On Windows nbdime writes CRLF, which git would commit as it is."""
    written = tmp_path / "train.ipynb"
    written.write_bytes(b'{\r\n "cells": []\r\n}\r\n')
    notebook_merge.lf_line_ends(written)
    assert written.read_bytes() == b'{\n "cells": []\n}\n'
    notebook_merge.lf_line_ends(written)  # LF already: left alone
    assert written.read_bytes() == b'{\n "cells": []\n}\n'


def test_without_the_venv_git_merges_as_text_and_keeps_both_sides(tmp_path):
    """Before `uv sync` the driver cannot start: git's text merge, not one
    side kept silently as a failed driver would."""
    path = conflicted(tmp_path)
    notebook_merge.configure(tmp_path)
    merged = git(tmp_path, "merge", "alice", check=False)
    assert merged.returncode == 1
    text = path.read_text()
    assert "seed = 3  # bob" in text and "seed = 2  # alice" in text
    assert "<<<<<<< local" in text
    assert "UU train.ipynb" in git(tmp_path, "status", "--short").stdout


def test_mlops_setup_defines_the_driver_once(tmp_path, monkeypatch, capsys):
    from governed_mlops.cli import main
    from tiny_project import write_project

    write_project(tmp_path, git=True)
    monkeypatch.chdir(tmp_path)
    assert main(["setup"]) == 0
    assert main(["setup"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "git merges notebooks cell by cell with nbdime in this clone",
        "this clone is set up already (notebooks merge with nbdime)",
    ]
    driver = git(tmp_path, "config", "--get", "merge.nbdime.driver").stdout
    assert driver.strip() == notebook_merge.DRIVER
