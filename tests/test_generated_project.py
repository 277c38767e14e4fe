"""The generated project installs and passes its own tests, black and flake8.

One install per supported Python; licenses are spread over them because the
license answer changes no Python file (test_copy lints every combination).
"""

from __future__ import annotations

import sys

import pytest

from conftest import UV, install_project, python_for, run

INSTALLS = [
    ("3.10", "MIT"),
    ("3.11", "Proprietary"),
    ("3.12", "Apache-2.0"),
    ("3.13", "MIT"),
]


def bin_of(python):
    return python.parent


@pytest.mark.slow
@pytest.mark.parametrize(("python_version", "license"), INSTALLS)
def test_uv_sync_then_tests_black_flake8_pass(render, python_version, license):
    project = render(python_version=python_version, license=license)
    python = install_project(project, python_version)
    tests = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project)
    assert "passed" in tests.stdout and "Required test coverage" in tests.stdout
    run([python, "-m", "black", "--check", "."], cwd=project)
    run([python, "-m", "flake8"], cwd=project)
    version = run([python, "-c", "import sys; print(sys.version)"], cwd=project)
    assert version.stdout.startswith(python_version)
    help_text = run([bin_of(python) / "mlops", "--help"], cwd=project).stdout
    assert "usage: mlops" in help_text
    info = run([bin_of(python) / "mlops", "info"], cwd=project).stdout
    assert f"project root : {project}" in info
    # The project's Settings keeps the contract the tools read.
    contract = (
        "from governed_mlops.settings import missing_fields; "
        "from my_mlops_project.config import get_settings; "
        "print(missing_fields(get_settings()))"
    )
    assert run([python, "-c", contract], cwd=project).stdout.strip() == "[]"
    assert f"sqlite:///{(project / 'mlruns' / 'mlflow.db').as_posix()}" in info


@pytest.mark.slow
def test_bad_setting_stops_mlops_with_a_message(render):
    project = render()
    python = install_project(project, "3.11")
    result = run(
        [bin_of(python) / "mlops", "info"],
        cwd=project,
        env={"MY_MLOPS_PROJECT_LOG_LEVEL": "LOUD"},
        check=False,
    )
    assert result.returncode == 2  # refused, as every bad input is (not 1)
    assert "MY_MLOPS_PROJECT_LOG_LEVEL=LOUD" in result.stderr
    assert "'INFO'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_pip_route_as_the_readme_says(render, tmp_path):
    """README, "Set up", pip row: a venv, pip 25.1+, the project with its dev
    group; then copier and mlops are there."""
    project = render()
    venv = tmp_path / "venv"
    run([python_for("3.11"), "-m", "venv", venv], cwd=tmp_path)
    scripts = venv / ("Scripts" if sys.platform == "win32" else "bin")
    pip = [scripts / "python", "-m", "pip"]
    old = run([*pip, "install", "-e", ".", "--group", "dev"], cwd=project, check=False)
    if old.returncode != 0:  # a venv's bundled pip before 25.1
        assert "no such option: --group" in old.stderr
    run([*pip, "install", "-q", "--upgrade", "pip>=25.1"], cwd=project)
    run([*pip, "install", "-q", "-e", ".", "--group", "dev"], cwd=project)
    assert "copier" in run([scripts / "copier", "--version"], cwd=project).stdout
    info = run([scripts / "mlops", "info"], cwd=project).stdout
    assert "package      : my_mlops_project" in info
    tests = run(
        [scripts / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
    )
    assert "passed" in tests.stdout


@pytest.mark.slow
def test_poetry_install(render):
    """Poetry 2 installs the PEP 621 project and its PEP 735 dev group.

    This machine's package index serves only the simple API, not the JSON API
    Poetry's default PyPI source uses, so the test adds the index as an
    explicit source, as an organisation with a private index does.
    """
    project = render()
    poetry = [UV, "tool", "run", "--from", "poetry>=2,<3", "poetry", "--no-interaction"]
    env = {"POETRY_VIRTUALENVS_IN_PROJECT": "true", "POETRY_NO_INTERACTION": "1"}
    run(
        [
            *poetry,
            "source",
            "add",
            "--priority=primary",
            "index",
            "https://pypi.org/simple/",
        ],
        cwd=project,
        env=env,
    )
    run([*poetry, "install", "--with", "dev"], cwd=project, env=env)
    python = project / ".venv" / "bin" / "python"
    result = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project)
    assert "passed" in result.stdout
    # README, "Updating": `poetry run copier update --trust ...` has its copier.
    copier = run([*poetry, "run", "copier", "--version"], cwd=project, env=env)
    assert "copier" in copier.stdout
