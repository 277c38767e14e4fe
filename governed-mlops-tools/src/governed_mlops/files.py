"""Files written whole or not at all: the one way the tools write state."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` through a temporary file
    beside it, so a reader or a crash never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _partial(path)
    temporary.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    os.replace(temporary, path)
    return path


def write_json(path: Path, data: Any) -> Path:
    """``data`` as indented JSON, written atomically."""
    return write_atomic(path, json.dumps(data, indent=1) + "\n")


def copy_atomic(source: Path, target: Path) -> Path:
    """A copy of ``source`` at ``target``, whole or not at all."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = _partial(target)
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)
    return target
