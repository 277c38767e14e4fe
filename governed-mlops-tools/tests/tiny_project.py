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
import os
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


def code_cell(cell_id: str, source: list[str], *tags: str) -> dict[str, object]:
    """A code cell of an nbformat 4.5 notebook, never executed."""
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": cell_id,
        "metadata": {"tags": list(tags)} if tags else {},
        "outputs": [],
        "source": source,
    }


# The parameters cell of the tests' stage notebooks.
PARAMETERS = code_cell("parameters", ["seed = 1\n", 'label = "tiny"\n'], "parameters")


def notebook_json(*cells: dict[str, object], metadata: dict | None = None) -> str:
    """An nbformat 4.5 notebook of ``cells``, as Jupyter writes it."""
    notebook = {
        "cells": list(cells),
        "metadata": metadata or {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook, indent=1) + "\n"


def notebook_text(package: str) -> str:
    """A parameters cell, and a cell reading the project's settings in the
    kernel that fails for a negative seed."""
    work = [
        f"from {package}.config import get_settings\n",
        "\n",
        'assert seed >= 0, "seed must not be negative"\n',
        'print(f"{label}: {seed * 2} under {get_settings().project_root}")\n',
    ]
    return notebook_json(
        PARAMETERS,
        code_cell("work", work),
        metadata={
            "kernelspec": {"display_name": "Python 3", "name": "python3"},
            "language_info": {"name": "python"},
        },
    )


def outage_notebook(stop: str, tries: int) -> str:
    """A stage notebook that stops the tracking server with ``stop`` (one line
    of Python; the test passes the ids in the environment) and waits, up to
    ``tries`` tenths of a second, until its port OUTAGE_PORT is closed."""
    source = [
        "import os, signal, socket, time\n",
        f"{stop}\n",
        f"for _ in range({tries}):\n",
        "    try:\n",
        '        address = ("127.0.0.1", int(os.environ["OUTAGE_PORT"]))\n',
        "        socket.create_connection(address, 1).close()\n",
        "        time.sleep(0.1)\n",
        "    except OSError:\n",
        "        break\n",
        'print("server stopped")\n',
    ]
    return notebook_json(code_cell("outage", source))


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


def git(*args: str, cwd: Path) -> str:
    """``git`` in ``cwd`` as a test user; its output."""
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


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


@contextmanager
def built_project(
    root: Path,
    package: str,
    stages: tuple[str, ...],
    specs: dict[str, str] | None = None,
) -> Iterator[Result]:
    """The tiny project written in ``root`` (a new folder; ``specs``: stage
    specs' text instead of the default) with the tools of this checkout
    pinned, as the current folder, its package imported, no setting of it or
    of MLflow inherited from the environment, and every stage env built with
    its lock committed; yields ``stage create``'s result."""
    import pytest

    root.mkdir()
    tools = REPO / "governed-mlops-tools"
    pin = f"governed-mlops-tools[pipeline] @ {tools.as_uri()}"
    write_project(root, package, stages, tools_pin=pin, git=False)
    for stage, text in (specs or {}).items():
        (root / "env_specs" / f"stage_{stage}.yaml").write_text(text, "utf-8")
    commit(root, "tiny project")
    prefixes = (package.upper() + "_", "MLFLOW_")
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith(prefixes)]:
            patch.delenv(name)
        patch.chdir(root)
        with imported(root, package), restored_logging():
            created = mlops("stage", "create", "--all")
            assert created.code == 0, created.err
            commit(root, "stage locks")
            yield created


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
