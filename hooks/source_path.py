"""Copier task after ``copier copy``: record a template source that updates can use.

Copier stores the template path exactly as given (``_src_path: .``) and
resolves it again on every ``copier update``, from wherever that runs, so a
relative path breaks updates. This task rewrites a relative ``_src_path`` in
the answers file to the template's absolute path, and completes the tools
requirement rendered from it (``git+file://<relative>@...`` in
``pyproject.toml`` and ``.pre-commit-config.yaml``). Idempotent; URLs and
absolute paths are left as they are.

    source_path.py [ANSWERS_FILE]

The script runs from the checkout copier renders (``_copier_conf.src_path``):
the template itself, or copier's temporary clone of it, whose ``origin`` is
the template's absolute path (git records local clone sources as absolute).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

CHECKOUT = Path(__file__).resolve().parents[1]
# The template's own reading of source kinds (plain Python, no project code).
sys.path.insert(0, str(CHECKOUT / "governed-mlops-tools" / "src"))

from governed_mlops.template_source import (  # noqa: E402
    file_url,
    is_relative,
    is_remote,
)

ANSWERS = ".copier-answers.yml"
LINE = re.compile(r"(?m)^_src_path:.*$")
# Files holding the tools requirement rendered from _src_path (copier.yml's
# tools_pin): a local source renders as git+file://<source>@<ref>.
PINNED = ("pyproject.toml", ".pre-commit-config.yaml")


def template_path(checkout: Path) -> Path:
    """The template's own absolute path, seen from copier's checkout of it."""
    origin = subprocess.run(
        ["git", "-C", str(checkout), "config", "--get", "remote.origin.url"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if origin and not is_remote(origin) and Path(origin).is_dir():
        return Path(os.path.normpath(origin))
    return checkout.resolve()


def repair(answers_file: Path, checkout: Path) -> str | None:
    """Rewrite a relative ``_src_path``; returns the new value, or None."""
    text = answers_file.read_bytes().decode("utf-8")
    answers = yaml.safe_load(text) or {}
    source = str(answers.get("_src_path", ""))
    # `~/...` works for copier on this machine, but not inside a requirement.
    if not (is_relative(source) or source.startswith("~")):
        return None
    absolute = template_path(checkout).as_posix()
    line = yaml.safe_dump(
        {"_src_path": absolute}, allow_unicode=True, default_flow_style=False
    ).strip()
    # Bytes, not write_text: on Windows that would turn every LF into CRLF.
    new_answers = LINE.sub(lambda _: line, text, count=1)
    answers_file.write_bytes(new_answers.encode("utf-8"))
    for name in PINNED:
        pinned = answers_file.parent / name
        if pinned.is_file():
            old = pinned.read_bytes().decode("utf-8")
            new = old.replace(f"git+{file_url(source)}@", f"git+{file_url(absolute)}@")
            if new != old:
                pinned.write_bytes(new.encode("utf-8"))
    print(
        f"recorded the template source as {absolute} (given as {source!r}), so "
        f"`copier update` works from the project; to let colleagues and CI "
        f"update too, set _src_path in {answers_file.name} to the template's "
        f"git URL"
    )
    return absolute


def main(argv: list[str]) -> int:
    answers = Path(argv[1] if len(argv) > 1 else ANSWERS)
    if answers.is_file():
        repair(answers, CHECKOUT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
