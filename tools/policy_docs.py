"""Regenerate ``docs/policies.md`` from the policy's rule registry.

Usage: ``python tools/policy_docs.py [--check]``
"""

from __future__ import annotations

import sys
from pathlib import Path

import generated

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "governed-mlops-tools" / "src"))

from governed_mlops.policy.catalog import markdown  # noqa: E402

OUTPUT = ROOT / "docs" / "policies.md"


if __name__ == "__main__":
    raise SystemExit(generated.main(OUTPUT, markdown, __doc__, "tools/policy_docs.py"))
