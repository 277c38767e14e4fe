"""Claims of open runs: which ones a dead process left (audit sync ends
those), never one whose process still runs or that another machine holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from governed_mlops.runner import orphans


def test_a_claim_is_an_orphan_only_when_its_process_here_is_gone(tmp_path: Path):
    orphans.claim(tmp_path, "mine", "sqlite:///x.db", "/tmp/bundle")
    assert orphans.orphans(tmp_path) == []  # this process runs it
    printed = [sys.executable, "-c", "import os; print(os.getpid())"]
    gone = subprocess.run(printed, capture_output=True, text=True).stdout
    claims = tmp_path / orphans.CLAIMS_DIR
    dead = json.loads((claims / "mine.json").read_text())
    for name, changes in {
        "dead": {"pid": int(gone)},
        "elsewhere": {"pid": int(gone), "host": "another-machine"},
    }.items():
        (claims / f"{name}.json").write_text(
            json.dumps({**dead, **changes, "run_id": name})
        )
    (claims / "broken.json").write_text("{")
    assert [o["run_id"] for o in orphans.orphans(tmp_path)] == ["dead"]
    orphans.release(tmp_path, "mine")
    orphans.release(tmp_path, "mine")  # released already: nothing to do
    assert not (claims / "mine.json").exists()


def test_a_process_that_exited_or_is_a_zombie_is_not_alive():
    assert orphans.process_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    status = Path(f"/proc/{child.pid}/status")
    deadline = time.monotonic() + 30
    while "State:\tZ" not in status.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)  # exited, not yet waited for: a zombie
    assert not orphans.process_alive(child.pid)
    child.wait()
    assert not orphans.process_alive(child.pid)
