"""Runs whose `mlops` died without ending them (SIGKILL, a machine that went
down, an agent killed): nothing in the process can end those.

While a run is open, its process claims it in
``.mlops/running/<run_id>.json`` (the process, this machine, the store, the
run's local bundle); ending the run removes the claim. `mlops audit sync`
ends each run whose claiming process is gone KILLED, with what its bundle
held uploaded under ``audit/`` and a ``failure.error`` tag saying why.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any, Sequence

from ..files import write_json
from .journal import Synced
from .output import mask_notebook
from .store import Store

CLAIMS_DIR = "running"
ENDED = (
    "the mlops process running it ended without ending it (killed); "
    "mlops audit sync ended it and uploaded what it had written to audit/"
)


def claim(state_dir: Path, run_id: str, tracking_uri: str, bundle: str = "") -> None:
    """This process runs ``run_id`` (its local bundle: ``bundle``)."""
    write_json(
        state_dir / CLAIMS_DIR / f"{run_id}.json",
        {
            "run_id": run_id,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "tracking_uri": tracking_uri,
            "bundle": bundle,
        },
    )


def release(state_dir: Path, run_id: str) -> None:
    """The run was ended (or handed to the journal): nobody must end it again."""
    (state_dir / CLAIMS_DIR / f"{run_id}.json").unlink(missing_ok=True)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (a zombie counts as gone)."""
    if os.name == "nt":
        return _windows_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: alive
        return True
    status = Path(f"/proc/{pid}/status")
    try:
        return "\nState:\tZ" not in status.read_text(encoding="utf-8")
    except OSError:  # no /proc (macOS): os.kill said it exists
        return True


def _windows_alive(pid: int) -> bool:
    # os.kill(pid, 0) would terminate the process on Windows.
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def orphans(state_dir: Path) -> list[dict[str, Any]]:
    """The claims of this machine whose process is gone."""
    folder = state_dir / CLAIMS_DIR
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            owner = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        same_host = owner.get("host") == socket.gethostname()
        if same_host and not process_alive(int(owner.get("pid", 0))):
            found.append(owner)
    return found


def reap(store: Store, state_dir: Path, secrets: Sequence[str]) -> list[Synced]:
    """End this store's orphaned runs KILLED, their bundles uploaded (the
    settings' ``secrets`` masked in their notebooks, as the runner would);
    a run the store has ended already just loses its claim."""
    results = []
    for owner in orphans(state_dir):
        run_id = str(owner["run_id"])
        if owner.get("tracking_uri") != store.uri:
            problem = f"recorded for {owner.get('tracking_uri')}, not {store.uri}"
            results.append(Synced(run_id, False, problem=problem))
            continue
        run = store.get_run(run_id)
        if run is not None and run.status == "RUNNING":
            bundle = Path(owner.get("bundle") or "")
            if owner.get("bundle") and bundle.is_dir():
                for executed in bundle.glob("*.ipynb"):
                    mask_notebook(executed, secrets)
                store.log_artifacts(run_id, bundle, "audit")
            store.set_tag(run_id, "failure.error", ENDED)
            store.set_terminated(run_id, "KILLED", int(time.time() * 1000))
            results.append(Synced(run_id, True, "KILLED"))
        if owner.get("bundle"):
            shutil.rmtree(owner["bundle"], ignore_errors=True)
        release(state_dir, run_id)
    return results
