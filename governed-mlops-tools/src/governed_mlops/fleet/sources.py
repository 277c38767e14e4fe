"""Which repositories a fleet command works on: local git work trees or git
URLs, from arguments, a list file or a folder of clones."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

from ..errors import CommandError

# scp-like git addresses: git@github.com:org/repo.git
SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:(?!//)\S+$")
URL = re.compile(r"^(https?|ssh|git|file)://\S+$")
ALLOWED = (
    "a git work tree's path or a git URL (https://, ssh://, git://, file:// "
    "or git@host:org/repo.git)"
)


@dataclass(frozen=True)
class Source:
    """One repository: ``location`` is a resolved path or a URL; ``name`` is
    unique in the fleet and names its folders in a work folder."""

    name: str
    location: str

    @property
    def is_url(self) -> bool:
        return is_url(self.location)


def is_url(text: str) -> bool:
    return bool(URL.match(text) or SCP_LIKE.match(text))


def is_work_tree(path: Path) -> bool:
    """A git work tree's root (``.git`` is a folder, or a file in a worktree)."""
    return (path / ".git").exists()


# Names Windows keeps for devices, whatever the extension: no folder's name.
_DEVICES = re.compile(r"(?i)(con|prn|aux|nul|com\d|lpt\d)(\..*)?")


def base_name(location: str) -> str:
    """``org/churn.git``, ``/srv/churn/`` and ``C:\\repos\\churn`` are all
    ``churn``: one folder name in the work folder, never a path, and the same
    name on Windows (which drops trailing dots and spaces, and keeps ``aux``
    or ``nul`` for devices)."""
    tail = re.split(r"[/\\:]", location.rstrip("/\\"))[-1]
    name = re.sub(r"\.git$", "", tail).rstrip(". ")
    if _DEVICES.fullmatch(name):
        name = f"{name}-project"
    return name or "project"


def renamed(named: Iterable[tuple[str, str]]) -> bool:
    """True when some ``(name, source)`` has a name other than its folder's
    (two projects shared one, ``churn-2``): tables then show each source."""
    return any(name != base_name(source) for name, source in named)


def parse(text: str, where: str, base: Optional[Path] = None) -> str:
    """One location, checked: a URL as written, a path resolved (against
    ``base``); a CommandError names ``where`` and what is allowed."""
    text = text.strip()
    if is_url(text):
        return text
    path = Path(text).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    if not path.is_dir():
        raise CommandError(f"{where}: {text!r} is no folder; give {ALLOWED}")
    if not is_work_tree(path):
        raise CommandError(
            f"{where}: {text!r} is not a git work tree (no .git); give {ALLOWED}"
        )
    return str(path.resolve())


def read_list(path: Path) -> list[str]:
    """The locations in a list file: one a line, ``#`` starts a comment;
    relative paths are relative to the file."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"--from-file {path}: cannot be read ({error})") from None
    found = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if len(text.split()) > 1:
            raise CommandError(
                f"{path}:{number}: {text!r} is more than one location; write one "
                f"a line ({ALLOWED})"
            )
        found.append(parse(text, f"{path}:{number}", base=path.parent))
    return found


def clones_under(folder: Path) -> list[str]:
    """Every git work tree below ``folder`` (not inside another one's .git,
    nor below a work tree: submodules and vendored clones are theirs)."""
    if not folder.is_dir():
        raise CommandError(f"--under {folder}: no such folder")
    found = []
    for current, dirs, _ in os.walk(folder):
        here = Path(current)
        if is_work_tree(here):
            found.append(str(here.resolve()))
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    return found


def named(
    locations: Iterable[str], taken: Optional[Mapping[str, str]] = None
) -> list[Source]:
    """Sources with unique names (``churn``, ``churn-2``), duplicates dropped,
    in the order given. ``taken`` (name -> location, from a work folder's
    earlier run) keeps each name with its location, whatever the order or
    the company this time, and no other location gets one of those names:
    a name is a folder in the work folder and a record in its state."""
    unique = list(dict.fromkeys(locations))
    # A name recorded by a version that kept a Windows path whole is not kept.
    taken = {n: loc for n, loc in (taken or {}).items() if base_name(n) == n}
    kept = {location: name for name, location in taken.items()}
    names = {name.casefold() for name in taken}  # one folder on NTFS and APFS
    chosen: dict[str, str] = {}
    for location in unique:
        if location in kept:
            chosen[location] = kept[location]
    for location in unique:
        if location in chosen:
            continue
        name = base_name(location)
        candidate, n = name, 1
        while candidate.casefold() in names:
            n += 1
            candidate = f"{name}-{n}"
        names.add(candidate.casefold())
        chosen[location] = candidate
    return [Source(chosen[location], location) for location in unique]


def collect(
    arguments: Sequence[str],
    from_file: Optional[Path] = None,
    under: Optional[Path] = None,
) -> list[Source]:
    """The fleet: the arguments, then the list file, then the clones below a
    folder; at least one repository."""
    locations = [parse(a, f"argument {a!r}") for a in arguments]
    if from_file is not None:
        locations += read_list(from_file)
    if under is not None:
        locations += clones_under(under)
    if not locations:
        raise CommandError(
            "no repositories: give paths or git URLs, --from-file FILE or "
            "--under DIR"
        )
    return named(locations)
