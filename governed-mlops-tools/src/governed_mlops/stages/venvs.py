"""Virtual-environment layout on Windows (``Scripts\\python.exe``) and POSIX."""

from __future__ import annotations

import os
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath


def is_windows() -> bool:
    return os.name == "nt"


def venv_python(env_dir: PurePath, windows: bool | None = None) -> PurePath:
    """The interpreter of the venv at ``env_dir``.

    ``windows`` defaults to the running OS; tests pass it to check both layouts.
    """
    windows = is_windows() if windows is None else windows
    if windows:
        return PureWindowsPath(env_dir) / "Scripts" / "python.exe"
    return PurePosixPath(env_dir) / "bin" / "python"


def portable_path(text: str, root: Path, windows: bool | None = None) -> PurePath:
    """A path from a spec, resolved against ``root``.

    Specs are shared between Windows and POSIX machines, so ``\\`` and ``/``
    both separate relative parts. Absolute paths are taken as they are.
    """
    windows = is_windows() if windows is None else windows
    flavour = PureWindowsPath if windows else PurePosixPath
    if flavour(text).is_absolute():
        return flavour(text)
    parts = text.replace("\\", "/").split("/")
    return flavour(root).joinpath(*[p for p in parts if p not in ("", ".")])
