"""Write a generated file, or with ``--check`` fail when it is stale."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable


def main(output: Path, make: Callable[[], str], doc: str, script: str) -> int:
    """Command line of a generator script: ``script [--check]``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="fail if the file is stale"
    )
    args = parser.parse_args()
    text = make()
    if args.check:
        if output.read_text(encoding="utf-8") != text:
            print(f"{output} is stale: run python {script}", file=sys.stderr)
            return 1
        return 0
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output}")
    return 0
