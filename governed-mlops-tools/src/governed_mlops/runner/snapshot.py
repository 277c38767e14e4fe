"""A copy of the experiment's runs, kept while the SQLite store is unchanged.

Reading the project's SQLite store takes MLflow's client, and importing it
takes seconds, whatever is read. The runner has that client open anyway, so
when a command that wrote runs ends, it brings ``.mlops/report/runs.json``
up to date (:func:`advance`); ``mlops report build`` reads its runs from that
file while the store is as the file says (:func:`load`), and otherwise reads
the store through ``MlflowClient`` and writes the file anew.

The file holds the store's *stamp*: the database file's size and
modification time, SQLite's file change counter (bytes 24-27 of the header,
which SQLite increments on every committed write; see SQLite's file format)
and the same of a ``-wal`` file. Any write to the store, by anyone, changes
the stamp, and the file is then ignored until it is written again. A command
advances the file only from the stamp it found at its start: what it adds
is every run started since then (its own, its notebooks', another
command's), the runs it wrote to, and the runs the file had as running.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from ..files import write_json

FILE = Path("report") / "runs.json"  # under the project's .mlops/
FORMAT = 1
LIMIT = 2000  # the newest runs kept: the report reads no more
# Runs started this long before a command are looked for too (clock steps).
SLACK_MS = 1000

log = logging.getLogger(__name__)

Stamp = list[int]


def database(uri: str) -> Optional[Path]:
    """The SQLite file of a ``sqlite:///`` tracking URI, else None."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///") :])


def stamp(db: Path) -> Optional[Stamp]:
    """The database's stamp: ``[]`` when it does not exist; None while a
    write is under way (its rollback journal is there) or it is unreadable."""
    try:
        found = db.stat()
        with db.open("rb") as handle:
            header = handle.read(100)
    except FileNotFoundError:
        return []
    except OSError:
        return None
    if db.with_name(db.name + "-journal").exists():
        return None
    counter = int.from_bytes(header[24:28], "big") if len(header) >= 28 else -1
    wal = db.with_name(db.name + "-wal")
    try:
        beside = wal.stat()
        ahead = [beside.st_size, beside.st_mtime_ns]
    except OSError:
        ahead = [-1, -1]
    return [found.st_size, found.st_mtime_ns, counter, *ahead]


@dataclass
class Snapshot:
    """The newest runs of one experiment of one store, at ``stamp``."""

    tracking_uri: str
    experiment: str
    experiment_id: str
    stamp: Stamp
    runs: list[dict[str, Any]] = field(default_factory=list)  # newest first
    complete: bool = True  # False: older runs were left out (over LIMIT)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "tracking_uri": self.tracking_uri,
            "experiment": self.experiment,
            "experiment_id": self.experiment_id,
            "stamp": self.stamp,
            "complete": self.complete,
            "runs": self.runs,
        }


def record(run: Any) -> dict[str, Any]:
    """A run (an MLflow ``Run`` entity) as the file keeps it."""
    info, data = run.info, run.data
    return {
        "run_id": str(info.run_id),
        "status": str(info.status),
        "start_time": int(info.start_time or 0),
        "end_time": int(info.end_time) if info.end_time else None,
        "artifact_uri": str(getattr(info, "artifact_uri", "") or ""),
        "tags": {str(k): str(v) for k, v in data.tags.items()},
        "params": {str(k): str(v) for k, v in data.params.items()},
        "metrics": {str(k): float(v) for k, v in data.metrics.items()},
    }


def read(state_dir: Path, uri: str, experiment: str) -> Optional[Snapshot]:
    """The file as written for this store and experiment, current or not."""
    try:
        found = json.loads((state_dir / FILE).read_text(encoding="utf-8"))
        if (
            found.get("format") != FORMAT
            or found.get("tracking_uri") != uri
            or found.get("experiment") != experiment
        ):
            return None
        return Snapshot(
            uri,
            experiment,
            str(found["experiment_id"]),
            list(found["stamp"]),
            list(found["runs"]),
            bool(found["complete"]),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def load(state_dir: Path, uri: str, experiment: str) -> Optional[Snapshot]:
    """The file, when the store is still as it says; else None."""
    db = database(uri)
    if db is None:
        return None
    found = read(state_dir, uri, experiment)
    if found is None:
        return None
    now = stamp(db)
    return found if now and now == found.stamp else None


def save(state_dir: Path, snapshot: Snapshot) -> None:
    write_json(state_dir / FILE, snapshot.to_json())


def search_since(client: Any, experiment_id: str, since_ms: int) -> list[Any]:
    """Every active run of the experiment started at ``since_ms`` or later."""
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=f"attributes.start_time >= {int(since_ms)}",
            max_results=1000,
            page_token=token,
        )
        runs.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return runs


def merged(
    base: Sequence[dict[str, Any]], newer: Sequence[dict[str, Any]], gone: set[str]
) -> list[dict[str, Any]]:
    """``base`` with ``newer`` in place of the same runs, ``gone`` left out,
    newest first."""
    runs = {run["run_id"]: run for run in base}
    runs.update((run["run_id"], run) for run in newer)
    for run_id in gone:
        runs.pop(run_id, None)
    return sorted(runs.values(), key=lambda run: run["start_time"], reverse=True)


def advance(
    state_dir: Path,
    client: Any,
    uri: str,
    experiment: str,
    experiment_id: str,
    before: Optional[Stamp],
    since_ms: int,
    touched: set[str],
) -> bool:
    """Bring the file up to date after a command that wrote to the store:
    ``before`` is the store's stamp at the command's start, ``since_ms`` its
    start time, ``touched`` the runs it wrote to. Only a file current at the
    command's start is advanced (a store that did not exist then counts as
    an empty file). Returns whether the file was written; it is a shortcut
    for the report, so any failure just leaves it unwritten."""
    db = database(uri)
    if db is None or before is None:
        return False
    try:
        if before == []:
            base = Snapshot(uri, experiment, experiment_id, [])
        else:
            found = read(state_dir, uri, experiment)
            if (
                found is None
                or found.stamp != before
                or found.experiment_id != experiment_id
            ):
                return False
            base = found
        now = stamp(db)
        if not now:
            return False
        # The stamp comes first: a write after it leaves the file outdated.
        fresh = [
            record(run)
            for run in search_since(client, experiment_id, since_ms - SLACK_MS)
        ]
        seen = {run["run_id"] for run in fresh}
        running = {run["run_id"] for run in base.runs if run["status"] == "RUNNING"}
        gone: set[str] = set()
        for run_id in sorted((touched | running) - seen):
            run = client.get_run(run_id)
            if run.info.lifecycle_stage != "active":
                gone.add(run_id)
            else:
                fresh.append(record(run))
        runs = merged(base.runs, fresh, gone)
        save(
            state_dir,
            Snapshot(
                uri,
                experiment,
                experiment_id,
                now,
                runs[:LIMIT],
                base.complete and len(runs) <= LIMIT,
            ),
        )
        return True
    except Exception as error:  # noqa: BLE001 - the report reads the store then
        log.debug("runs snapshot not advanced: %s: %s", type(error).__name__, error)
        return False
