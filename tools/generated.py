"""Write generated files, or with ``--check`` fail when one is stale."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Mapping


def main(output: Path, make: Callable[[], str], doc: str, script: str) -> int:
    """Command line of a generator script of one file: ``script [--check]``."""
    return main_files({output: make}, doc, script)


def main_files(outputs: Mapping[Path, Callable[[], str]], doc: str, script: str) -> int:
    """Command line of a generator script of several files: ``script [--check]``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a file is stale")
    args = parser.parse_args()
    texts = {output: make() for output, make in outputs.items()}
    if args.check:
        stale = [
            output
            for output, text in texts.items()
            if output.read_text(encoding="utf-8") != text
        ]
        for output in stale:
            print(f"{output} is stale: run python {script}", file=sys.stderr)
        return 1 if stale else 0
    for output, text in texts.items():
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output}")
    return 0
