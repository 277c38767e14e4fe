"""Notebook facts the runner needs: its hash and its declared parameters."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

import yaml

from ..errors import CommandError

PARAMETERS_TAG = "parameters"


def sha256(path: Path) -> str:
    """SHA-256 of the notebook file as committed (the input, not the output)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def has_parameters_cell(path: Path) -> bool:
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    return any(
        PARAMETERS_TAG in cell.get("metadata", {}).get("tags", []) for cell in cells
    )


@functools.lru_cache(maxsize=None)
def declared_parameters(path: Path, relative: str) -> frozenset[str]:
    """Names assigned in the notebook's ``parameters``-tagged cell (read once
    per command: the pipeline asks for each notebook more than once)."""
    if not has_parameters_cell(path):
        raise CommandError(
            f"{relative} has no cell tagged 'parameters': tag the cell that holds "
            f"the notebook's default parameters (Jupyter: View > Cell toolbar > Tags)"
        )
    import papermill

    return frozenset(papermill.inspect_notebook(str(path)))


def parse_assignments(items: Iterable[str]) -> dict[str, Any]:
    """``["seed=7", "name=x"]`` to ``{"seed": 7, "name": "x"}`` (YAML scalars)."""
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"parameter {item!r} must be written key=value")
        try:
            values[key.strip()] = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            values[key.strip()] = raw
    return values


def check_parameters(
    parameters: dict[str, Any], declared: frozenset[str], stage: str, relative: str
) -> None:
    unknown = sorted(set(parameters) - declared)
    if unknown:
        raise CommandError(
            f"stage {stage}: unknown parameter(s) {', '.join(unknown)} for {relative}; "
            f"its parameters cell declares: {', '.join(sorted(declared)) or 'nothing'}"
        )
