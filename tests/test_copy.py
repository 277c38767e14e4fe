"""Rendering: default answers, the answer matrix, no Jinja left behind."""

from __future__ import annotations

import itertools
import re
import tomllib

import pytest
import yaml

from conftest import REPO, run

PYTHONS = ("3.10", "3.11", "3.12", "3.13")
LICENSES = ("MIT", "Apache-2.0", "Proprietary")
MATRIX = list(itertools.product(PYTHONS, LICENSES))

EXPECTED_FILES = (
    ".copier-answers.yml",
    ".editorconfig",
    ".env.example",
    ".flake8",
    ".gitignore",
    ".python-version",
    "LICENSE",
    "README.md",
    "pyproject.toml",
    "src/governed_mlops/__init__.py",
    "src/governed_mlops/cli.py",
    "tests/conftest.py",
    "tests/test_config.py",
    "tests/test_logs.py",
)
UNRENDERED = re.compile(r"{{|}}|{%|%}|\.jinja\b")


def test_defaults_render_expected_files(render):
    project = render()
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["package_name"] == "my_mlops_project"
    assert answers["project_slug"] == "my-mlops-project"
    assert answers["python_version"] == "3.11"
    for name in EXPECTED_FILES:
        assert (project / name).is_file(), name
    for name in ("config.py", "logs.py", "__init__.py"):
        assert (project / "src" / "my_mlops_project" / name).is_file()


@pytest.mark.parametrize(("python_version", "license"), MATRIX)
def test_matrix_renders_clean(render, python_version, license):
    project = render(python_version=python_version, license=license)
    for path in project.rglob("*"):
        assert ".jinja" not in path.name, path
        if path.is_file() and ".git" not in path.parts:
            text = path.read_text(encoding="utf-8")
            assert not UNRENDERED.search(text), f"unrendered Jinja in {path}"
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == f">={python_version}"
    assert pyproject["build-system"]["build-backend"] == "poetry.core.masonry.api"
    assert pyproject["tool"]["black"]["target-version"] == [
        "py" + python_version.replace(".", "")
    ]
    assert (project / ".python-version").read_text().strip() == python_version
    license_text = (project / "LICENSE").read_text()
    assert {
        "MIT": "MIT License",
        "Apache-2.0": "Apache License",
        "Proprietary": "All rights reserved",
    }[license] in license_text
    expected = "LicenseRef-Proprietary" if license == "Proprietary" else license
    assert pyproject["project"]["license"] == expected


@pytest.mark.parametrize(("python_version", "license"), MATRIX)
def test_matrix_passes_black_and_flake8(render, python_version, license):
    project = render(python_version=python_version, license=license)
    run(["black", "--check", "--quiet", "."], cwd=project)
    run(["flake8"], cwd=project)


def test_answers_with_special_characters_render_valid_toml(render):
    project = render(
        project_name="Données & Modèles (v2)",
        description="Churn model: it's 'quoted' & <tagged>",
        author_name="O'Brien Team",
    )
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "donn-es-mod-les-v2"
    assert (
        pyproject["project"]["description"] == "Churn model: it's 'quoted' & <tagged>"
    )
    assert pyproject["project"]["authors"][0]["name"] == "O'Brien Team"
    run(["flake8"], cwd=project)


def test_template_python_is_linted_in_place():
    """Generated Python stays plain .py, so it is linted here without rendering."""
    jinja_python = [
        p.relative_to(REPO) for p in (REPO / "template").rglob("*.py.jinja")
    ]
    assert jinja_python == []
