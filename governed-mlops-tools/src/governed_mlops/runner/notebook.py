"""Notebook facts the runner needs: its declared parameters."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CommandError
from ..files import write_json
from .parameters import KINDS, Declared, declared

if TYPE_CHECKING:  # the policy check reads notebooks without the spec model
    from ..stages.specs import Stage

PARAMETERS_TAG = "parameters"
DECLARATIONS_FILE = "declarations.json"


def _stamp(path: Path) -> tuple[int, int]:
    """What says a file changed: its size and modification time."""
    found = path.stat()
    return found.st_size, found.st_mtime_ns


def read_notebook(path: Path) -> dict[str, Any]:
    """A notebook's JSON. A file that is not one (a jupytext script, a
    notebook cut short) is a :class:`CommandError` naming it and the fix."""
    try:
        shown = path.relative_to(Path.cwd())
    except ValueError:
        shown = path
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CommandError(f"{shown}: cannot be read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise CommandError(f"{shown}: not a notebook (not UTF-8 text)") from None
    except ValueError as error:
        where = (
            f" ({error.msg}, line {error.lineno} column {error.colno})"
            if isinstance(error, json.JSONDecodeError)
            else ""
        )
        raise CommandError(
            f"{shown}: not a notebook: not .ipynb JSON{where}. Convert a script "
            f"with `jupytext --to ipynb`; restore a damaged notebook from git"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise CommandError(f"{shown}: not a notebook: no list of cells")
    return data


def parameters_cell(path: Path) -> dict[str, Any] | None:
    """The first cell tagged ``parameters`` (as papermill finds it), its source
    as one string; None when no cell is tagged. Read once per version of the
    file: the runner asks for each notebook more than once."""
    return _parameters_cell(path, _stamp(path))


@functools.lru_cache(maxsize=64)
def _parameters_cell(path: Path, stamp: tuple[int, int]) -> dict[str, Any] | None:
    for cell in read_notebook(path)["cells"]:
        if PARAMETERS_TAG in cell.get("metadata", {}).get("tags", []):
            source = cell.get("source", "")
            text = "".join(source) if isinstance(source, list) else str(source)
            return {**cell, "source": text}
    return None


def has_parameters_cell(path: Path) -> bool:
    return parameters_cell(path) is not None


def declarations(path: Path) -> dict[str, Declared]:
    """The parameters of the notebook's ``parameters``-tagged cell, none without
    one. Stage kernels are Python whatever the notebook's metadata names (a
    jupytext notebook has no kernelspec), so the cell is read as Python."""
    return _declarations(path, _stamp(path))


@functools.lru_cache(maxsize=64)
def _declarations(path: Path, stamp: tuple[int, int]) -> dict[str, Declared]:
    cell = parameters_cell(path)
    if cell is None:
        return {}
    from papermill.translators import PythonTranslator

    return {
        found.name: declared(found.name, found.inferred_type_name, found.default)
        for found in PythonTranslator.inspect(cell)
    }


def stage_declarations(stage: Stage) -> dict[str, Declared]:
    """:func:`declarations` of the stage's notebook, kept in
    ``.mlops/cache/declarations.json`` while the file is unchanged: reading
    them needs papermill, whose import costs a second a command."""
    path = stage.notebook
    stamp = list(_stamp(path))
    kept = stage.project.state_dir / "cache" / DECLARATIONS_FILE
    try:
        known = json.loads(kept.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    entry = known.get(str(path))
    if entry and entry["stamp"] == stamp:
        return {
            name: Declared(name, KINDS.get(kind or ""), default)
            for name, (kind, default) in entry["parameters"].items()
        }
    found = declarations(path)
    known[str(path)] = {
        "stamp": stamp,
        "parameters": {
            name: [item.kind.__name__ if item.kind else None, item.default]
            for name, item in found.items()
        },
    }
    write_json(kept, known)
    return found


def declared_parameters(path: Path) -> frozenset[str]:
    """The names the notebook's parameters cell assigns."""
    return frozenset(declarations(path))


def check_parameters(
    parameters: dict[str, Any], declared: frozenset[str], stage: str, relative: str
) -> None:
    """Refuse a parameter that the notebook's parameters cell does not declare."""
    unknown = sorted(set(parameters) - declared)
    if unknown:
        raise CommandError(
            f"stage {stage}: unknown parameter(s) {', '.join(unknown)} for {relative}; "
            f"its parameters cell declares: {', '.join(sorted(declared)) or 'nothing'}"
        )
