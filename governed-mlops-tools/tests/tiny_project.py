"""A tiny governed project on disk, for running the tools in this process.

What the tools read of a project and nothing else: ``pyproject.toml`` with
``[tool.governed-mlops]``, the project's package with the template's own
``config.py`` and ``logs.py`` (copied verbatim, as copier writes them: they
are not templated), one spec per stage and a two-cell parameterised notebook.
The package is imported from ``src/`` by the test process (:func:`imported`);
stage envs install the project editable, so notebooks import it too.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import textwrap
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_PACKAGE = REPO / "template" / "src" / "{{ package_name }}"
HERE = "%d.%d" % sys.version_info[:2]
# The template's [project] dependencies: what the package imports.
DEPENDENCIES = ["loguru>=0.7", "pydantic>=2.7", "pydantic-settings>=2.3"]


def notebook_text(package: str) -> str:
    """A parameters cell, and a cell reading the project's settings in the
    kernel that fails for a negative seed."""
    cells = [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "parameters",
            "metadata": {"tags": ["parameters"]},
            "outputs": [],
            "source": ["seed = 1\n", 'label = "tiny"\n'],
        },
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "work",
            "metadata": {},
            "outputs": [],
            "source": [
                f"from {package}.config import get_settings\n",
                "\n",
                'assert seed >= 0, "seed must not be negative"\n',
                'print(f"{label}: {seed * 2} under {get_settings().project_root}")\n',
            ],
        },
    ]
    notebook = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook, indent=1) + "\n"


def spec_text(stage: str, package: str, python: str = HERE, **extra: object) -> str:
    data: dict[str, object] = {
        "name": stage,
        "python": python,
        "env_dir": f".venvs/{stage}",
        "kernel_name": f"{package}-{stage}",
        "notebook": f"notebooks/{stage}.ipynb",
        "packages": [],
        "parameters": {"seed": 1},
    }
    data.update(extra)
    return json.dumps(data, indent=1) + "\n"


def write_project(
    root: Path,
    package: str = "tinygov",
    stages: tuple[str, ...] = ("solo",),
    tools_pin: str = "",
    git: bool = True,
) -> Path:
    """Write the project under ``root`` (committed to git when ``git``)."""
    groups = ""
    if tools_pin:
        groups = f'\n[dependency-groups]\npipeline = ["{tools_pin}"]\n'
    (root / "src" / package).mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        textwrap.dedent(f"""\
            [project]
            name = "{package}"
            version = "0.1.0"
            requires-python = ">=3.10"
            dependencies = {json.dumps(DEPENDENCIES)}
            {groups}
            [build-system]
            requires = ["poetry-core>=2.0"]
            build-backend = "poetry.core.masonry.api"

            [tool.poetry]
            packages = [{{ include = "{package}", from = "src" }}]

            [tool.governed-mlops]
            package = "{package}"
            stages = {json.dumps(list(stages))}
            """),
        encoding="utf-8",
    )
    for name in ("config.py", "logs.py", "__init__.py"):
        shutil.copyfile(TEMPLATE_PACKAGE / name, root / "src" / package / name)
    (root / "env_specs").mkdir()
    (root / "notebooks").mkdir()
    for stage in stages:
        (root / "env_specs" / f"stage_{stage}.yaml").write_text(
            spec_text(stage, package), encoding="utf-8"
        )
        (root / "notebooks" / f"{stage}.ipynb").write_text(
            notebook_text(package), encoding="utf-8"
        )
    (root / ".gitignore").write_text(
        ".venvs/\n.mlops/\nmlruns/\nartifacts/\nlogs/\nwheels/\n", encoding="utf-8"
    )
    if git:
        commit(root, "tiny project")
    return root


def commit(root: Path, message: str) -> None:
    who = ["-c", "user.name=tools test", "-c", "user.email=tools@test"]
    for args in (
        ["-c", "init.defaultBranch=main", "init", "-q"],
        ["add", "-A"],
        ["commit", "-q", "--allow-empty", "-m", message],
    ):
        subprocess.run(["git", *who, *args], cwd=root, check=True, capture_output=True)


@contextmanager
def imported(root: Path, package: str) -> Iterator[None]:
    """The project's package importable in this process (``src`` on
    ``sys.path``), forgotten afterwards: another project may use the name."""
    forget(package)
    sys.path.insert(0, str(root / "src"))
    try:
        yield
    finally:
        sys.path.remove(str(root / "src"))
        forget(package)


def forget(package: str) -> None:
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]


@contextmanager
def restored_logging() -> Iterator[None]:
    """Undo what the project's ``configure_logging`` does to this process
    (Loguru sinks and patcher, the root logger's handlers)."""
    import logging

    from loguru import logger

    handlers, level = logging.root.handlers[:], logging.root.level
    try:
        yield
    finally:
        logger.remove()
        logger.configure(patcher=None)
        logger.add(sys.stderr)
        logging.root.handlers[:] = handlers
        logging.root.setLevel(level)


@dataclass
class Result:
    """What ``mlops`` returned and printed."""

    code: int
    out: str
    err: str


def mlops(*args: str) -> Result:
    """``mlops ARGS`` in this process (in the project: the caller's cwd)."""
    from governed_mlops.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exit:  # argparse: --help, a bad option
            code = int(exit.code or 0)
    return Result(code, out.getvalue(), err.getvalue())
