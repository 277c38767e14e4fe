"""Conflicts in ``pyproject.toml`` and stage specs that still parse.

Copier's inline markers make these files unreadable to uv, pip and the
tools. Each conflict block is rewritten so the project's lines stay in force
and the template's are shown commented out between commented markers; when
that does not parse, the project's whole file is kept and the template's
version added below it as one commented block.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

from .._toml import toml
from .._yaml import safe_load
from . import gitio

STRUCTURED = ("pyproject.toml", "env_specs/stage_*.yaml")
START = "# <<<<<<< before updating (yours, kept)"
MIDDLE = "# ======= after updating (the template's, not applied)"
END = "# >>>>>>> after updating"


def is_structured(path: str) -> bool:
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in STRUCTURED)


def parses(path: str, text: str) -> bool:
    """True when the file's text reads as its format (TOML or YAML)."""
    try:
        if path.endswith(".toml"):
            toml.loads(text)
        else:
            safe_load(text)
    except Exception:  # any parser error means: does not parse
        return False
    return True


def _commented(lines: list[str]) -> list[str]:
    return [f"# {line}" if line.strip() else "#\n" for line in lines]


def comment_conflicts(text: str) -> tuple[str, int]:
    """(the text with every inline conflict block rewritten, the number of
    blocks). Lines keep their endings; a diff3 base section is dropped."""
    out: list[str] = []
    ours: list[str] = []
    theirs: list[str] = []
    state, blocks = "", 0
    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\r\n")
        if state == "" and bare.startswith("<<<<<<<"):
            state, ours, theirs = "ours", [], []
        elif state in ("ours", "base") and bare.startswith("|||||||"):
            state = "base"
        elif state in ("ours", "base") and bare == "=======":
            state = "theirs"
        elif state == "theirs" and bare.startswith(">>>>>>>"):
            out += [START + "\n", *ours, MIDDLE + "\n", *_commented(theirs)]
            out.append(END + "\n")
            state, blocks = "", blocks + 1
        elif state == "ours":
            ours.append(line)
        elif state == "theirs":
            theirs.append(line)
        elif state == "":
            out.append(line)
    if state:  # an unterminated block: leave the text as it was
        return text, 0
    return "".join(out), blocks


def keep_yours(ours: str, theirs: str) -> str:
    """The project's whole file, then the template's as one commented block."""
    body = ours if ours.endswith("\n") or not ours else ours + "\n"
    block = _commented(theirs.splitlines(keepends=True))
    if block and not block[-1].endswith("\n"):
        block[-1] += "\n"
    return body + "".join([START + "\n", MIDDLE + "\n", *block, END + "\n"])


def fix_conflicted(project: Path, paths: list[str]) -> list[str]:
    """Rewrite the structured files among ``paths`` (copier left them in
    conflict) so they parse; they stay unmerged. What was done."""
    done = []
    for path in paths:
        if not is_structured(path):
            continue
        target = project / path
        text = target.read_bytes().decode("utf-8")
        fixed, blocks = comment_conflicts(text)
        if not blocks:
            continue
        how = f"{blocks} block(s), your lines kept, the template's commented out"
        if not parses(path, fixed):
            found = gitio.stages(project, path)
            ours = found.get(2, b"").decode("utf-8")
            fixed = keep_yours(ours, found.get(3, b"").decode("utf-8"))
            how = "your file kept whole, the template's version commented out below it"
        target.write_bytes(fixed.encode("utf-8"))
        done.append(
            f"{path}: CONFLICT ({how}): merge by hand, delete the '# <<<<<<<' "
            "block, then git add"
        )
    return done
