"""The rename table, ``hooks/migrations/renames.yml``: files a release renamed.

A list of ``{version, from, to}``: paths as a project has them, ``/``-separated
and relative, where ``{package_name}`` stands for the project's package. An
entry applies to an update from A to B when A < version <= B. An entry
``{version, folder, migration}`` hands a folder the release dropped to that
release's migration (in ``hooks/migrations/``), which keeps edited files
itself: the guard leaves the files under it alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.version import InvalidVersion, Version

from .._yaml import safe_load
from ..errors import CommandError

TABLE = "renames.yml"
FIELDS = ("version", "from", "to")
HANDOVER_FIELDS = ("version", "folder", "migration")


class RenameTableError(CommandError):
    """renames.yml is not a list of valid entries."""


@dataclass(frozen=True)
class Rename:
    version: Version
    old: str
    new: str

    def paths(self, package: str) -> tuple[str, str]:
        """(old, new) with ``{package_name}`` filled in."""
        return (
            self.old.replace("{package_name}", package),
            self.new.replace("{package_name}", package),
        )


@dataclass(frozen=True)
class Handover:
    """A folder the release dropped whose files its migration takes care of."""

    version: Version
    folder: str  # ends with "/"
    migration: str

    def prefix(self, package: str) -> str:
        return self.folder.replace("{package_name}", package)


def _path(value: Any, where: str, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RenameTableError(f"{where}: field '{field}': a path is required")
    parts = PurePosixPath(value).parts
    if "\\" in value or value.startswith("/") or ".." in parts or "." in parts:
        raise RenameTableError(
            f"{where}: field '{field}': {value!r} is not a relative "
            "'/'-separated path inside the project"
        )
    return value


def _entry(index: int, raw: Any) -> Rename | Handover:
    where = f"{TABLE}: entry {index}"
    if not isinstance(raw, dict):
        raise RenameTableError(f"{where}: a mapping with {', '.join(FIELDS)} expected")
    handover = "folder" in raw
    fields = HANDOVER_FIELDS if handover else FIELDS
    key = "folder" if handover else "from"
    if isinstance(raw.get(key), str):
        where += f" ({key} {raw[key]})"
    unknown = sorted(set(map(str, raw)) - set(fields))
    if unknown:
        raise RenameTableError(f"{where}: unknown field '{unknown[0]}'")
    try:
        version = Version(str(raw["version"]))
    except KeyError:
        raise RenameTableError(f"{where}: field 'version': missing") from None
    except InvalidVersion:
        raise RenameTableError(
            f"{where}: field 'version': {raw['version']!r} is not a PEP 440 version"
        ) from None
    if handover:
        folder = _path(raw["folder"], where, "folder").rstrip("/") + "/"
        migration = raw.get("migration")
        if not isinstance(migration, str) or not migration.endswith(".py"):
            raise RenameTableError(
                f"{where}: field 'migration': the script in hooks/migrations/ "
                "that keeps the folder's edited files (e.g. tools_package.py)"
            )
        return Handover(version, folder, migration)
    old, new = _path(raw.get("from"), where, "from"), _path(raw.get("to"), where, "to")
    if old == new:
        raise RenameTableError(f"{where}: field 'to': the same path as 'from'")
    return Rename(version, old, new)


def parse(text: str) -> list[Rename | Handover]:
    """The table's entries; a :class:`RenameTableError` names a bad one."""
    try:
        raw = safe_load(text)
    except Exception as error:  # pyyaml's errors have no common public base
        raise RenameTableError(f"{TABLE}: not YAML: {error}") from None
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise RenameTableError(f"{TABLE}: a list of {{version, from, to}} expected")
    return [_entry(index, entry) for index, entry in enumerate(raw, 1)]


def load(path: Path) -> list[Rename | Handover]:
    """The table at ``path``; none when the template has no table."""
    return parse(path.read_text(encoding="utf-8")) if path.is_file() else []


def crossed(
    entries: list[Rename | Handover], old: str, new: str, package: str
) -> dict[str, str]:
    """``{old path: new path}`` of the renames an update from ``old`` to
    ``new`` crosses; a file renamed twice maps to its last name."""
    low, high = Version(old), Version(new)
    moves: dict[str, str] = {}
    renames = [entry for entry in entries if isinstance(entry, Rename)]
    for rename in sorted(renames, key=lambda entry: entry.version):
        if low < rename.version <= high:
            source, target = rename.paths(package)
            for earlier, later in moves.items():
                if later == source:
                    moves[earlier] = target
            moves.setdefault(source, target)
    return moves


def handed_over(
    entries: list[Rename | Handover], old: str, new: str, package: str
) -> list[str]:
    """The folder prefixes (``a/b/``) whose files a migration the update
    from ``old`` to ``new`` crosses takes care of."""
    low, high = Version(old), Version(new)
    return [
        entry.prefix(package)
        for entry in entries
        if isinstance(entry, Handover) and low < entry.version <= high
    ]
