"""Migration to 1.1.0: ``[tool.mlops]`` in pyproject.toml is ``[tool.governed-mlops]``.

The ``mlops`` command of 1.1.0 reads its settings (package, stages,
index-url) from ``[tool.governed-mlops]``. Renames the table header (and any
``[tool.mlops.<sub>]`` header) in place, keeping the user's values, comments
and order. Runs after copier's merge; idempotent.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from _gate import applies, has_conflict_markers, read, write

VERSION = "1.1.0"
OLD_HEADER = re.compile(r"^(\[\[?[ \t]*tool\.)mlops(?=[ \t]*[\].])", re.MULTILINE)
NEW_HEADER = re.compile(r"^\[[ \t]*tool\.governed-mlops[ \t]*\]", re.MULTILINE)


def migrate(pyproject: Path) -> str | None:
    """Rename the table in one pyproject.toml; return what was done, or None."""
    if not pyproject.is_file():
        return None
    text = read(pyproject)
    if not OLD_HEADER.search(text):
        return None
    if NEW_HEADER.search(text) and not has_conflict_markers(text):
        return (
            f"{pyproject.name}: has both [tool.mlops] and [tool.governed-mlops]; left "
            "as it is: move your [tool.mlops] keys into [tool.governed-mlops] "
            "and delete [tool.mlops]"
        )
    write(pyproject, OLD_HEADER.sub(r"\1governed-mlops", text))
    return f"{pyproject.name}: renamed [tool.mlops] to [tool.governed-mlops]"


def main(project: Path) -> int:
    if not applies(VERSION):
        return 0
    done = migrate(project / "pyproject.toml")
    if done:
        print(f"migration {VERSION}: {done}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
