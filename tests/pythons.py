"""Find installed CPython interpreters by version, without pyenv shims."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from pathlib import Path

SUPPORTED = ("3.10", "3.11", "3.12", "3.13")


def _reports(exe: Path, version: str) -> bool:
    probe = subprocess.run(
        [str(exe), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
    )
    return probe.returncode == 0 and probe.stdout.strip() == version


@functools.cache
def find_python(version: str) -> str | None:
    """Absolute path of a working ``python<version>``, or None."""
    if "%d.%d" % sys.version_info[:2] == version:
        return sys.executable
    candidates = sorted(
        (Path.home() / ".pyenv" / "versions").glob(f"{version}.*/bin/python{version}"),
        reverse=True,
    )
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(Path(on_path))
    for exe in candidates:
        if _reports(exe, version):
            return str(exe)
    return None
