"""A run's store calls that survive the tracking store going away.

:class:`Journal` makes one run's calls after its creation (params, tags, the
bundle upload, the end). Once one fails, it tries no more: that call and
every later one are kept in ``.mlops/pending/<run_id>.json``, next to the
local bundle they upload. :func:`sync` replays them, in order, when the store
is back (``mlops audit sync``, or the next run), and then deletes the local
bundle: nothing recorded is lost and nothing is stored twice.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from .store import Store, millis
from ..files import write_json

PENDING_DIR = "pending"
# The tag of a run the store lost track of while it ran.
UNAVAILABLE = "TrackingStoreUnavailable"


@dataclass
class Journal:
    """The store calls of one run, kept in ``pending`` when the store fails."""

    store: Store
    run_id: str
    pending: Path  # the folder of pending records (``.mlops/pending``)
    calls: list[list[Any]] = field(default_factory=list)
    problem: str = ""  # why the store failed, once it has

    @property
    def offline(self) -> bool:
        return bool(self.problem)

    def _do(self, call: list[Any]) -> None:
        if not self.offline:
            try:
                _apply(self.store, self.run_id, call)
                return
            except Exception as error:  # unreachable, refused, or a full disk
                self.problem = f"{type(error).__name__}: {error}"
        self.calls.append(call)
        self._save()

    def _save(self) -> None:
        self.pending.mkdir(parents=True, exist_ok=True)
        record = {
            "run_id": self.run_id,
            "tracking_uri": self.store.uri,
            "problem": self.problem,
            "calls": self.calls,
        }
        write_json(self.pending / f"{self.run_id}.json", record)

    def log_params(self, params: dict[str, str]) -> None:
        self._do(["log_params", params])

    def set_tags(self, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self._do(["set_tag", key, value])

    def upload(self, bundle: Path, artifact_path: str) -> None:
        """Upload the bundle, then remove the local copy; kept while pending."""
        if bundle.is_dir():  # none when it could not even be written
            self._do(["log_artifacts", str(bundle), artifact_path])

    def end(self, status: str) -> None:
        self._do(["set_terminated", status, millis()])


def _apply(store: Store, run_id: str, call: list[Any]) -> None:
    name, *arguments = call
    if name == "log_params":
        store.log_params(run_id, arguments[0])
    elif name == "set_tag":
        store.set_tag(run_id, arguments[0], arguments[1])
    elif name == "log_artifacts":
        bundle = Path(arguments[0])
        store.log_artifacts(run_id, bundle, arguments[1])
        shutil.rmtree(bundle, ignore_errors=True)
    elif name == "set_terminated":
        store.set_terminated(run_id, arguments[0], arguments[1])
    else:
        raise ValueError(f"unknown pending call {name!r}")


@dataclass
class Synced:
    """What :func:`sync` did with one pending record."""

    run_id: str
    done: bool
    status: str = ""  # the status the run was ended with
    problem: str = ""


def records(state_dir: Path) -> list[Path]:
    """The pending records of a project, oldest first."""
    folder = state_dir / PENDING_DIR
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.json"), key=lambda path: path.stat().st_mtime)


def sync(
    store: Store, state_dir: Path, say: Optional[Callable[[str], None]] = None
) -> list[Synced]:
    """Replay the pending calls of every run of this store, oldest first; a
    record is removed once all of its calls are made."""
    results = []
    for path in records(state_dir):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            results.append(Synced(path.stem, False, problem=f"{path}: {error}"))
            continue
        run_id = str(record["run_id"])
        if record.get("tracking_uri") != store.uri:
            problem = f"recorded for {record.get('tracking_uri')}, not {store.uri}"
            results.append(Synced(run_id, False, problem=problem))
            continue
        calls: list[list[Any]] = record["calls"]
        status = next((c[1] for c in calls if c[0] == "set_terminated"), "")
        try:
            while calls:
                _apply(store, run_id, calls[0])
                calls.pop(0)
                record["calls"] = calls
                write_json(path, record)  # never half a record
        except Exception as error:  # still away: keep what is left
            problem = f"{type(error).__name__}: {error}"
            results.append(Synced(run_id, False, status, problem))
            break  # the store is away again; the rest waits too
        path.unlink()
        results.append(Synced(run_id, True, status))
        if say is not None:
            say(
                f"recorded run {run_id} ({status or 'updated'}), kept while the "
                f"store was away"
            )
    return results
