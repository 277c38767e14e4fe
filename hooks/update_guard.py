"""Copier hook: updates never lose an edit (``governed_mlops.update``).

An unversioned ``after`` migration, first of them, in copier's Python in the
destination: conflicted notebooks merged cell by cell (nbdime), conflicted
``pyproject.toml`` and stage specs made to parse, and edited files the new
version deletes or renames (``hooks/migrations/renames.yml``) kept. Uses the
tools of the template checkout being applied, never the project's.

    update_guard.py [PROJECT]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
TOOLS = CHECKOUT / "governed-mlops-tools" / "src"


def main(argv: list[str]) -> int:
    project = Path(argv[1] if len(argv) > 1 else ".").resolve()
    sys.path.insert(0, str(TOOLS))
    try:
        from governed_mlops.update.guard import main as guard
    except ImportError as error:
        print(f"update guard: skipped: no update guard at {TOOLS} ({error}).")
        return 0
    return guard(project, CHECKOUT, os.environ)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
