"""Notebook merges with nbdime: cell by cell, markers inside cells, valid JSON.

Copier merges an ``.ipynb`` as text, and its inline markers make the file
invalid JSON. Here the three versions copier recorded in the index are
merged again with nbdime as a library; without nbdime (copier run by
``uvx copier``) the project's notebook is kept as it was.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from . import gitio

WITH_NBDIME = "uvx --with nbdime copier update --trust ..."


@dataclass(frozen=True)
class NotebookMerge:
    text: str
    conflicts: int  # nbdime's conflicted decisions; 0 is a clean merge


def nbdime_available() -> bool:
    try:
        return importlib.util.find_spec("nbdime") is not None
    except (ImportError, ValueError):  # a None in sys.modules, a broken install
        return False


def is_notebook_text(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def merge(base: str, ours: str, theirs: str) -> NotebookMerge:
    """Merge the project's (``ours``) and the template's (``theirs``) changes
    to ``base``; conflicting sources get inline markers inside their cells,
    conflicting outputs keep the project's. Raises ImportError without nbdime
    and ValueError when a version is not a notebook."""
    # Imported by name: neither ships type information.
    nbformat = importlib.import_module("nbformat")
    merge_notebooks = importlib.import_module("nbdime.merging").merge_notebooks
    versions = [nbformat.reads(text, as_version=4) for text in (base, ours, theirs)]
    options = SimpleNamespace(
        merge_strategy="inline",
        input_strategy="inline",
        output_strategy="use-local",
        ignore_transients=True,
        log_level="WARNING",
    )
    merged, decisions = merge_notebooks(*versions, options)
    with warnings.catch_warnings():  # nbformat's notes on cell ids
        warnings.simplefilter("ignore")
        text = nbformat.writes(merged)
    return NotebookMerge(text + "\n", sum(1 for d in decisions if d.conflict))


def _empty() -> str:
    notebook: dict[str, Any] = {
        "cells": [],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook)


def resolve_conflicted(project: Path, paths: list[str]) -> list[str]:
    """Re-merge every conflicted notebook of ``paths``; what was done."""
    done = []
    for path in paths:
        if path.endswith(".ipynb"):
            done.append(_resolve(project, path))
    return done


def _resolve(project: Path, path: str) -> str:
    found = gitio.stages(project, path)
    ours = found.get(2, b"").decode("utf-8")
    target = project / path
    if 2 not in found or 3 not in found or not is_notebook_text(ours):
        return (
            f"{path}: conflict left as copier wrote it (not a three-way notebook merge)"
        )
    if not nbdime_available():
        target.write_bytes(ours.encode("utf-8"))
        return (
            f"{path}: CONFLICT, your notebook kept as it was; the template's "
            f"changes need nbdime: reset (git reset --hard && git clean -fd) and "
            f"run `{WITH_NBDIME}`"
        )
    base = found[1].decode("utf-8") if 1 in found else _empty()
    try:
        result = merge(base, ours, found[3].decode("utf-8"))
    except ValueError as error:
        target.write_bytes(ours.encode("utf-8"))
        return f"{path}: CONFLICT, your notebook kept as it was ({error})"
    target.write_bytes(result.text.encode("utf-8"))
    if result.conflicts:
        return (
            f"{path}: CONFLICT in {result.conflicts} place(s), merged cell by cell: "
            "resolve the <<<<<<< markers inside the cells (nbdime)"
        )
    gitio.mark_resolved(project, path)
    return f"{path}: merged cell by cell (nbdime), no conflict left"
