"""The campaign's state file: what each project's update came to, so that a
rerun resumes (``fleet-state.json`` in the work folder)."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..errors import CommandError
from ..files import write_atomic
from .classify import SETTLED
from .sources import Source

STATE_FILE = "fleet-state.json"
RUNNING = "running"


@dataclass
class Record:
    """One project's update: ``outcome`` is RUNNING until it ends."""

    name: str
    source: str
    outcome: str = RUNNING
    old_version: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


class State:
    """The records of one campaign (one target version), saved on every
    change; thread safe."""

    def __init__(self, workdir: Path, version: str):
        self.path = workdir / STATE_FILE
        self.version = version
        self._lock = threading.Lock()
        self.records: dict[str, Record] = {}
        if self.path.is_file():
            self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data["version"] != self.version:
                raise CommandError(
                    f"{self.path} is the state of the update to {data['version']}, "
                    f"not {self.version}; use another --workdir"
                )
            self.records = {
                name: Record(**record) for name, record in data["projects"].items()
            }
        except (ValueError, KeyError, TypeError) as error:
            raise CommandError(
                f"{self.path}: not a fleet state file ({error}); delete it to "
                f"start the campaign again"
            ) from None

    def taken(self) -> dict[str, str]:
        """Each recorded project's name and location: names stay theirs."""
        return {name: record.source for name, record in self.records.items()}

    def to_do(self, sources: Sequence[Source], retry: bool) -> list[Source]:
        """The sources to (re)do: new ones, interrupted ones (still RUNNING),
        and with ``retry`` those whose outcome needs a human."""
        keep = SETTLED if retry else (*SETTLED, *self._unsettled())
        return [
            s
            for s in sources
            if s.name not in self.records
            or self.records[s.name].source != s.location
            or self.records[s.name].outcome not in keep
        ]

    @staticmethod
    def _unsettled() -> tuple[str, ...]:
        from .classify import OUTCOMES

        return tuple(o for o in OUTCOMES if o not in SETTLED)

    def save(self, record: Record) -> None:
        with self._lock:
            self.records[record.name] = record
            data = {
                "version": self.version,
                "projects": {n: asdict(r) for n, r in sorted(self.records.items())},
            }
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(data, indent=2) + "\n")
