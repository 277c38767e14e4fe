"""Regenerate ``template/env_specs/stage.schema.json`` from the stage spec model.

Usage: ``python tools/stage_schema.py [--check]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "template" / "src"))

from governed_mlops.specs import SCHEMA_FILE, schema_text  # noqa: E402

OUTPUT = ROOT / "template" / "env_specs" / SCHEMA_FILE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="fail if the file is stale"
    )
    args = parser.parse_args()
    text = schema_text()
    if args.check:
        if OUTPUT.read_text(encoding="utf-8") != text:
            print(
                f"{OUTPUT} is stale: run python tools/stage_schema.py", file=sys.stderr
            )
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
