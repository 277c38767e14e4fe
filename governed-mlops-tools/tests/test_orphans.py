"""Claims of open runs: an orphan is a claim no live process holds (the
lock goes with the process), never one another machine holds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from governed_mlops.runner import orphans

HOLD = """
import sys, time
from pathlib import Path
from governed_mlops.runner import orphans
held = orphans.claim(Path(sys.argv[1]), sys.argv[2], "sqlite:///x.db", "")
print("claimed", flush=True)
time.sleep(60)
"""


def test_a_claim_is_an_orphan_once_its_process_is_gone(tmp_path: Path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path), "theirs"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "claimed\n"
        mine = orphans.claim(tmp_path, "mine", "sqlite:///x.db", "/tmp/bundle")
        assert orphans.orphans(tmp_path) == []  # both held
    finally:
        holder.kill()  # SIGKILL: it ends nothing
        holder.wait()
    assert orphans.orphans(tmp_path) == ["theirs"]
    mine.release()
    mine.release()  # released already: nothing to do
    assert not (tmp_path / orphans.CLAIMS_DIR / "mine.json").exists()


def test_another_machines_or_an_unreadable_claim_is_left_alone(tmp_path: Path):
    claims = tmp_path / orphans.CLAIMS_DIR
    claims.mkdir()
    (claims / "elsewhere.json").write_text(
        json.dumps({"run_id": "elsewhere", "host": "another-machine", "pid": 1})
    )
    (claims / "half-written.json").write_text("{")
    assert orphans.orphans(tmp_path) == []
