"""Incremental pipelines: a stage whose inputs are unchanged is not run again.

A stage's key hashes what decides its result (:func:`stage_parts`): the
notebook's code (outputs, metadata and formatting left out), the parameters
injected, the stage lock, the interpreter, the project package's source and
the content of the files its spec declares as ``inputs``. After a successful
run the key, its parts, the run id, its tracking store and the declared
``outputs`` (each file's hash) go to ``.mlops/cache/index.json``, and the
outputs' content to ``.mlops/cache/objects/``. A later pipeline run with the
same key, on the same store, skips the stage and restores a missing output
from there; a different key says which part changed. Unchanged large files
are not read again: their hash is kept with their size, modification time
and inode (``stat.json``).
"""

from __future__ import annotations

import ast
import glob
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ..hashes import file_sha, text_sha
from ..files import copy_atomic, write_json
from ..progress import Progress
from ..stages.specs import Stage
from .shared_cache import SharedCache

CACHE_DIR = "cache"
PACKAGE_PART = "project package"
NOTEBOOK_PART = "notebook code"
PARAMETERS_PART = "parameters"
LOCK_PART = "lock"
PYTHON_PART = "interpreter"
# Only in a smoke run's key: a full run never reuses a smoke run's results
# (trained on a sample, its models not registered), nor the other way round.
SMOKE_PART = "smoke run"
INPUT_PREFIX = "input "
FORCED = "forced (--force)"
# Earlier runs kept per stage besides its last, each with another key: going
# back to earlier parameters or data (a smoke run, then the full one) reuses.
HISTORY = 4
# `mlops stage run` always runs; its run then serves pipelines as their cache.
STAGE_RUN = "run on its own (`mlops stage run`)"


def codetext_sha(notebook: Path) -> str:
    """The hash of a notebook's code cells, as Python syntax where they parse
    (comments, blank lines and spacing do not count) and as text with
    trailing spaces removed where they do not (magics, shell escapes)."""
    from .notebook import read_notebook

    cells = read_notebook(notebook)["cells"]
    parts = []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        try:
            parts.append(ast.dump(ast.parse(text)))
        except SyntaxError:
            lines = [line.rstrip() for line in text.strip().splitlines()]
            parts.append("\n".join(line for line in lines if line))
    return text_sha("\0".join(parts))


class StatCache:
    """File hashes, trusted while size, modification time and inode match."""

    def __init__(self, path: Path):
        self.path = path
        self.known: dict[str, list[Any]] = {}
        try:
            self.known = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
        self.changed = False

    def sha(self, file: Path) -> str:
        found = file.stat()
        stamp = [found.st_size, found.st_mtime_ns, found.st_ino]
        key = str(file)
        entry = self.known.get(key)
        if entry and entry[:3] == stamp:
            return str(entry[3])
        digest = file_sha(file)
        self.known[key] = [*stamp, digest]
        self.changed = True
        return digest

    def save(self) -> None:
        if self.changed:
            write_json(self.path, self.known)
            self.changed = False


def matched(root: Path, patterns: list[str]) -> list[str]:
    """The files the globs match, relative to ``root``, sorted."""
    found = set()
    for pattern in patterns:
        for name in glob.glob(pattern, root_dir=root, recursive=True):
            if (root / name).is_file():
                found.add(Path(name).as_posix())
    return sorted(found)


def packagetext_sha(stage: Stage, stats: StatCache) -> str:
    """The hash of the project package's source files."""
    source = stage.project.root / "src" / stage.project.package
    files = sorted(p for p in source.rglob("*") if p.is_file() and _is_source(p))
    lines = [f"{p.relative_to(source).as_posix()} {stats.sha(p)}" for p in files]
    return text_sha("\n".join(lines))


def _is_source(path: Path) -> bool:
    return "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo")


def stage_parts(
    stage: Stage, parameters: dict[str, Any], stats: StatCache
) -> dict[str, str]:
    """What decides a stage's result, part by part."""
    from ..stages.env import lock_path, read_marker

    root = stage.project.root
    lock = lock_path(stage)
    # The version, not the path: machines sharing a cache install it apart.
    python = str((read_marker(stage) or {}).get("python_version", ""))
    parts = {
        NOTEBOOK_PART: codetext_sha(stage.notebook),
        PARAMETERS_PART: json.dumps(parameters, sort_keys=True, ensure_ascii=False),
        LOCK_PART: stats.sha(lock) if lock.is_file() else "",
        PYTHON_PART: python,
        PACKAGE_PART: packagetext_sha(stage, stats),
    }
    for name in matched(root, stage.spec.inputs):
        parts[INPUT_PREFIX + name] = stats.sha(root / name)
    return parts


def key_of(parts: dict[str, str]) -> str:
    return text_sha(json.dumps(parts, sort_keys=True))


def why(before: dict[str, str], after: dict[str, str]) -> str:
    """Why a stage runs again: the parts that differ, most telling first."""
    reasons = []
    if before.get(PARAMETERS_PART) != after.get(PARAMETERS_PART):
        reasons.append(
            "parameters changed: "
            + _changes(
                json.loads(before.get(PARAMETERS_PART) or "{}"),
                json.loads(after[PARAMETERS_PART]),
            )
        )
    if before.get(SMOKE_PART) != after.get(SMOKE_PART):
        reasons.append(
            "a smoke run" if after.get(SMOKE_PART) else "the last run was a smoke run"
        )
    for part in (NOTEBOOK_PART, LOCK_PART, PYTHON_PART, PACKAGE_PART):
        if before.get(part) != after.get(part):
            if part == PYTHON_PART:
                old, new = before.get(part, "").split(" ")[0], after[part]
                reasons.append(f"interpreter changed: {old or '?'} → {new or '?'}")
            else:
                reasons.append(f"{part} changed")
    inputs = sorted({k for k in (*before, *after) if k.startswith(INPUT_PREFIX)})
    for part in inputs:
        if part not in before:
            reasons.append(f"{part} added")
        elif part not in after:
            reasons.append(f"{part} removed")
        elif before[part] != after[part]:
            reasons.append(f"{part} changed")
    return "; ".join(reasons) or "its key changed"


def _changes(old: dict[str, Any], new: dict[str, Any]) -> str:
    def shown(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    items = []
    for key in sorted({*old, *new}):
        if key not in old:
            items.append(f"{key} → {shown(new[key])} (was the notebook's default)")
        elif key not in new:
            items.append(f"{key} {shown(old[key])} → the notebook's default")
        elif old[key] != new[key]:
            items.append(f"{key} {shown(old[key])} → {shown(new[key])}")
    return ", ".join(items)


@dataclass
class Decision:
    """Whether a stage runs, and why."""

    run: bool
    reason: str
    key: str
    parts: dict[str, str]
    reused: str = ""  # the run whose result is reused, when skipped
    restored: list[str] = field(default_factory=list)
    # Lineage: each declared input another stage's run wrote, and that run;
    # and the inputs that run logged as MLflow models, with their URIs.
    producers: dict[str, str] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)


def _plain(entry: dict[str, Any]) -> dict[str, Any]:
    """An index entry without its earlier runs."""
    return {k: v for k, v in entry.items() if k != "earlier"}


class Cache:
    """The project's stage cache (``.mlops/cache/``)."""

    def __init__(
        self,
        state_dir: Path,
        root: Path,
        store_uri: str,
        shared: Optional[SharedCache] = None,
    ):
        self.folder = state_dir / CACHE_DIR
        self.root = root
        self.store_uri = store_uri  # a run is reused only from its own store
        self.shared = shared  # asked when this machine has no run with the key
        self.stats = StatCache(self.folder / "stat.json")
        self.index_path = self.folder / "index.json"
        # By tracking store, then by stage: a laptop's runs against its own
        # store and against the team's server are reused each in their store.
        self.index: dict[str, dict[str, dict[str, Any]]] = {}
        try:
            self.index = json.loads(self.index_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
        self.entries = self.index.setdefault(store_uri, {})

    def _object(self, sha: str) -> Path:
        return self.folder / "objects" / sha[:2] / sha

    def decide(
        self,
        stage: Stage,
        parameters: dict[str, Any],
        force: bool,
        forced_by: str = FORCED,
        smoke: bool = False,
    ) -> Decision:
        """Run or skip ``stage`` with these parameters (in a smoke run or
        not); restores missing outputs of a skipped stage from the cache.
        ``forced_by``: the reason a forced run records."""
        parts = stage_parts(stage, parameters, self.stats)
        if smoke:
            parts[SMOKE_PART] = "true"
        decision = self._decide(stage, parts, force, forced_by)
        decision.producers, decision.models = self.producers(stage.name, parts)
        return decision

    def producers(
        self, stage: str, parts: dict[str, str]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """The run of this store that wrote each input, as it is now, and the
        MLflow model that run logged from it, where it did."""
        runs, logged = {}, {}
        for part, sha in parts.items():
            if not part.startswith(INPUT_PREFIX):
                continue
            name = part[len(INPUT_PREFIX) :]
            for other, entry in self.entries.items():
                if other == stage:
                    continue
                if entry["outputs"].get(name) == sha:
                    runs[name] = str(entry["run_id"])
                    if name in entry.get("models", {}):
                        logged[name] = str(entry["models"][name])
        return runs, logged

    def _decide(
        self, stage: Stage, parts: dict[str, str], force: bool, forced_by: str
    ) -> Decision:
        key = key_of(parts)
        if force:
            return Decision(True, forced_by, key, parts)
        if not (stage.spec.inputs or stage.spec.outputs):
            # What it reads is unknown: skipping it could hide new data.
            reason = "its spec declares no inputs or outputs, so it always runs"
            return Decision(True, reason, key, parts)
        last = self.entries.get(stage.name)
        if not last:
            decision = Decision(
                True, f"no cached run from {self.store_uri}", key, parts
            )
        elif last["key"] != key:
            decision = Decision(True, why(last["parts"], parts), key, parts)
            earlier = next(
                (e for e in last.get("earlier", []) if e["key"] == key), None
            )
            if earlier is not None:
                # The last run's outputs may be put back: the cache keeps them.
                back = self._reuse(
                    earlier,
                    parts,
                    self._kept,
                    replaceable=last["outputs"],
                    lead="as in the earlier run",
                )
                if not back.run:
                    self._make_latest(stage.name, earlier)
                    decision = back
        else:
            decision = self._reuse(last, parts, self._kept)
        if decision.run and self.shared is not None:
            return self._from_shared(stage, parts, decision)
        return decision

    def _kept(self, entry: dict[str, Any], name: str) -> Optional[Path]:
        """Output ``name`` of ``entry`` in this machine's objects."""
        kept = self._object(entry["outputs"][name])
        return kept if kept.is_file() else None

    def _reuse(
        self,
        entry: dict[str, Any],
        parts: dict[str, str],
        source: Callable[[dict[str, Any], str], Optional[Path]],
        where: str = "",
        replaceable: Optional[dict[str, str]] = None,
        lead: str = "unchanged since run",
    ) -> Decision:
        """Skip the stage, reusing ``entry`` (a run with the stage's key), with
        its missing outputs restored from the files ``source`` gives; or run
        it, saying why. ``replaceable``: outputs (name -> hash) that may be
        overwritten, as the stage's last run wrote them; ``lead`` begins the
        reason of a reuse."""
        key, run_id = entry["key"], entry["run_id"]
        missing = []
        for name, sha in sorted(entry["outputs"].items()):
            path = self.root / name
            if not path.is_file():
                missing.append(name)
                continue
            current = self.stats.sha(path)
            if current == sha:
                continue
            if (replaceable or {}).get(name) == current:
                missing.append(name)
                continue
            # Edited since: the notebook makes it again, and says so.
            reason = f"output {name} changed since run {run_id}"
            return Decision(True, reason, key, parts)
        found = {}
        for name in missing:
            copy = source(entry, name)
            if copy is None or file_sha(copy) != entry["outputs"][name]:
                reason = f"output {name} missing and not in the cache{where}"
                return Decision(True, reason, key, parts)
            found[name] = copy
        for name, copy in found.items():
            kept = self._object(entry["outputs"][name])
            if copy != kept:
                copy_atomic(copy, kept)
            copy_atomic(kept, self.root / name)
        reason = f"{lead} {run_id}{where}"
        if missing:
            reason += f"; restored {', '.join(missing)}"
        return Decision(False, reason, key, parts, run_id, missing)

    def _from_shared(
        self, stage: Stage, parts: dict[str, str], local: Decision
    ) -> Decision:
        """The run of the shared cache with the stage's key, reused; else
        ``local``, which says why the stage runs."""
        assert self.shared is not None  # nosec B101 # checked by the caller
        try:
            entry = self.shared.find(stage.name, local.key)
            if entry is None:
                return local
            shared = self.shared
            decision = self._reuse(
                entry,
                parts,
                lambda found, name: shared.fetch(
                    found["run_id"], name, self.folder / "incoming"
                ),
                " (shared cache: MLflow)",
            )
        except Exception as error:  # the store or its artifacts: run instead
            local.reason += (
                f"; the shared cache in {self.store_uri} could not be read "
                f"({type(error).__name__}: {error})"
            )
            return local
        if decision.run:
            return local
        self._make_latest(stage.name, entry)
        return decision

    def _make_latest(self, stage: str, entry: dict[str, Any]) -> None:
        """``entry`` becomes the stage's last run; the one before it, and
        those before that with other keys, are kept as earlier runs."""
        previous = self.entries.get(stage)
        earlier = [] if previous is None else [previous, *previous.get("earlier", [])]
        latest = _plain(entry)
        latest["earlier"] = [_plain(e) for e in earlier if e["key"] != latest["key"]][
            :HISTORY
        ]
        self.entries[stage] = latest
        write_json(self.index_path, self.index)

    def record(
        self,
        stage: Stage,
        decision: Decision,
        run_id: str,
        logged: dict[str, str] | None = None,
    ) -> None:
        """After a successful run: its key, its outputs kept, and the MLflow
        models it logged (path -> models:/<id>)."""
        outputs = {}
        for name in matched(self.root, stage.spec.outputs):
            path = self.root / name
            sha = self.stats.sha(path)
            kept = self._object(sha)
            if not kept.is_file():
                copy_atomic(path, kept)
            outputs[name] = sha
        entry = {
            "key": decision.key,
            "parts": decision.parts,
            "run_id": run_id,
            "outputs": outputs,
            "models": logged or {},
        }
        self._make_latest(stage.name, entry)
        self.save()
        if self.shared is not None:
            files = {name: self._object(sha) for name, sha in outputs.items()}
            try:
                self.shared.publish(run_id, entry, files)
            except Exception as error:  # the run stands; only sharing failed
                Progress(stage.name)(
                    f"run {run_id} is not in the shared cache of {self.store_uri}: "
                    f"{type(error).__name__}: {error}; other machines run the "
                    f"stage again"
                )

    def save(self) -> None:
        self.stats.save()

    def last_run(self, stage: str) -> Optional[str]:
        entry = self.entries.get(stage)
        return str(entry["run_id"]) if entry else None
