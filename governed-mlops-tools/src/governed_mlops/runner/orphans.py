"""Runs whose `mlops` died without ending them (SIGKILL, a machine that went
down, an agent killed): nothing in the process can end those.

While a run is open, its process holds an exclusive lock on its claim,
``.mlops/running/<run_id>.json`` (the process, this machine, the store, the
run's local bundle); ending the run removes the claim. The operating system
drops the lock when the process dies, so a claim that can be locked is an
orphan, whatever process ids a container reuses. `mlops audit sync` ends
each orphaned run KILLED, with what its bundle held uploaded under
``audit/`` and a ``failure.error`` tag saying why. Claims of another machine
(a shared folder) are left alone: its locks are not seen here.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator, Optional, Sequence

from ..locking import try_lock
from .journal import PENDING_DIR, Synced
from .output import mask_notebook
from .store import Store

CLAIMS_DIR = "running"
# The tag on a run `audit sync` ended: its end time is the sync's, not when
# its process died (the report shows no duration for it).
ENDED_BY_TAG, ENDED_BY_SYNC = "run.ended_by", "mlops audit sync"
ENDED = (
    "the mlops process running it ended without ending it (killed); "
    "mlops audit sync ended it and uploaded what it had written to audit/"
)


class Claim:
    """This process's claim on an open run: the lock lasts until
    :meth:`release`, the object's end or the process's: keep it while the
    run is open."""

    def __init__(self, path: Path, handle: Optional[IO[str]]):
        self.path = path
        self._handle = handle

    def release(self) -> None:
        """The run was ended (or handed to the journal): no one must end it."""
        if self._handle is None:
            return
        self._handle.close()  # the lock goes with it
        self._handle = None
        _remove(self.path)


def _remove(path: Path) -> None:
    """Delete a claim no process holds. Windows refuses while any process
    has it open (`audit sync` reading it): then it stays, unlocked, and the
    next `audit sync` finds its run ended and deletes it."""
    try:
        path.unlink(missing_ok=True)
    except PermissionError:
        pass


# How long a new claim waits for its lock: `audit sync` may be reading it.
LOCK_WAIT = 2.0


def claim(state_dir: Path, run_id: str, tracking_uri: str, bundle: str = "") -> Claim:
    """Claim ``run_id`` (its local bundle: ``bundle``) for this process."""
    path = state_dir / CLAIMS_DIR / f"{run_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+", encoding="utf-8")
    deadline = time.monotonic() + LOCK_WAIT
    while not try_lock(handle):  # `audit sync` found the new, empty claim
        if time.monotonic() > deadline:
            handle.close()
            return Claim(path, None)
        time.sleep(0.02)
    handle.seek(0)
    handle.truncate()
    owner = {"run_id": run_id, "pid": os.getpid(), "host": socket.gethostname()}
    owner.update({"tracking_uri": tracking_uri, "bundle": bundle})
    handle.write(json.dumps(owner) + "\n")
    handle.flush()
    return Claim(path, handle)


@contextmanager
def _orphaned(path: Path) -> Iterator[Optional[dict[str, Any]]]:
    """The claim's record while this process holds its lock, if no live
    process holds it and it is this machine's; else None."""
    try:
        handle = path.open("r+", encoding="utf-8")
    except OSError:
        yield None
        return
    with handle:
        if not try_lock(handle):
            yield None
            return
        try:
            handle.seek(0)
            owner = json.loads(handle.read())
        except ValueError:  # being written by a process claiming it now
            yield None
            return
        yield owner if owner.get("host") == socket.gethostname() else None


def orphans(state_dir: Path) -> list[str]:
    """The ids of this machine's runs whose claiming process is gone."""
    folder = state_dir / CLAIMS_DIR
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        with _orphaned(path) as owner:
            if owner is not None:
                found.append(str(owner["run_id"]))
    return found


def reap(store: Store, state_dir: Path, secrets: Sequence[str]) -> list[Synced]:
    """End this store's orphaned runs KILLED, their bundles uploaded (the
    ``secrets`` masked in their notebooks, as the runner would). A run with
    a pending record is the journal's; one the store ended already only
    loses its claim. A run that cannot be ended keeps its claim and bundle."""
    results = []
    folder = state_dir / CLAIMS_DIR
    for run_id in orphans(state_dir):
        path = folder / f"{run_id}.json"
        with _orphaned(path) as owner:
            if owner is None:  # claimed again meanwhile
                continue
            if owner.get("tracking_uri") != store.uri:
                problem = f"recorded for {owner.get('tracking_uri')}, not {store.uri}"
                results.append(Synced(run_id, False, problem=problem))
                continue
            try:
                ended = _end(store, state_dir, owner, secrets)
            except Exception as error:  # the store refused: try again later
                problem = (
                    f"{type(error).__name__}: {error}; kept in {path} (delete it to "
                    f"forget the run)"
                )
                results.append(Synced(run_id, False, problem=problem))
                continue
        _remove(path)  # closed first: Windows deletes no open file
        if ended:
            results.append(Synced(run_id, True, "KILLED"))
    return results


def _end(
    store: Store, state_dir: Path, owner: dict[str, Any], secrets: Sequence[str]
) -> bool:
    """End one orphaned run; False when there was nothing to end."""
    run_id = str(owner["run_id"])
    if (state_dir / PENDING_DIR / f"{run_id}.json").is_file():
        return False  # its record and bundle wait for journal.sync
    run = store.get_run(run_id)
    if run is None:
        raise LookupError(f"the store at {store.uri} does not answer for run {run_id}")
    bundle = Path(owner["bundle"]) if owner.get("bundle") else None
    if run.status == "RUNNING":
        if bundle is not None and bundle.is_dir():
            for executed in bundle.glob("*.ipynb"):
                try:
                    mask_notebook(executed, secrets)
                except ValueError:  # cut off mid-write: no vouching for it
                    executed.unlink()
            store.log_artifacts(run_id, bundle, "audit")
        store.set_tag(run_id, "failure.error", ENDED)
        store.set_tag(run_id, ENDED_BY_TAG, ENDED_BY_SYNC)
        store.set_terminated(run_id, "KILLED", int(time.time() * 1000))
    if bundle is not None:  # uploaded now, or by the run before it ended
        shutil.rmtree(bundle, ignore_errors=True)
    return run.status == "RUNNING"
