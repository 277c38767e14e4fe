"""Locate the governed project and read its ``[tool.governed-mlops]`` table."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ._toml import toml

TOOL_TABLE = "governed-mlops"


class ProjectError(Exception):
    """The current directory is not inside a governed-mlops project."""


class PackageMissing(ProjectError, ImportError):
    """The project's package cannot be imported here: a typo in its name, or
    the project not installed in this environment (callers that can do
    without its settings catch the ImportError)."""


@dataclass(frozen=True)
class Project:
    """A governed-mlops project on disk."""

    root: Path
    package: str
    pyproject: dict[str, Any] = field(repr=False)

    @property
    def table(self) -> dict[str, Any]:
        """The ``[tool.governed-mlops]`` table of ``pyproject.toml``."""
        table = self.pyproject.get("tool", {}).get(TOOL_TABLE, {})
        return table if isinstance(table, dict) else {}

    @property
    def name(self) -> str:
        """The distribution name from ``[project] name``."""
        return str(self.pyproject.get("project", {}).get("name", self.package))

    @property
    def title(self) -> str:
        """The name people use: the template's answer ``project_name`` (as
        typed, e.g. "Prévisions Météo"), else the distribution name."""
        from yaml import YAMLError

        from ._yaml import safe_load

        try:
            answers = safe_load(
                (self.root / ".copier-answers.yml").read_text(encoding="utf-8")
            )
        except (OSError, ValueError, YAMLError):  # none, or not readable
            return self.name
        title = answers.get("project_name") if isinstance(answers, dict) else None
        return title.strip() if isinstance(title, str) and title.strip() else self.name

    @property
    def version(self) -> str:
        """``[project] version`` (empty when dynamic or missing)."""
        return str(self.pyproject.get("project", {}).get("version", ""))

    @property
    def requires_python(self) -> str:
        return str(self.pyproject.get("project", {}).get("requires-python", ""))

    @property
    def dependencies(self) -> list[str]:
        """``[project] dependencies``: installed into every stage env too."""
        return list(self.pyproject.get("project", {}).get("dependencies", []))

    @property
    def index_url(self) -> str:
        """The project's package index (empty: the installer's default)."""
        return str(self.table.get("index-url", ""))

    @property
    def env_specs_dir(self) -> Path:
        return self.root / "env_specs"

    @property
    def state_dir(self) -> Path:
        """Tool state that is never committed (kernels, build markers)."""
        return self.root / ".mlops"

    @property
    def locks_dir(self) -> Path:
        """Committed per-stage locks, ``env_specs/locks/<stage>.txt``."""
        return self.env_specs_dir / "locks"

    def lock_file(self, stage: str) -> Path:
        """Stage ``stage``'s committed lock."""
        return self.locks_dir / f"{stage}.txt"

    @property
    def wheels_dir(self) -> Path:
        """Wheelhouse for offline stage installs."""
        return self.root / "wheels"

    @property
    def jupyter_dir(self) -> Path:
        """Project-local Jupyter data dir holding the stage kernels (JUPYTER_PATH)."""
        return self.state_dir / "jupyter"

    def tools_requirement(self, extras: bool = False) -> str:
        """The project's pin of the tools, from its dependency groups (the
        running version when it has none): without extras (what the
        governance hook installs), or as pinned (``extras``: the wheelhouse,
        whose tools must build stage envs and run stages)."""
        from packaging.requirements import InvalidRequirement, Requirement

        from . import __version__
        from ._version import DISTRIBUTION

        groups = self.pyproject.get("dependency-groups", {})
        for entries in groups.values() if isinstance(groups, dict) else ():
            for entry in entries if isinstance(entries, list) else ():
                try:
                    requirement = Requirement(str(entry))
                except InvalidRequirement:
                    continue
                if requirement.name == DISTRIBUTION:
                    if not extras:
                        requirement.extras = set()
                    return str(requirement)
        return f"{DISTRIBUTION}{'[pipeline]' if extras else ''}=={__version__}"

    def import_module(self, name: str) -> ModuleType:
        """Import ``<package>.<name>``, e.g. ``config`` or ``logs``."""
        try:
            return importlib.import_module(f"{self.package}.{name}")
        except ModuleNotFoundError as error:
            if error.name not in (self.package, f"{self.package}.{name}"):
                raise  # a module the project's code imports: its own problem
            raise PackageMissing(
                f"{self.root / 'pyproject.toml'}: [tool.{TOOL_TABLE}] package = "
                f"{self.package!r}: no module {error.name} in this environment; "
                f"name the package under src/ and install the project (uv sync)"
            ) from None


def _read_pyproject(path: Path) -> dict[str, Any]:
    try:
        return toml.loads(path.read_text(encoding="utf-8"))
    except toml.TOMLDecodeError as error:
        problem = f"not valid TOML ({error})"
    except UnicodeDecodeError as error:
        problem = f"not UTF-8 text (byte {error.start})"
    except OSError as error:
        problem = f"cannot be read ({error.strerror or error})"
    raise ProjectError(
        f"{path}: {problem}; fix it (an update's conflict: resolve its markers; "
        f"git diff shows what changed)"
    )


def find_project(start: Path | None = None) -> Project:
    """The nearest ancestor of ``start`` (default: cwd) that is a governed project."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if not pyproject.is_file():
            continue
        data = _read_pyproject(pyproject)
        table = data.get("tool", {}).get(TOOL_TABLE)
        if table is None:
            continue
        package = table.get("package")
        if not isinstance(package, str) or not package.isidentifier():
            raise ProjectError(
                f"{pyproject}: [tool.{TOOL_TABLE}] package must name the project's "
                f"import package, got {package!r}"
            )
        return Project(root=folder, package=package, pyproject=data)
    raise ProjectError(
        f"no governed-mlops project found at or above {here}: run this inside a "
        f"project generated by the template (its pyproject.toml has "
        f"[tool.{TOOL_TABLE}])"
    )


def project_settings(start: Path | None = None) -> Any:
    """The settings of the project around ``start`` (default: cwd), for
    scripts run in the project's environment (see ``settings.load``)."""
    from .settings import load

    return load(find_project(start))
