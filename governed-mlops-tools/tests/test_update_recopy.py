"""``mlops template recopy``'s refusals, without a render (the template's suite
runs it on a generated project: tests/test_update_guard.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from governed_mlops.cli import main
from governed_mlops.errors import CommandError
from governed_mlops.update.render import render
from governed_mlops.update.recopy import Recopy


def repository(root: Path, answers: str | None) -> Path:
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    if answers is not None:
        (root / ".copier-answers.yml").write_text(answers)
    return root


def test_a_folder_copier_did_not_make_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(repository(tmp_path, None))
    assert main(["template", "recopy"]) == 2
    assert (
        "no .copier-answers.yml: not a project copier made" in capsys.readouterr().err
    )


def test_a_tree_with_changes_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(repository(tmp_path, "_commit: 1.3.0\n_src_path: /x\n"))
    assert main(["template", "recopy"]) == 2
    assert "commit or stash them first" in capsys.readouterr().err


def test_outside_a_repository_it_says_where_to_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert main(["template", "recopy"]) == 2
    assert "not in a git repository" in capsys.readouterr().err


def test_without_copier_the_message_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "copier", None)
    with pytest.raises(CommandError, match="copier is not installed here"):
        render("/nowhere", "1.3.0", {}, tmp_path / "render")


def test_what_recopy_did_reads_as_lines():
    done = Recopy(written=["scripts/ci.sh"], yours=["pyproject.toml"])
    done.deleted.append("scripts/ci.bat")
    assert done.lines(dry_run=True) == [
        "would write: scripts/ci.sh",
        "yours: not touched: pyproject.toml",
        "deleted by you: not brought back (--restore-deleted): scripts/ci.bat",
    ]
    assert Recopy().lines(dry_run=False) == [
        "nothing to do: the template's files are as rendered"
    ]
