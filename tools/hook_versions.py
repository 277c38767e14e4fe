"""Write this repository's hook pins from ``includes/hook_versions.yml``.

The versions of the pre-commit hooks' tools are defined once, in
``includes/hook_versions.yml``: copier hands them to the template, which
renders the projects' ``.pre-commit-config.yaml`` from them. This repository
pins the same tools in its own ``.pre-commit-config.yaml`` (each hook's
``additional_dependencies``) and zizmor in the dev group of ``pyproject.toml``
(the tests audit with the release projects run); this script writes those
pins from the data file, and ``--check`` fails when one differs or when a
hook pins a tool the data file does not name.

Usage: ``python tools/hook_versions.py [--check]``
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

import generated

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "includes" / "hook_versions.yml"
PRECOMMIT = ROOT / ".pre-commit-config.yaml"
PYPROJECT = ROOT / "pyproject.toml"

# "name==1.2.3" or "name[extra]==1.2.3" inside a quoted requirement.
PIN = re.compile(
    r'"(?P<name>[A-Za-z0-9._-]+)(?P<extras>\[[^\]]*\])?==(?P<version>[^";]+)'
)


class UnknownTool(ValueError):
    """A pin names a tool that includes/hook_versions.yml does not define."""


def versions(path: Path = DATA) -> dict[str, str]:
    """The data file's versions: ``{package name: version}``."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data["hook_versions"]["default"].items()}


def repin(text: str, wanted: dict[str, str], *, every_pin: bool) -> str:
    """``text`` with each ``"name==X"`` pin of a known tool set to its version.

    With ``every_pin``, a pin of a tool missing from ``wanted`` is an error:
    in the pre-commit config every hook tool's version comes from the data.
    """

    def replace(found: re.Match[str]) -> str:
        name = found["name"]
        if name not in wanted:
            if every_pin:
                raise UnknownTool(
                    f"{name} is pinned but not defined in {DATA.relative_to(ROOT)}"
                )
            return found[0]
        return f'"{name}{found["extras"] or ""}=={wanted[name]}'

    return PIN.sub(replace, text)


def precommit_config() -> str:
    return repin(PRECOMMIT.read_text(encoding="utf-8"), versions(), every_pin=True)


def dev_group() -> str:
    return repin(PYPROJECT.read_text(encoding="utf-8"), versions(), every_pin=False)


if __name__ == "__main__":
    try:
        raise SystemExit(
            generated.main_files(
                {PRECOMMIT: precommit_config, PYPROJECT: dev_group},
                __doc__,
                "tools/hook_versions.py",
            )
        )
    except UnknownTool as error:
        print(f"{PRECOMMIT.relative_to(ROOT)}: {error}", file=sys.stderr)
        raise SystemExit(1)
