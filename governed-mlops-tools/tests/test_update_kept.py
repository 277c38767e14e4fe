"""Edited files an update deleted are put back (the guard's ``kept`` step),
in a git repository left as copier's update leaves one, without copier."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from tiny_project import code_cell, commit, git, notebook_json

from governed_mlops.update import gitio, guard, kept


def notebook(*sources: str) -> str:
    """A notebook of code cells with these sources."""
    return notebook_json(
        *(
            code_cell(f"cell-{n}", s.splitlines(keepends=True))
            for n, s in enumerate(sources)
        )
    )


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")


# What the old version rendered.
OLD = {
    "notebooks/03-train.ipynb": notebook("seed = 1\n", "fit(seed)\n"),
    "scripts/serve.sh": "#!/bin/sh\nexec mlops tracking server\n",
    "scripts/old.sh": "#!/bin/sh\necho old\n",
    "settings.cfg": "[run]\nworkers = 2\n",
}


def updated(tmp_path: Path) -> tuple[Path, Path]:
    """(project, old render): the project committed with the team's edits to
    the notebook, serve.sh and settings.cfg (old.sh untouched), then the
    update's work: the new version renamed the notebook (changing its second
    cell) and dropped the other three files."""
    old_render = tmp_path / "old"
    write(old_render, OLD)
    project = tmp_path / "project"
    write(project, OLD)
    write(
        project,
        {
            "notebooks/03-train.ipynb": notebook("seed = 7  # ours\n", "fit(seed)\n"),
            "scripts/serve.sh": OLD["scripts/serve.sh"] + "# our port: 5001\n",
            "settings.cfg": "[run]\nworkers = 8\n",
        },
    )
    serve = project / "scripts/serve.sh"
    serve.chmod(serve.stat().st_mode | stat.S_IXUSR)
    commit(project, "ours")
    for name in OLD:
        (project / name).unlink()
    write(
        project,
        {"notebooks/03-training.ipynb": notebook("seed = 1\n", "fit(seed, n=3)\n")},
    )
    return project, old_render


def test_edited_files_are_put_back_and_a_renamed_one_moves(tmp_path):
    project, old_render = updated(tmp_path)
    deleted = kept.deleted_files(project)
    assert sorted(deleted) == sorted(OLD)
    moves = {"notebooks/03-train.ipynb": "notebooks/03-training.ipynb"}
    lines = kept.keep_edits(project, deleted, old_render, moves)
    assert sorted(lines) == [
        "notebooks/03-train.ipynb -> notebooks/03-training.ipynb: moved with your "
        "changes merged",
        "scripts/serve.sh: kept, yours now (the template no longer has it)",
        "settings.cfg: kept, yours now (the template no longer has it)",
    ]
    cells = json.loads((project / "notebooks/03-training.ipynb").read_text())["cells"]
    assert ["".join(c["source"]) for c in cells] == [
        "seed = 7  # ours\n",
        "fit(seed, n=3)\n",
    ]
    assert not (project / "notebooks/03-train.ipynb").exists()
    serve = project / "scripts/serve.sh"
    assert serve.read_text().endswith("# our port: 5001\n")
    assert serve.stat().st_mode & stat.S_IXUSR
    assert (project / "settings.cfg").read_text() == "[run]\nworkers = 8\n"
    assert not (project / "scripts/old.sh").exists()  # untouched: deleted


def test_an_untouched_file_git_stores_normalised_stays_deleted(tmp_path):
    """A .bat file rendered with CRLF, stored with LF by the project's
    attributes: not the same bytes, yet untouched."""
    old_render, project = tmp_path / "old", tmp_path / "project"
    files = {
        ".gitattributes": "*.bat text eol=crlf\n",
        "scripts/ci.bat": "@echo off\r\nmlops ci %1\r\n",
        "scripts/own.bat": "@echo off\r\nmlops ci %1\r\n",
    }
    for root in (old_render, project):
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(text.encode())
    (project / "scripts/own.bat").write_bytes(b"@echo off\r\nmlops ci test\r\n")
    commit(project, "ours")
    for name in ("scripts/ci.bat", "scripts/own.bat"):
        (project / name).unlink()
    lines = kept.keep_edits(project, kept.deleted_files(project), old_render, {})
    assert lines == ["scripts/own.bat: kept, yours now (the template no longer has it)"]
    assert not (project / "scripts/ci.bat").exists()


def test_a_renamed_file_whose_edit_clashes_is_left_in_conflict(tmp_path):
    project, old_render = updated(tmp_path)
    (project / "scripts/serve.sh").unlink(missing_ok=True)
    write(
        project,
        {"scripts/tracking.sh": "#!/bin/sh\nexec mlops tracking server --port 6000\n"},
    )
    lines = kept.keep_edits(
        project,
        ["scripts/serve.sh"],
        old_render,
        {"scripts/serve.sh": "scripts/tracking.sh"},
    )
    assert lines == [
        "scripts/serve.sh -> scripts/tracking.sh: moved with your changes, "
        "CONFLICT: resolve the <<<<<<< markers"
    ]
    assert "<<<<<<< before updating" in (project / "scripts/tracking.sh").read_text()
    assert gitio.unmerged_paths(project) == ["scripts/tracking.sh"]


def test_the_guard_does_nothing_when_nothing_was_deleted_or_conflicted(tmp_path):
    project, _ = updated(tmp_path)
    git("checkout", "-q", "HEAD", "--", ".", cwd=project)
    (project / "notebooks/03-training.ipynb").unlink()
    assert guard.guard(project, tmp_path / "template", {}) == []


def test_a_folder_handed_to_a_migration_is_left_to_it(tmp_path):
    """The update crosses a release whose migration keeps the dropped
    folder's edits (tools_package.py for src/governed_mlops/): the guard
    neither puts its files back nor renders the old version to judge them
    (this template has no git history: a render would fail)."""
    project = tmp_path / "project"
    write(
        project,
        {
            ".copier-answers.yml": "_commit: 1.1.0\npackage_name: churn\n",
            "src/governed_mlops/cli.py": "print('edited copy')\n",
            "src/governed_mlops/policy/rules.py": "RULES = []\n",
        },
    )
    commit(project, "ours")
    for name in ("src/governed_mlops/cli.py", "src/governed_mlops/policy/rules.py"):
        (project / name).unlink()
    template = tmp_path / "template"
    write(
        template,
        {
            "hooks/migrations/renames.yml": '- {version: "1.2.0", folder: '
            "src/governed_mlops/, migration: tools_package.py}\n"
        },
    )
    crossing = {"VERSION_PEP440_FROM": "1.1.0", "VERSION_PEP440_TO": "1.3.0"}
    assert guard.guard(project, template, crossing) == []
    assert not (project / "src/governed_mlops/cli.py").exists()  # the migration's


def test_the_guard_says_what_to_do_when_it_cannot_tell_the_edits(tmp_path, capsys):
    """No answers file in HEAD: nothing to render the old version from."""
    project, _ = updated(tmp_path)
    assert guard.main(project, tmp_path / "template", {}) == 0
    printed = capsys.readouterr().out
    assert "update guard: HEAD has no .copier-answers.yml" in printed
    assert "git checkout HEAD -- <file>" in printed


def test_files_the_old_version_shipped_as_they_are_need_no_render(
    tmp_path, monkeypatch
):
    """A file the old version copied verbatim (no .jinja, no templated name)
    is read from the template's history, with its attributes applied as in
    the checkout copier rendered from; the guard then renders nothing. A
    templated one still needs the render."""
    from governed_mlops.update import render

    template = tmp_path / "template"
    write(
        template,
        {
            "copier.yml": "_subdirectory: template\n",
            ".gitattributes": "*.bat text eol=crlf\n",
            "template/scripts/old.sh": OLD["scripts/old.sh"],
            "template/scripts/serve.sh": OLD["scripts/serve.sh"],
            "template/scripts/check.bat": "@echo off\nmlops policy check\n",
            "template/settings.cfg.jinja": "[run]\nworkers = {{ workers }}\n",
            "template/{{ package_name }}/cli.py": "print()\n",
        },
    )
    commit(template, "1.1.0")
    git("tag", "1.1.0", cwd=template)
    wanted = ["scripts/old.sh", "scripts/check.bat", "settings.cfg", "churn/cli.py"]
    got = render.verbatim_files(template, "1.1.0", wanted, tmp_path / "old")
    assert got == ["scripts/old.sh", "scripts/check.bat"]
    assert (tmp_path / "old/scripts/check.bat").read_bytes() == (
        b"@echo off\r\nmlops policy check\r\n"
    )
    assert render.verbatim_files(tmp_path / "nowhere", "1.1.0", wanted, tmp_path) == []

    project = tmp_path / "project"
    write(
        project,
        {
            ".copier-answers.yml": "_commit: 1.1.0\npackage_name: churn\n",
            "scripts/old.sh": OLD["scripts/old.sh"],
            "scripts/serve.sh": OLD["scripts/serve.sh"] + "# ours\n",
        },
    )
    commit(project, "ours")
    for name in ("scripts/old.sh", "scripts/serve.sh"):
        (project / name).unlink()

    def no_render(*args: object) -> None:
        raise AssertionError("the old version was rendered")

    monkeypatch.setattr(guard, "render", no_render)
    assert guard.guard(project, template, {}) == [
        "scripts/serve.sh: kept, yours now (the template no longer has it)"
    ]
    assert not (project / "scripts/old.sh").exists()
