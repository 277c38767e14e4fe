"""Files written whole or not at all: the one way the tools write state."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import sys
from pathlib import Path
from typing import Any, Callable


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` through a temporary file
    beside it, so a reader or a crash never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _partial(path)
    temporary.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    os.replace(temporary, path)
    return path


def unwritable_folder(folder: Path) -> str:
    """Why files cannot go into ``folder`` (it or a parent is a file), or ''."""
    for place in (folder, *folder.parents):
        if place.exists():
            return "" if place.is_dir() else f"{place} is a file, not a folder"
    return ""


def output_file(text: str) -> Path:
    """An argparse type: a file to write, neither a folder nor under a file."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(
            f"{text} is a folder: give the file's path, e.g. {path / 'report.xml'}"
        )
    problem = unwritable_folder(path.parent)
    if problem:
        raise argparse.ArgumentTypeError(f"{text}: {problem}")
    return path


def write_json(path: Path, data: Any) -> Path:
    """``data`` as indented JSON, written atomically."""
    return write_atomic(path, json.dumps(data, indent=1) + "\n")


def copy_atomic(source: Path, target: Path) -> Path:
    """A copy of ``source`` at ``target``, whole or not at all."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = _partial(target)
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)
    return target


def remove_tree(path: Path, *, ignore_errors: bool = False) -> None:
    """Delete ``path`` and everything under it. A read-only file is made
    writable and deleted again: Windows refuses to delete one, and git for
    Windows makes its object files read-only, so a clone could not be
    removed."""

    def writable_again(function: Callable[[str], Any], name: str, error: Any) -> None:
        # Only a refused delete is retried; anything else is the error itself.
        if function in (os.unlink, os.remove, os.rmdir):
            try:
                os.chmod(name, os.lstat(name).st_mode | stat.S_IWRITE)
                function(name)
                return
            except OSError:
                pass
        if not ignore_errors:
            raise error if isinstance(error, BaseException) else error[1]

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=writable_again)
    else:  # onerror is deprecated from 3.12; its third argument is unused
        shutil.rmtree(path, onerror=writable_again)
