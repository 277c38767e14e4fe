"""Claims of open runs: an orphan is a claim no live process holds (the
lock goes with the process), never one another machine holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import SecretStr

from governed_mlops.locking import try_lock
from governed_mlops.runner import orphans, store, tracking

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


@pytest.fixture
def windows_deletion(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deleting a file as Windows does: refused while any handle of it is
    open (Python's open() shares no delete access). This process's open
    files are in /proc/self/fd."""
    unlink = Path.unlink

    def refuse_if_open(self: Path, missing_ok: bool = False) -> None:
        target = os.path.realpath(self)
        for fd in os.listdir("/proc/self/fd"):
            try:
                opened = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if opened == target:
                raise PermissionError(13, "The process cannot access the file")
        unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", refuse_if_open)


def real_store(tmp_path: Path) -> store.MlflowStore:
    uri = tracking.sqlite_uri(tmp_path / "mlflow.db")
    return store.MlflowStore(
        SimpleNamespace(
            mlflow_tracking_uri=uri,
            mlflow_tracking_username="",
            mlflow_tracking_password=SecretStr(""),
            mlflow_experiment="unit",
            mlflow_artifacts_dir=tmp_path / "artifacts",
        )
    )


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_claims_are_released_and_reaped_where_open_files_cannot_be_deleted(
    tmp_path: Path, windows_deletion: None
):
    """Released with its file still open, a claim could not be deleted on
    Windows: every recorded run ended in a traceback, and `audit sync` in
    one for every orphan, again at each sync."""
    mine = orphans.claim(tmp_path, "mine", "sqlite:///x.db")
    mine.release()
    assert not (tmp_path / orphans.CLAIMS_DIR / "mine.json").exists()
    # `audit sync` is reading a claim as its run ends: the claim stays,
    # unlocked, and the next sync finds its run ended and deletes it.
    real = real_store(tmp_path)
    run_id = real.create_run({"mlflow.runName": "prep"})
    held = orphans.claim(tmp_path, run_id, real.uri)
    claim_file = tmp_path / orphans.CLAIMS_DIR / f"{run_id}.json"
    with claim_file.open(encoding="utf-8"):
        real.set_terminated(run_id, "FINISHED", 0)
        held.release()
    assert orphans.orphans(tmp_path) == [run_id]
    assert orphans.reap(real, tmp_path, []) == []  # nothing to end
    assert not claim_file.exists()
    # A run whose process died is ended, its claim deleted, once.
    died = real.create_run({"mlflow.runName": "fit"})
    dead = subprocess.run(
        [sys.executable, "-c", HOLD.replace("time.sleep(60)", ""), str(tmp_path)]
        + [died],
        check=True,
    )
    assert dead.returncode == 0
    text = (tmp_path / orphans.CLAIMS_DIR / f"{died}.json").read_text()
    (tmp_path / orphans.CLAIMS_DIR / f"{died}.json").write_text(
        text.replace("sqlite:///x.db", real.uri)
    )
    (synced,) = orphans.reap(real, tmp_path, [])
    assert (synced.run_id, synced.done, synced.status) == (died, True, "KILLED")
    assert real.get_run(died).status == "KILLED"
    assert orphans.reap(real, tmp_path, []) == []


def test_a_new_claim_waits_while_audit_sync_reads_it(tmp_path: Path):
    """`audit sync` locks each claim it reads, a new one too: the run's
    process got no lock, and the run was never found when it died."""
    claims = tmp_path / orphans.CLAIMS_DIR
    claims.mkdir()
    reader = (claims / "new.json").open("a+", encoding="utf-8")
    assert try_lock(reader)
    threading.Timer(0.3, reader.close).start()  # sync read it: not its run
    claimed = orphans.claim(tmp_path, "new", "sqlite:///x.db")
    assert orphans.orphans(tmp_path) == []  # held by its process
    assert json.loads((claims / "new.json").read_text())["run_id"] == "new"
    claimed.release()
