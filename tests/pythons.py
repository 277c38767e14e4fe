"""Find installed CPython interpreters by version, the way ``mlops`` does.

Tests look interpreters up with the product's own finder
(``governed_mlops.stages.pythons``: PATH, pyenv and uv installs, no shims), so they
find what a user's stage specs would find, whatever HOME holds; a test that
needs a missing version skips saying so.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

sys.path.insert(
    0, str(Path(__file__).resolve().parents[1] / "governed-mlops-tools" / "src")
)

from governed_mlops.stages.pythons import (  # noqa: E402
    InterpreterNotFound,
    find_version,
)

SUPPORTED = ("3.10", "3.11", "3.12", "3.13")


@functools.cache
def find_python(version: str) -> str | None:
    """Absolute path of a working Python ``version`` (``"3.11"``), or None."""
    try:
        return str(find_version(version).path)
    except InterpreterNotFound:
        return None
