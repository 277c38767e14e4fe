"""Find the interpreter a stage asks for: a version such as ``"3.11"`` or a path.

Versions are looked up without pyenv shims or ``uv python find`` (both can
fail or be slow on CI agents): the runner's own base interpreter, ``pythonX.Y``
on PATH, pyenv and uv-managed installs, and on Windows the ``py`` launcher and
the usual install folders. Each candidate is asked for its version before use.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .venvs import is_windows

VERSION = re.compile(r"^3\.\d{1,2}$")
_PROBE = (
    "import json, sys; print(json.dumps([sys.executable, list(sys.version_info[:3])]))"
)


@dataclass(frozen=True)
class Interpreter:
    """A working Python interpreter."""

    path: Path
    version: tuple[int, int, int]

    @property
    def minor(self) -> str:
        """``"3.11"``."""
        return "%d.%d" % self.version[:2]

    @property
    def full(self) -> str:
        return "%d.%d.%d" % self.version


class InterpreterNotFound(LookupError):
    """No interpreter matches; the message says where we looked."""


_cache_file: Path | None = None


def use_cache(path: Path | None) -> None:
    """Remember probes in ``path`` (keyed on the executable's size and mtime),
    so that an unchanged interpreter is not started again on every command."""
    global _cache_file
    _cache_file = path


def _stamp(exe: str) -> str:
    try:
        info = os.stat(exe)
    except OSError:
        return ""
    return f"{info.st_size}:{info.st_mtime_ns}"


def _load_cache() -> dict[str, Any]:
    try:
        return (
            json.loads(_cache_file.read_text(encoding="utf-8")) if _cache_file else {}
        )
    except (OSError, ValueError):
        return {}


def probe(exe: str) -> Interpreter | None:
    """Ask ``exe`` for its version (cached while the file is unchanged)."""
    stamp = _stamp(exe)
    cached = _load_cache().get(exe)
    if cached and stamp and cached["stamp"] == stamp:
        return Interpreter(Path(cached["path"]), tuple(cached["version"]))
    found = _probe(exe)
    if found and stamp and _cache_file:
        entries = _load_cache()
        entries[exe] = {
            "stamp": stamp,
            "path": str(found.path),
            "version": list(found.version),
        }
        try:
            _cache_file.parent.mkdir(parents=True, exist_ok=True)
            _cache_file.write_text(json.dumps(entries, indent=1), encoding="utf-8")
        except OSError:  # a read-only checkout still works, only slower
            pass
    return found


@functools.lru_cache(maxsize=None)
def _probe(exe: str) -> Interpreter | None:
    """Start ``exe`` and ask for its version; None if it does not run."""
    try:
        out = subprocess.run(
            [exe, "-I", "-S", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    try:
        executable, version = json.loads(out.stdout)
    except ValueError:
        return None
    # Keep the path we were given (a venv's python must stay the venv's, not
    # its base), made absolute.
    path = Path(exe) if Path(exe).is_absolute() else Path(executable)
    return Interpreter(path=path, version=tuple(version))


def _base_executable() -> str:
    return getattr(sys, "_base_executable", "") or sys.executable


def candidates(version: str, windows: bool | None = None) -> list[str]:
    """Places where Python ``version`` may be installed, most preferred first."""
    windows = is_windows() if windows is None else windows
    major_minor = version.replace(".", "")
    found: list[str] = []
    if "%d.%d" % sys.version_info[:2] == version:
        found.append(_base_executable())
    home = Path.home()
    if windows:
        found += _py_launcher(version)
        local = Path(os.environ.get("LOCALAPPDATA", home / "AppData" / "Local"))
        roots = [
            local / "Programs" / "Python" / f"Python{major_minor}",
            Path(os.environ.get("ProgramFiles", r"C:\Program Files"))
            / f"Python{major_minor}",
            Path(f"C:/Python{major_minor}"),
        ]
        found += [str(root / "python.exe") for root in roots]
        pyenv = home / ".pyenv" / "pyenv-win" / "versions"
        found += [str(p / "python.exe") for p in _newest_first(pyenv, version)]
        uv_root = Path(os.environ.get("APPDATA", home)) / "uv" / "python"
        found += [str(p / "python.exe") for p in _newest_first(uv_root, version)]
    else:
        on_path = shutil.which(f"python{version}")
        if on_path:
            found.append(on_path)
        pyenv = Path(os.environ.get("PYENV_ROOT", home / ".pyenv")) / "versions"
        found += [
            str(p / "bin" / f"python{version}") for p in _newest_first(pyenv, version)
        ]
        uv_root = Path(
            os.environ.get("UV_PYTHON_INSTALL_DIR", home / ".local/share/uv/python")
        )
        found += [
            str(p / "bin" / f"python{version}") for p in _newest_first(uv_root, version)
        ]
        found += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    return list(dict.fromkeys(found))


def _newest_first(root: Path, version: str) -> list[Path]:
    """Install folders like ``3.11.7`` or ``cpython-3.11.7-linux...``, newest first."""
    if not root.is_dir():
        return []
    pattern = re.compile(rf"^(?:cpython-)?{re.escape(version)}\.(\d+)(?:[-.].*)?$")
    matches = []
    for child in root.iterdir():
        match = pattern.match(child.name)
        if match:
            matches.append((int(match.group(1)), child))
    return [child for _, child in sorted(matches, reverse=True)]


def _py_launcher(version: str) -> list[str]:
    launcher = shutil.which("py")
    if not launcher:
        return []
    found = probe_launcher(launcher, version)
    return [found] if found else []


def probe_launcher(launcher: str, version: str) -> str | None:
    try:
        out = subprocess.run(
            [launcher, f"-{version}", "-c", "import sys; print(sys.executable)"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def find_version(version: str) -> Interpreter:
    """The preferred installed interpreter of Python ``version`` (e.g. ``"3.11"``)."""
    looked = candidates(version)
    for exe in looked:
        if not Path(exe).is_file():
            continue
        found = probe(exe)
        if found and found.minor == version:
            return found
    raise InterpreterNotFound(
        f"no Python {version} found on this machine (looked for python{version} on "
        f"PATH, in pyenv and uv installs"
        + (", the py launcher and the usual install folders" if is_windows() else "")
        + f"); install Python {version}, or set the interpreter's path instead"
    )


def resolve(value: str, root: Path) -> Interpreter:
    """A spec's ``python`` value: a version (``"3.11"``), a path, or a command."""
    if VERSION.match(value):
        return find_version(value)
    path = Path(value).expanduser()
    if not path.is_absolute() and ("/" in value or "\\" in value):
        path = root / path
    elif not path.is_absolute():
        on_path = shutil.which(value)
        if not on_path:
            raise InterpreterNotFound(f"{value!r} is not a command on PATH")
        path = Path(on_path)
    if not path.is_file():
        raise InterpreterNotFound(f"interpreter {str(path)!r} does not exist")
    found = probe(str(path))
    if found is None:
        raise InterpreterNotFound(f"interpreter {str(path)!r} does not run")
    return found
