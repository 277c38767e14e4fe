"""The update guard and ``mlops template recopy`` on real copier updates.

A next version built in a clone of the released template renames a notebook,
a configuration file and a script, deletes three more, and changes lines of
a notebook, ``pyproject.toml`` and a stage spec. A project copied at the
current version edits the same files (plus one untouched control each for a
rename and a deletion) and is updated once by copier's command line; the
tests read that one update. Recopy runs on a second copy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import TOOLS_VERSION, add_release, declare_renames, git, run

NEXT = "9.0.0"  # past every release and NEXT_VERSION: this clone's own
PACKAGE = "my_mlops_project"
RENAMED = {  # edited by the project
    "notebooks/02-feature-eng.ipynb": "notebooks/02-features.ipynb",
    ".env.example": ".env.sample",
    "scripts/run_stage.sh": "scripts/stage.sh",
}
# Edited on the line the new version changes too.
RENAMED_CONFLICT = {"scripts/create_venv.sh": "scripts/venv.sh"}
RENAMED_UNTOUCHED = {"notebooks/03-train.ipynb": "notebooks/03-training.ipynb"}
DELETED = ["notebooks/04-eval.ipynb", "renovate.json", "scripts/mlflow_server.sh"]
DELETED_UNTOUCHED = "scripts/mlflow_server.bat"
CONFLICTED = [
    "env_specs/stage_data_prep.yaml",
    "notebooks/01-data-prep.ipynb",
    "pyproject.toml",
]


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path}: {old!r} not found"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def copier(*args: str | Path, cwd: Path) -> str:
    done = run([sys.executable, "-m", "copier", *map(str, args)], cwd=cwd)
    return done.stdout + done.stderr


def source(template: Path, rendered: str) -> Path:
    """The template file a project path is rendered from."""
    plain = template / "template" / rendered
    return plain if plain.exists() else plain.with_name(plain.name + ".jinja")


def commit(project: Path, message: str) -> None:
    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", message, cwd=project)


@pytest.fixture(scope="module")
def template(released_template, tmp_path_factory) -> Path:
    """``released_template`` plus NEXT: the renames, deletions and changes."""
    dest = tmp_path_factory.mktemp("guarded") / "governed-mlops"
    git("clone", "-q", "--no-local", released_template, dest, cwd=dest.parent)
    for old, new in {**RENAMED, **RENAMED_CONFLICT, **RENAMED_UNTOUCHED}.items():
        old_file = source(dest, old)
        jinja = ".jinja" if old_file.suffix == ".jinja" else ""
        old_file.rename(dest / "template" / f"{new}{jinja}")
    for name in [*DELETED, DELETED_UNTOUCHED]:
        source(dest, name).unlink()
    t = dest / "template"
    # The template's own change to renamed files, beside the project's.
    replace(
        t / "notebooks/02-features.ipynb.jinja", "Scales the numeric", "Scales numeric"
    )
    replace(t / ".env.sample.jinja", "# Copy to .env", "# Copy this file to .env")
    replace(t / "scripts/stage.sh", "# Run one stage's", "# Run a stage's")
    # Lines the project changes too: conflicts.
    replace(t / "notebooks/01-data-prep.ipynb.jinja", '"seed = 42\\n"', '"seed = 7\\n"')
    replace(t / "env_specs/stage_data_prep.yaml.jinja", "seed: 42", "seed: 7")
    replace(t / "pyproject.toml.jinja", '"pydantic>=2.7"', '"pydantic>=2.8"')
    replace(t / "scripts/venv.sh", "# Create or update", "# Create or refresh")
    declare_renames(dest, NEXT, {**RENAMED, **RENAMED_CONFLICT, **RENAMED_UNTOUCHED})
    add_release(dest, NEXT, "A version that renames, deletes and changes files")
    return dest


def copy_current(template: Path, dest: Path) -> Path:
    copier(
        "copy",
        "--trust",
        "--defaults",
        "--vcs-ref",
        TOOLS_VERSION,
        template,
        dest,
        cwd=template.parent,
    )
    commit(dest, "Generated")
    return dest


@pytest.fixture(scope="module")
def updated(template, tmp_path_factory) -> tuple[Path, str, dict[str, str]]:
    """A project at the current version, edited, updated to NEXT: (project,
    copier's output, the project's edited contents before the update)."""
    project = copy_current(template, tmp_path_factory.mktemp("project") / "churn")
    replace(
        project / "notebooks/02-feature-eng.ipynb",
        "scale_numeric = True",
        "scale_numeric = False",
    )
    (project / ".env.example").write_text(
        (project / ".env.example").read_text() + "MY_MLOPS_PROJECT_TEAM=ml\n"
    )
    replace(
        project / "scripts/run_stage.sh",
        'exec "$(dirname',
        'echo "stage $1"\nexec "$(dirname',
    )
    edit_notebook(project / "notebooks/04-eval.ipynb")
    replace(project / "renovate.json", '"$schema"', '"labels": ["deps"],\n  "$schema"')
    (project / "scripts/mlflow_server.sh").write_text(
        (project / "scripts/mlflow_server.sh").read_text() + "# our server notes\n"
    )
    replace(project / "notebooks/01-data-prep.ipynb", '"seed = 42\\n"', '"seed = 1\\n"')
    replace(project / "env_specs/stage_data_prep.yaml", "seed: 42", "seed: 1")
    replace(project / "pyproject.toml", '"pydantic>=2.7"', '"pydantic>=2.9"')
    replace(project / "scripts/create_venv.sh", "# Create or update", "# Build")
    commit(project, "The team's edits")
    edited = {name: (project / name).read_text() for name in [*RENAMED, *DELETED]}
    output = copier("update", "--trust", "--defaults", "--vcs-ref", NEXT, cwd=project)
    return project, output, edited


def edit_notebook(path: Path) -> None:
    notebook = json.loads(path.read_text())
    notebook["cells"].append(
        {
            "cell_type": "markdown",
            "id": "team-notes",
            "metadata": {},
            "source": ["Our notes\n"],
        }
    )
    path.write_text(json.dumps(notebook, indent=1) + "\n")


def sources(path: Path) -> str:
    return "".join(
        "".join(cell["source"]) for cell in json.loads(path.read_text())["cells"]
    )


def unmerged(project: Path) -> list[str]:
    return git("diff", "--name-only", "--diff-filter=U", cwd=project).stdout.split()


def test_edited_renamed_files_move_with_both_sides_changes(updated):
    project, output, _ = updated
    features = sources(project / "notebooks/02-features.ipynb")
    assert "scale_numeric = False" in features and "Scales numeric" in features
    sample = (project / ".env.sample").read_text()
    assert sample.startswith("# Copy this file to .env") and "TEAM=ml" in sample
    stage = (project / "scripts/stage.sh").read_text()
    assert "# Run a stage's" in stage and 'echo "stage $1"' in stage
    for old, new in RENAMED.items():
        assert not (project / old).exists()
        assert f"update guard: {old} -> {new}: moved with your changes merged" in output


def test_a_renamed_file_whose_edit_clashes_is_moved_in_conflict(updated):
    project, output, _ = updated
    moved = (project / "scripts/venv.sh").read_text()
    assert "<<<<<<< before updating\n# Build" in moved
    assert (
        "# Create or refresh" in moved
        and not (project / "scripts/create_venv.sh").exists()
    )
    assert (
        "scripts/create_venv.sh -> scripts/venv.sh: moved with your changes, CONFLICT"
        in output
    )
    assert "scripts/venv.sh" in unmerged(project)


def test_edited_deleted_files_are_kept_as_the_projects(updated):
    project, output, edited = updated
    for name in DELETED:
        assert (project / name).read_text() == edited[name]
        assert f"update guard: {name}: kept, yours now" in output
    assert os.access(project / "scripts/mlflow_server.sh", os.X_OK)


def test_untouched_files_are_renamed_and_deleted_as_copier_does(updated, template):
    project, output, _ = updated
    ((old, new),) = RENAMED_UNTOUCHED.items()
    assert not (project / old).exists()
    assert sources(project / new) == sources(
        template / "template" / f"{new}.jinja"
    ).replace("{{ package_name }}", PACKAGE)
    assert not (project / DELETED_UNTOUCHED).exists()
    assert f"{old} ->" not in output and DELETED_UNTOUCHED not in output


def test_conflicts_leave_files_that_parse_and_are_reported(updated):
    project, output, _ = updated
    assert sorted(unmerged(project)) == sorted([*CONFLICTED, "scripts/venv.sh"])
    data = tomllib.loads((project / "pyproject.toml").read_text())
    assert "pydantic>=2.9" in data["project"]["dependencies"]
    assert '#     "pydantic>=2.8",' in (project / "pyproject.toml").read_text()
    spec = yaml.safe_load((project / "env_specs/stage_data_prep.yaml").read_text())
    assert spec["parameters"]["seed"] == 1
    cells = sources(project / "notebooks/01-data-prep.ipynb")  # valid JSON
    assert "<<<<<<< " in cells and "seed = 1" in cells and "seed = 7" in cells
    for name in CONFLICTED:
        assert f"update guard: {name}: CONFLICT" in output
    assert "GOV202" in output.split("Policy report of")[-1]


def test_the_guard_is_idempotent(updated, template):
    project, _, _ = updated
    before = git("status", "--porcelain", cwd=project).stdout
    contents = {
        p: p.read_bytes()
        for p in project.rglob("*")
        if p.is_file() and ".git" not in p.parts
    }
    run(
        [sys.executable, template / "hooks/update_guard.py"],
        cwd=project,
        env={"VERSION_PEP440_FROM": TOOLS_VERSION, "VERSION_PEP440_TO": NEXT},
    )
    assert git("status", "--porcelain", cwd=project).stdout == before
    assert contents == {
        p: p.read_bytes()
        for p in project.rglob("*")
        if p.is_file() and ".git" not in p.parts
    }


def mlops(
    project: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run(
        [sys.executable, "-m", "governed_mlops", *args], cwd=project, check=check
    )


def test_recopy_restores_the_templates_files_and_keeps_the_projects(template, tmp_path):
    project = copy_current(template, tmp_path / "churn")
    rendered = {
        n: (project / n).read_text()
        for n in (".pre-commit-config.yaml", "scripts/mlops.sh")
    }
    (project / ".pre-commit-config.yaml").write_text("repos: []\n")
    replace(project / "scripts/mlops.sh", "exec", "echo broken; exec")
    config = project / "src" / PACKAGE / "config.py"
    config.write_text(config.read_text() + "\nTEAM = 'ml'\n")
    replace(project / "notebooks/01-data-prep.ipynb", '"seed = 42\\n"', '"seed = 1\\n"')
    replace(
        project / "pyproject.toml",
        '"pydantic>=2.7",',
        '"pydantic>=2.7",\n    "lightgbm>=4",',
    )
    replace(project / "pyproject.toml", '"eval"]', '"eval", "report"]')
    (project / DELETED_UNTOUCHED).unlink()
    commit(project, "Edits, a deleted script and broken template files")
    yours = {
        p: (project / p).read_text()
        for p in (
            f"src/{PACKAGE}/config.py",
            "notebooks/01-data-prep.ipynb",
            "pyproject.toml",
        )
    }

    assert (
        mlops(project, "template", "recopy", "--dry-run").stdout.count("would write")
        == 2
    )
    assert git("status", "--porcelain", cwd=project).stdout == ""
    done = mlops(project, "template", "recopy").stdout
    for name, text in rendered.items():
        assert (project / name).read_text() == text and f"written: {name}" in done
    for name, text in yours.items():
        assert (
            project / name
        ).read_text() == text and f"yours: not touched: {name}" in done
    assert not (project / DELETED_UNTOUCHED).exists()
    assert f"not brought back (--restore-deleted): {DELETED_UNTOUCHED}" in done

    dirty = mlops(project, "template", "recopy", check=False)
    assert dirty.returncode == 2 and "commit or stash" in dirty.stderr
    assert "Traceback" not in dirty.stderr
    commit(project, "Recopied")
    mlops(project, "template", "recopy", "--restore-deleted")
    assert (project / DELETED_UNTOUCHED).is_file()

    # Another version's files: the answers keep the version the project is at.
    commit(project, "Restored a deleted script")
    ahead = mlops(project, "template", "recopy", "--vcs-ref", NEXT).stdout
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == TOOLS_VERSION
    assert (
        f"note: the template's files are {NEXT}'s; .copier-answers.yml still "
        f"records {TOOLS_VERSION}"
    ) in ahead
