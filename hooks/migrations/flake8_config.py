"""Migration to 1.1.0: flake8's settings moved from ``setup.cfg`` to ``.flake8``.

Policy 1.0.0 kept ``[flake8]`` in ``setup.cfg``; 1.1.0 ships a template-owned
``.flake8``. flake8 reads only the first of setup.cfg, tox.ini, .flake8 that
has a ``[flake8]`` section, so a section left in setup.cfg would hide
``.flake8``.

Runs after copier's merge. Copier deletes ``setup.cfg`` then (the new version
has none), so the user's file is read from the working tree if it is still
there, else from ``HEAD`` (copier update starts from a clean, committed
tree). The user's changes to the 1.0.0 section are three-way merged into
``.flake8`` (base: the 1.0.0 section below), the other sections of setup.cfg
are kept, and setup.cfg is removed only when nothing else is left in it.
Idempotent: merging the same changes again changes nothing.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from _gate import applies, has_conflict_markers, merge3, read, write

VERSION = "1.1.0"
# setup.cfg as policy 1.0.0 generated it (history: never edit).
FLAKE8_1_0_0 = """\
[flake8]
max-line-length = 88
# E203, E701, E704: black's formatting; W503 is not PEP 8 any more.
extend-ignore = E203, E701, E704, W503
extend-exclude = .venv, .venvs, build, dist, .mlops, mlruns, artifacts
max-complexity = 12
"""
SECTION = re.compile(r"^\[([^\]\n]+)\][ \t]*\r?$", re.MULTILINE)


def split_flake8(text: str) -> tuple[str, str]:
    """``(flake8 section, everything else)`` of a setup.cfg text."""
    headers = list(SECTION.finditer(text))
    for i, header in enumerate(headers):
        if header.group(1).strip() == "flake8":
            end = headers[i + 1].start() if i + 1 < len(headers) else len(text)
            section = text[header.start() : end]
            return section.rstrip() + "\n", text[: header.start()] + text[end:]
    return "", text


def user_setup_cfg(project: Path) -> str:
    """setup.cfg from the working tree, else as committed at HEAD, else ''."""
    path = project / "setup.cfg"
    if path.is_file():
        return read(path)
    shown = subprocess.run(
        ["git", "show", "HEAD:./setup.cfg"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    return shown.stdout if shown.returncode == 0 else ""


def migrate(project: Path) -> list[str]:
    """Move the user's [flake8] section; return what was done."""
    section, rest = split_flake8(user_setup_cfg(project))
    if not section:
        return []
    return keep_rest(project / "setup.cfg", rest) + merge_section(
        project / ".flake8", section
    )


def keep_rest(setup_cfg: Path, rest: str) -> list[str]:
    """Write setup.cfg without [flake8], or remove it when nothing is left."""
    if rest.strip():
        if setup_cfg.is_file() and read(setup_cfg) == rest:
            return []
        write(setup_cfg, rest)
        return ["setup.cfg: [flake8] moved out, your other sections kept"]
    if setup_cfg.is_file():
        setup_cfg.unlink()
        return ["setup.cfg: removed (it held only [flake8])"]
    return []


def merge_section(flake8: Path, section: str) -> list[str]:
    """Three-way merge the user's changes to the 1.0.0 section into .flake8."""
    current = read(flake8) if flake8.is_file() else ""
    if current and section == FLAKE8_1_0_0:
        return []
    if has_conflict_markers(current):
        return [".flake8: has conflict markers: resolve them, then run this again"]
    merged, conflict = merge3(
        section,
        FLAKE8_1_0_0,
        current or FLAKE8_1_0_0,
        labels=("your setup.cfg [flake8]", "1.0.0", "template"),
    )
    done = []
    if merged != current:
        write(flake8, merged)
        done.append(".flake8: your [flake8] settings from setup.cfg merged in")
    if conflict:
        done.append(
            ".flake8: CONFLICT between your settings and the template's: "
            "resolve the <<<<<<< markers"
        )
    return done


def main(project: Path) -> int:
    if not applies(VERSION):
        return 0
    for line in migrate(project):
        print(f"migration {VERSION}: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
