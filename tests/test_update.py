"""``copier update`` from policy 1.0.0 to 1.1.0, and adopting the template.

The template repository has tags 1.0.0 (rebuilt by template_versions.py) and
1.1.0 (the working tree). Copier runs through its command line with
``--trust``, as a user runs it, so the task and migration output is checked.
"""

from __future__ import annotations

import filecmp
import json
import re
import sys
from pathlib import Path

import pytest
import yaml

from conftest import UV, git, install_project, mlops, run
from template_versions import CURRENT, PREVIOUS, versioned_template

PACKAGE = "my_mlops_project"
MARKER = re.compile(r"^(<{7}|>{7}) ", re.MULTILINE)


def copier(*args, cwd):
    return run([sys.executable, "-m", "copier", *args], cwd=cwd)


def copy_at(template: Path, dest: Path, version: str, *extra) -> str:
    done = copier(
        "copy",
        "--trust",
        "--defaults",
        "--vcs-ref",
        version,
        *extra,
        template,
        dest,
        cwd=template.parent,
    )
    return done.stdout + done.stderr


def update_to(project: Path, version: str) -> str:
    done = copier("update", "--trust", "--defaults", "--vcs-ref", version, cwd=project)
    return done.stdout + done.stderr


def commit(project: Path, message: str) -> None:
    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", message, cwd=project)


def project_files(project: Path) -> dict[str, Path]:
    return {
        path.relative_to(project).as_posix(): path
        for path in project.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(project).parts
    }


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path}: {old!r} not found"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return versioned_template(tmp_path_factory.mktemp("versions") / "governed-mlops")


def make_user_changes(project: Path) -> None:
    """What a team does to a 1.0.0 project before the policy changes."""
    replace(
        project / f"src/{PACKAGE}/config.py",
        "log_retention_days: int = Field(30, ge=1)",
        "log_retention_days: int = Field(90, ge=1)",
    )
    replace(
        project / "pyproject.toml",
        '"pyyaml>=6.0",',
        '"pyyaml>=6.0",\n    "tabulate>=0.9",',
    )
    replace(
        project / "pyproject.toml",
        'stages = ["data_prep", "feature_eng", "train", "eval"]',
        'stages = ["data_prep", "feature_eng", "train", "eval", "report"]',
    )
    notebook = project / "notebooks/01-data-prep.ipynb"
    cells = json.loads(notebook.read_text(encoding="utf-8"))
    cells["cells"][0]["source"].append("\n\nTeam note: the split is stratified.")
    notebook.write_text(json.dumps(cells, indent=1) + "\n", encoding="utf-8")
    (project / "scripts/mlflow_server.bat").unlink()
    replace(project / "env_specs/stage_train.yaml", "seed: 42", "seed: 7")
    spec = (project / "env_specs/stage_eval.yaml").read_text(encoding="utf-8")
    for old, new in (
        ("notebooks/04-eval.ipynb", "notebooks/05-report.ipynb"),
        ("name: eval", "name: report"),
        (".venvs/eval", ".venvs/report"),
        ("-eval", "-report"),
    ):
        assert old in spec, old
        spec = spec.replace(old, new)
    spec += "params:\n  threshold: 0.5  # our cut-off\n"
    (project / "env_specs/stage_report.yaml").write_text(
        "# Our own stage.\n" + spec, encoding="utf-8"
    )
    (project / "notebooks/05-report.ipynb").write_bytes(
        (project / "notebooks/04-eval.ipynb").read_bytes()
    )
    replace(project / "setup.cfg", "max-complexity = 12", "max-complexity = 15")
    with (project / "setup.cfg").open("a", encoding="utf-8") as handle:
        handle.write("\n[mypy]\nstrict = true\n")


@pytest.fixture(scope="module")
def updated(template, tmp_path_factory):
    """A 1.0.0 project with user changes, updated to 1.1.0: (project, output)."""
    project = tmp_path_factory.mktemp("updated") / "project"
    copy_at(template, project, PREVIOUS)
    commit(project, "Generated")
    assert "params:" in (project / "env_specs/stage_train.yaml").read_text()
    make_user_changes(project)
    commit(project, "Our changes")
    return project, update_to(project, CURRENT)


@pytest.mark.xdist_group("updated")
def test_update_runs_migrations_and_reports_once(updated):
    project, output = updated
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == CURRENT
    assert "migration 1.1.0: .flake8: your [flake8] settings" in output
    assert "migration 1.1.0: env_specs/stage_report.yaml: renamed" in output
    assert output.count(f"Policy changes from {PREVIOUS} to {CURRENT}") == 1
    assert output.count(f"Policy report of {project}") == 1
    assert "## 1.1.0" in output and f"policy version {CURRENT}" in output


@pytest.mark.xdist_group("updated")
def test_update_keeps_every_user_change(updated):
    project, _ = updated
    assert "Field(90, ge=1)" in (project / f"src/{PACKAGE}/config.py").read_text()
    pyproject = (project / "pyproject.toml").read_text()
    assert '"tabulate>=0.9",' in pyproject
    assert "[tool.mlops]" not in pyproject
    assert "[tool.governed-mlops]" in pyproject
    assert '"eval", "report"]' in pyproject
    notebook = (project / "notebooks/01-data-prep.ipynb").read_text()
    assert "Team note: the split is stratified." in notebook
    assert not (project / "scripts/mlflow_server.bat").exists()
    train = (project / "env_specs/stage_train.yaml").read_text()
    assert "parameters:\n  seed: 7\n" in train and "params:" not in train
    report = (project / "env_specs/stage_report.yaml").read_text()
    assert report.startswith("# Our own stage.\n")
    assert "\nparameters:\n  threshold: 0.5  # our cut-off\n" in report
    flake8 = (project / ".flake8").read_text()
    assert "max-complexity = 15" in flake8 and "# Owned by" in flake8
    assert (project / "setup.cfg").read_text().strip() == "[mypy]\nstrict = true"


@pytest.mark.xdist_group("updated")
def test_update_leaves_no_conflicts(updated):
    project, _ = updated
    files = project_files(project)
    assert not [name for name in files if name.endswith(".rej")]
    marked = [
        name
        for name, path in files.items()
        if MARKER.search(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert marked == []
    assert git("diff", "--name-only", "--diff-filter=U", cwd=project).stdout == ""


@pytest.mark.slow
@pytest.mark.xdist_group("updated")
def test_updated_project_installs_tests_and_loads_its_stages(updated):
    project, _ = updated
    python = install_project(project, "3.11")
    tests = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project)
    assert "passed" in tests.stdout
    run([python, "-m", "flake8"], cwd=project)
    stages = mlops(project, "stage", "list").stdout
    assert "report" in stages and "train" in stages


@pytest.mark.xdist_group("updated")
def test_updated_project_passes_the_policy_check(updated):
    project, output = updated
    # The report printed by the update names what is left: only the lock file,
    # which the user creates with `uv lock` (as the message after update says).
    assert "1 warning(s)" in output and "GOV106" in output
    assert "0 error(s)" in output
    run([UV, "lock", "--quiet"], cwd=project)
    git("add", "uv.lock", cwd=project)
    check = run([sys.executable, "scripts/policy_check.py"], cwd=project)
    assert "0 error(s), 0 warning(s), 0 waived" in check.stdout


def test_untouched_project_updated_equals_a_fresh_copy(template, tmp_path):
    updated = tmp_path / "updated" / "project"
    copy_at(template, updated, PREVIOUS)
    commit(updated, "Generated")
    update_to(updated, CURRENT)
    fresh = tmp_path / "fresh" / "project"
    copy_at(template, fresh, CURRENT)
    old, new = project_files(updated), project_files(fresh)
    assert sorted(old) == sorted(new)
    differ = [
        name
        for name in old
        if name != ".copier-answers.yml"
        and not filecmp.cmp(old[name], new[name], False)
    ]
    assert differ == []
    answers = [
        {
            k: v
            for k, v in yaml.safe_load(files[".copier-answers.yml"].read_text()).items()
            if k != "_commit"
        }
        for files in (old, new)
    ]
    assert answers[0] == answers[1]


def existing_repository(root: Path) -> Path:
    """A team's repository from before the template: own pyproject and code."""
    files = {
        "pyproject.toml": '[project]\nname = "churn"\nversion = "2.3.0"\n'
        'dependencies = ["tabulate>=0.9"]\n',
        "README.md": "# Churn\n\nOur model.\n",
        "src/churn/__init__.py": "",
        "src/churn/features.py": "def ratio(a, b):\n    return a / b if b else 0.0\n",
        "tests/test_features.py": "from churn.features import ratio\n\n\n"
        "def test_ratio():\n    assert ratio(1, 2) == 0.5\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    git("init", "-q", cwd=root)
    commit(root, "Our project")
    return root


@pytest.mark.slow
def test_adopting_into_an_existing_repository(template, tmp_path):
    """docs/updating.md#adopting-the-template-in-an-existing-repository"""
    project = existing_repository(tmp_path / "churn")
    copy_at(template, project, CURRENT, "--overwrite", "--data", "package_name=churn")
    assert (project / ".git").is_dir() and git("log", "--oneline", cwd=project).stdout
    changed = git("diff", "--name-only", cwd=project).stdout.split()
    # The files on both sides, overwritten (docs/updating.md says which).
    assert changed == ["README.md", "pyproject.toml", "src/churn/__init__.py"]
    features = project / "src/churn/features.py"
    assert "def ratio" in features.read_text()
    assert (project / "tests/test_features.py").is_file()
    assert (project / "src/churn/config.py").is_file()
    # The documented merge: put the team's dependency back, keep the rest.
    replace(
        project / "pyproject.toml",
        '"pyyaml>=6.0",',
        '"pyyaml>=6.0",\n    "tabulate>=0.9",',
    )
    commit(project, "Adopt governed-mlops")
    python = install_project(project, "3.11")
    tests = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project)
    assert "test_features.py" in tests.stdout or "passed" in tests.stdout
    assert "info" in mlops(project, "--help").stdout
    git("add", "uv.lock", cwd=project)  # GOV106: the lock is committed
    check = mlops(project, "policy", "check")
    assert "0 error(s), 0 warning(s), 0 waived" in check.stdout
