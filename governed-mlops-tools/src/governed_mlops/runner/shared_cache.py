"""The stage cache in the MLflow artifact store, shared by every machine that
records to the same tracking store (setting ``stage_cache = "mlflow"``).

After a successful pipeline stage its cache entry (key, parts, outputs'
hashes, models) goes to the run's artifacts as ``cache/entry.json`` with the
outputs under ``cache/outputs/``, and the run is tagged ``cache.shared``. A
machine whose local cache has no run with a stage's key asks the store for
the last finished run of that stage with that key (tag ``cache.key``) and
restores the outputs it lacks from there. Only MLflow's public client or REST
API is used (:mod:`.store`).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Optional

from .store import Store

MODES = ("local", "mlflow")
ENTRY = "cache/entry.json"
OUTPUTS = "cache/outputs"
SHARED_TAG = "cache.shared"


class SharedCache:
    """Cache entries kept on the runs of one tracking store."""

    def __init__(self, store: Store):
        self.store = store

    def find(self, stage: str, key: str) -> Optional[dict[str, Any]]:
        """The entry of the last finished run of ``stage`` with this key, with
        its ``run_id``; None when the store has none."""
        self.store.warm()
        tags = {"stage": stage, "cache.key": key, SHARED_TAG: "true"}
        run = self.store.last_run(tags, "FINISHED")
        if run is None:
            return None
        entry: dict[str, Any] = json.loads(self.store.read_artifact(run.run_id, ENTRY))
        entry["run_id"] = run.run_id
        return entry

    def fetch(self, run_id: str, name: str, folder: Path) -> Path:
        """Output ``name`` as run ``run_id`` kept it, downloaded into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / Path(name).name
        target.write_bytes(self.store.read_bytes(run_id, f"{OUTPUTS}/{name}"))
        return target

    def publish(
        self, run_id: str, entry: dict[str, Any], files: dict[str, Path]
    ) -> None:
        """Keep ``entry`` and the output ``files`` (name -> local copy) on the run."""
        with tempfile.TemporaryDirectory(prefix="mlops-cache-") as folder:
            staged = Path(folder)
            for name, source in files.items():
                target = staged / "outputs" / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
            kept = {k: v for k, v in entry.items() if k != "run_id"}
            (staged / "entry.json").write_text(
                json.dumps(kept, indent=1) + "\n", encoding="utf-8"
            )
            self.store.log_artifacts(run_id, staged, "cache")
        # Last: a run is found only once all it keeps is there.
        self.store.set_tag(run_id, SHARED_TAG, "true")
