"""``copier update`` from every released version to this one, and adoption.

The template repository of these tests is a clone of this one with its
history, tagged from docs/changelog.md (``tools/releases.py``), plus the
working tree as the newest commit, tagged with the current tools version.
A project copied at each release is updated to it, untouched, with a team's
usual changes, and with edits to its copy of the tooling. Copier runs through
its command line with ``--trust``, as a user runs it.
"""

from __future__ import annotations

import filecmp
import json
import re
import sys
from pathlib import Path

import pytest
import yaml
from packaging.version import Version

from conftest import (
    REPO,
    TOOLS_VERSION,
    UV,
    git,
    install_project,
    mlops,
    run,
)

sys.path.insert(0, str(REPO / "tools"))

from releases import releases  # noqa: E402

PACKAGE = "my_mlops_project"
MARKER = re.compile(r"^(<{7}|>{7}) ", re.MULTILINE)
RELEASED = [release.version for release in releases()]
CURRENT = TOOLS_VERSION
# Every release before the work tree's version: once that version is released
# the work tree is its newest state, and updating from it changes nothing.
FROM = [version for version in RELEASED if Version(version) < Version(CURRENT)]
# Projects of these releases carry a copy of the tooling (1.2.0 removes it).
TOOLS_PACKAGE = Version("1.2.0")
WITH_TOOLING_COPY = [version for version in FROM if Version(version) < TOOLS_PACKAGE]


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


def policy_failures(project: Path) -> dict[str, list[str]]:
    from governed_mlops.policy import check

    return {
        o.rule.id: [f"{f.where}: {f.message}" for f in o.findings]
        for o in check(project).outcomes
        if o.status == "failed"
    }


@pytest.fixture(scope="module")
def template(released_template) -> Path:
    """This repository with its history and release tags, plus the work tree."""
    assert set(RELEASED) <= set(git("tag", cwd=released_template).stdout.split())
    return released_template


def test_every_release_is_updated_from():
    """The releases of the changelog: every version but the work tree's own."""
    assert FROM, "docs/changelog.md records no release before " + CURRENT
    assert CURRENT not in RELEASED or RELEASED[0] == CURRENT
    assert set(RELEASED) - set(FROM) <= {CURRENT}


def make_user_changes(project: Path) -> None:
    """What a team does to a project between two policy versions."""
    replace(
        project / f"src/{PACKAGE}/config.py",
        "log_retention_days: int = Field(30, ge=1)",
        "log_retention_days: int = Field(90, ge=1)",
    )
    replace(
        project / "pyproject.toml",
        'dependencies = [\n    "loguru>=0.7",',
        'dependencies = [\n    "tabulate>=0.9",\n    "loguru>=0.7",',
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
    (project / "env_specs/stage_report.yaml").write_text(
        "# Our own stage.\n" + spec, encoding="utf-8"
    )
    (project / "notebooks/05-report.ipynb").write_bytes(
        (project / "notebooks/04-eval.ipynb").read_bytes()
    )
    replace(project / ".flake8", "max-complexity = 12", "max-complexity = 15")


@pytest.fixture(scope="module", params=FROM)
def updated(request, template, tmp_path_factory):
    """A project of each release with a team's changes, updated: (project,
    its release, the update's output)."""
    version = request.param
    project = tmp_path_factory.mktemp(f"updated-{version}") / "project"
    copy_at(template, project, version)
    commit(project, "Generated")
    make_user_changes(project)
    commit(project, "Our changes")
    return project, version, update_to(project, CURRENT)


def test_update_runs_migrations_and_reports_once(updated):
    project, version, output = updated
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == CURRENT
    if Version(version) < TOOLS_PACKAGE:
        assert "migration 1.2.0: src/governed_mlops/ removed" in output
    assert output.count(f"Policy changes from {version} to {CURRENT}") == 1
    assert output.count(f"Policy report of {project}") == 1
    assert f"## {CURRENT}" in output and f"policy version {CURRENT}" in output


def test_update_keeps_every_user_change(updated):
    project, _, _ = updated
    assert "Field(90, ge=1)" in (project / f"src/{PACKAGE}/config.py").read_text()
    pyproject = (project / "pyproject.toml").read_text()
    assert '"tabulate>=0.9",' in pyproject
    assert '"eval", "report"]' in pyproject
    notebook = (project / "notebooks/01-data-prep.ipynb").read_text()
    assert "Team note: the split is stratified." in notebook
    assert not (project / "scripts/mlflow_server.bat").exists()
    train = (project / "env_specs/stage_train.yaml").read_text()
    assert "parameters:\n  seed: 7\n" in train
    report = (project / "env_specs/stage_report.yaml").read_text()
    assert report.startswith("# Our own stage.\n")
    assert "max-complexity = 15" in (project / ".flake8").read_text()


def test_update_replaces_the_tooling_copy_with_the_pinned_package(updated):
    project, _, _ = updated
    assert not (project / "src" / "governed_mlops").exists()
    pyproject = (project / "pyproject.toml").read_text()
    assert "governed_mlops" not in pyproject.split("[tool.governed-mlops]")[0]
    assert "governed-mlops-tools[pipeline] @ git+file://" in pyproject
    hooks = (project / ".pre-commit-config.yaml").read_text()
    assert (
        "scripts/policy_check.py" not in hooks and "entry: mlops policy check" in hooks
    )
    assert not (project / "scripts/policy_check.py").exists()
    # The team's own notebook takes its settings from the project's package.
    for name in ("01-data-prep", "05-report"):
        text = (project / f"notebooks/{name}.ipynb").read_text()
        assert f"from {PACKAGE}.config import get_settings" in text, name
        assert "governed_mlops" not in text, name


def test_update_leaves_no_conflicts(updated):
    project, _, _ = updated
    files = project_files(project)
    assert not [name for name in files if name.endswith(".rej")]
    marked = [
        name
        for name, path in files.items()
        if MARKER.search(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert marked == []
    assert git("diff", "--name-only", "--diff-filter=U", cwd=project).stdout == ""


def test_updated_project_passes_the_policy_check(updated):
    project, _, output = updated
    # The report printed by the update names what is left: only the lock
    # file, which the user creates with `uv lock`.
    assert "0 error(s)" in output
    run([UV, "lock", "--quiet"], cwd=project)
    git("add", "uv.lock", cwd=project)
    assert policy_failures(project) == {}


@pytest.mark.slow
def test_updated_project_installs_tests_and_loads_its_stages(updated):
    project, _, _ = updated
    python = install_project(project, "3.11")
    tests = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project)
    assert "passed" in tests.stdout
    run([python, "-m", "flake8"], cwd=project)
    stages = mlops(project, "stage", "list").stdout
    assert "report" in stages and "train" in stages
    version = mlops(project, "--version").stdout
    assert version.strip() == f"mlops {CURRENT}"


@pytest.mark.parametrize("version", FROM)
def test_untouched_project_updated_equals_a_fresh_copy(template, tmp_path, version):
    updated = tmp_path / "updated" / "project"
    copy_at(template, updated, version)
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


@pytest.mark.parametrize("version", WITH_TOOLING_COPY)
def test_edited_tooling_copy_is_kept_with_its_diff_and_flagged(
    template, tmp_path, version
):
    """A team that lowered the checker's coverage floor in its copy: the update
    keeps the copy, shows the change and where it belongs; GOV110 fails."""
    project = tmp_path / "project"
    copy_at(template, project, version)
    commit(project, "Generated")
    rules = "src/governed_mlops/policy/rules_repository.py"
    if not (project / rules).exists():  # 1.0.0 had no policy checker
        rules = "src/governed_mlops/stage_env.py"
        replace(
            project / rules,
            '"""',
            '"""Our tweak.\n',
        )
    else:
        replace(project / rules, "MIN_COVERAGE = 80", "MIN_COVERAGE = 70")
    commit(project, "Our checker")
    output = update_to(project, CURRENT)
    assert "migration 1.2.0: src/governed_mlops/ kept: 1 file(s) differ" in output
    assert f"src/governed_mlops/{rules.split('governed_mlops/')[1]}:" in output
    if "rules_repository" in rules:
        assert "-MIN_COVERAGE = 80" in output and "+MIN_COVERAGE = 70" in output
        assert "policy plugin package" in output
    edited = (project / rules).read_text()
    assert "MIN_COVERAGE = 70" in edited or "Our tweak." in edited
    # Nothing else of the copy was lost either.
    assert len(list((project / "src/governed_mlops").rglob("*.py"))) > 10
    found = policy_failures(project)
    assert "GOV110" in found, found


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
    said = copy_at(
        template, project, CURRENT, "--overwrite", "--data", "package_name=churn"
    )
    assert (project / ".git").is_dir() and git("log", "--oneline", cwd=project).stdout
    changed = git("diff", "--name-only", cwd=project).stdout.split()
    # The files on both sides, overwritten (docs/updating.md says which), and
    # the copy names them before its "commit" advice.
    assert changed == ["README.md", "pyproject.toml", "src/churn/__init__.py"]
    assert (
        "The copy replaced 3 committed file(s) of this repository:\n  README.md\n"
        "  pyproject.toml\n  src/churn/__init__.py\nPut your parts back before you "
        "commit"
    ) in said
    features = project / "src/churn/features.py"
    assert "def ratio" in features.read_text()
    assert (project / "tests/test_features.py").is_file()
    assert (project / "src/churn/config.py").is_file()
    # The documented merge: put the team's dependency back, keep the rest.
    replace(
        project / "pyproject.toml",
        '"pydantic-settings>=2.3",',
        '"pydantic-settings>=2.3",\n    "tabulate>=0.9",',
    )
    commit(project, "Adopt governed-mlops")
    python = install_project(project, "3.11")
    tests = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project)
    assert "test_features.py" in tests.stdout or "passed" in tests.stdout
    assert "info" in mlops(project, "--help").stdout
    git("add", "uv.lock", cwd=project)
    check = mlops(project, "policy", "check")
    assert "0 error(s), 0 warning(s), 0 waived" in check.stdout
