"""Migration to 1.1.0: stage specs call the notebook parameters ``parameters:``.

Policy 1.0.0 named the key ``params:``; the 1.1.0 loader refuses unknown keys.
Renames the top-level key in every ``env_specs/stage_*.yaml``, the stages the
user added included, by editing the line only: comments, order, quoting and
line endings stay. Runs after copier's merge (``_stage == 'after'``). A
spec the user edited next to the key conflicts in that merge (copier's base
and the user's side say ``params:``, the new side ``parameters:``): it is
merged again with the key renamed on all three sides, and marked resolved
when that merge is clean. Idempotent.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from _gate import applies, merge3, read, unmerged, write

VERSION = "1.1.0"
OLD_KEY = re.compile(r"^params(?=[ \t]*:)", re.MULTILINE)
NEW_KEY = re.compile(r"^parameters[ \t]*:", re.MULTILINE)


def remerge(project: Path, path: Path) -> bool:
    """Redo copier's conflicted merge of a spec with the key renamed."""
    stages = unmerged(project, path)
    if not stages or not OLD_KEY.search(stages[1]):
        return False
    base, ours, theirs = (OLD_KEY.sub("parameters", stages[n]) for n in (1, 2, 3))
    labels = ("before updating", "last update", "after updating")
    merged, conflict = merge3(ours, base, theirs, labels)
    if conflict:
        return False
    write(path, merged)
    subprocess.run(["git", "add", "--", str(path)], cwd=project, check=True)
    return True


def migrate_spec(project: Path, path: Path) -> str | None:
    """Rename the key in one spec; return what was done, or None."""
    if remerge(project, path):
        return f"{path}: renamed `params:`, your changes merged without conflict"
    text = read(path)
    if not OLD_KEY.search(text):
        return None
    if NEW_KEY.search(text) and "<<<<<<< " not in text:
        return (
            f"{path}: has both `params:` and `parameters:`; left as it is: "
            "merge the two mappings under `parameters:` by hand"
        )
    write(path, OLD_KEY.sub("parameters", text))
    return f"{path}: renamed `params:` to `parameters:`"


def main(project: Path) -> int:
    if not applies(VERSION):
        return 0
    project = project.resolve()
    for path in sorted((project / "env_specs").glob("stage_*.yaml")):
        done = migrate_spec(project, path)
        if done:
            print(f"migration {VERSION}: {done.replace(f'{project}/', '')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
