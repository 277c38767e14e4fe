"""Who owns each file of a generated project: the one table.

Project-owned files are the team's (seeded by the template, then theirs):
``mlops template recopy`` never writes them. Template-owned files follow the
template: recopy puts them back as the version renders them. A path matching
no pattern is the project's. docs/architecture.md's "Files of a generated
project" table says the same (a test ties them).
"""

from __future__ import annotations

import fnmatch
from typing import Literal

Owner = Literal["project", "template", "answers"]

# fnmatch patterns ("*" crosses "/"), first match wins.
PROJECT: tuple[str, ...] = (
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "uv.lock",
    ".gitignore",
    ".env.example",
    ".python-version",
    "src/*",
    "tests/*",
    "notebooks/*",
    "env_specs/stage_*.yaml",
    "env_specs/locks/*",
)
TEMPLATE: tuple[str, ...] = (
    ".pre-commit-config.yaml",
    ".flake8",
    ".editorconfig",
    ".gitattributes",
    "Jenkinsfile",
    ".github/*",
    "renovate.json",
    "scripts/*",
    "MLproject",
    "env_specs/stage.schema.json",
)
# Written as copier writes it: the version and answers rendered.
ANSWERS = ".copier-answers.yml"


def owner(path: str) -> Owner:
    """The owner of a project path (``/``-separated, relative)."""
    if path == ANSWERS:
        return "answers"
    for pattern in PROJECT:
        if fnmatch.fnmatchcase(path, pattern):
            return "project"
    for pattern in TEMPLATE:
        if fnmatch.fnmatchcase(path, pattern):
            return "template"
    return "project"
