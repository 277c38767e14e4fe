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
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..stages.specs import Stage

CACHE_DIR = "cache"
PACKAGE_PART = "project package"
NOTEBOOK_PART = "notebook code"
PARAMETERS_PART = "parameters"
LOCK_PART = "lock"
PYTHON_PART = "interpreter"
INPUT_PREFIX = "input "
CHUNK = 1024 * 1024


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def code_digest(notebook: Path) -> str:
    """The hash of a notebook's code cells, as Python syntax where they parse
    (comments, blank lines and spacing do not count) and as text with
    trailing spaces removed where they do not (magics, shell escapes)."""
    cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
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
    return _digest("\0".join(parts))


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
        digest = hashlib.sha256()
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
        self.known[key] = [*stamp, digest.hexdigest()]
        self.changed = True
        return digest.hexdigest()

    def save(self) -> None:
        if self.changed:
            _write_json(self.path, self.known)
            self.changed = False


def matched(root: Path, patterns: list[str]) -> list[str]:
    """The files the globs match, relative to ``root``, sorted."""
    found = set()
    for pattern in patterns:
        for name in glob.glob(pattern, root_dir=root, recursive=True):
            if (root / name).is_file():
                found.add(Path(name).as_posix())
    return sorted(found)


def package_digest(stage: Stage, stats: StatCache) -> str:
    """The hash of the project package's source files."""
    source = stage.project.root / "src" / stage.project.package
    files = sorted(p for p in source.rglob("*") if p.is_file() and _is_source(p))
    lines = [f"{p.relative_to(source).as_posix()} {stats.sha(p)}" for p in files]
    return _digest("\n".join(lines))


def _is_source(path: Path) -> bool:
    return "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo")


def stage_parts(
    stage: Stage, parameters: dict[str, Any], stats: StatCache
) -> dict[str, str]:
    """What decides a stage's result, part by part."""
    from ..stages.env import lock_path, read_marker

    root = stage.project.root
    lock = lock_path(stage)
    marker = read_marker(stage) or {}
    python = f"{marker.get('python_version', '')} {marker.get('interpreter', '')}"
    parts = {
        NOTEBOOK_PART: code_digest(stage.notebook),
        PARAMETERS_PART: json.dumps(parameters, sort_keys=True, ensure_ascii=False),
        LOCK_PART: stats.sha(lock) if lock.is_file() else "",
        PYTHON_PART: python,
        PACKAGE_PART: package_digest(stage, stats),
    }
    for name in matched(root, stage.spec.inputs):
        parts[INPUT_PREFIX + name] = stats.sha(root / name)
    return parts


def key_of(parts: dict[str, str]) -> str:
    return _digest(json.dumps(parts, sort_keys=True))


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
    for part in (NOTEBOOK_PART, LOCK_PART, PYTHON_PART, PACKAGE_PART):
        if before.get(part) != after.get(part):
            if part == PYTHON_PART:
                old, new = before.get(part, "").split(" ")[0], after[part].split(" ")[0]
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


class Cache:
    """The project's stage cache (``.mlops/cache/``)."""

    def __init__(self, state_dir: Path, root: Path, store_uri: str):
        self.folder = state_dir / CACHE_DIR
        self.root = root
        self.store_uri = store_uri  # a run is reused only from its own store
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

    def decide(self, stage: Stage, parameters: dict[str, Any], force: bool) -> Decision:
        """Run or skip ``stage`` with these parameters; restores missing
        outputs of a skipped stage from the cache."""
        parts = stage_parts(stage, parameters, self.stats)
        decision = self._decide(stage, parts, force)
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

    def _decide(self, stage: Stage, parts: dict[str, str], force: bool) -> Decision:
        key = key_of(parts)
        last = self.entries.get(stage.name)
        if force:
            return Decision(True, "forced (--force)", key, parts)
        if not (stage.spec.inputs or stage.spec.outputs):
            # What it reads is unknown: skipping it could hide new data.
            reason = "its spec declares no inputs or outputs, so it always runs"
            return Decision(True, reason, key, parts)
        if not last:
            return Decision(True, f"no previous run in {self.store_uri}", key, parts)
        if last["key"] != key:
            return Decision(True, why(last["parts"], parts), key, parts)
        restored = []
        for name, sha in sorted(last["outputs"].items()):
            path = self.root / name
            if path.is_file():
                if self.stats.sha(path) == sha:
                    continue
                # Edited since: the notebook makes it again, and says so.
                reason = f"output {name} changed since run {last['run_id']}"
                return Decision(True, reason, key, parts)
            if not self._object(sha).is_file():
                reason = f"output {name} missing and not in the cache"
                return Decision(True, reason, key, parts)
            restored.append(name)
        for name in restored:
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(path.name + ".restoring")
            shutil.copyfile(self._object(last["outputs"][name]), temporary)
            os.replace(temporary, path)
        reason = f"unchanged since run {last['run_id']}"
        if restored:
            reason += f"; restored {', '.join(restored)}"
        return Decision(False, reason, key, parts, last["run_id"], restored)

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
                kept.parent.mkdir(parents=True, exist_ok=True)
                temporary = kept.with_name(sha + ".tmp")
                shutil.copyfile(path, temporary)
                os.replace(temporary, kept)
            outputs[name] = sha
        self.entries[stage.name] = {
            "key": decision.key,
            "parts": decision.parts,
            "run_id": run_id,
            "outputs": outputs,
            "models": logged or {},
        }
        _write_json(self.index_path, self.index)
        self.save()

    def save(self) -> None:
        self.stats.save()

    def last_run(self, stage: str) -> Optional[str]:
        entry = self.entries.get(stage)
        return str(entry["run_id"]) if entry else None


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, path)
