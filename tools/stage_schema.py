"""Regenerate ``template/env_specs/stage.schema.json`` from the stage spec model.

Usage: ``python tools/stage_schema.py [--check]``
"""

from __future__ import annotations

import sys
from pathlib import Path

import generated

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "governed-mlops-tools" / "src"))

from governed_mlops.stages.specs import SCHEMA_FILE, schema_text  # noqa: E402

OUTPUT = ROOT / "template" / "env_specs" / SCHEMA_FILE


if __name__ == "__main__":
    raise SystemExit(
        generated.main(OUTPUT, schema_text, __doc__, "tools/stage_schema.py")
    )
