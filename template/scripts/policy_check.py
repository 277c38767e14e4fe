"""Run the governance policy check on this project with its own sources.

The pre-commit hook and CI call this file, so the check needs nothing but
pyyaml, pydantic and packaging: `python scripts/policy_check.py --help`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from governed_mlops.policy import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
