"""The tools' version, which is the policy version.

It is written in one place, the package's ``pyproject.toml``. From a source
checkout (the template repository, copier's checkout of it, an editable
install) it is read from there; an installed wheel has it in its metadata.
"""

from __future__ import annotations

from pathlib import Path

DISTRIBUTION = "governed-mlops-tools"


def read_version() -> str:
    """The version of this copy of the tools."""
    from ._toml import toml

    source = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        project = toml.loads(source.read_text(encoding="utf-8")).get("project", {})
    except (OSError, ValueError):
        project = {}
    if project.get("name") == DISTRIBUTION and project.get("version"):
        return str(project["version"])
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # copied somewhere by hand
        return "0+unknown"
