"""Exclusive locks on open files that the operating system drops when their
process dies: the claims of open runs, the stages in use."""

from __future__ import annotations

import sys
from typing import IO


def try_lock(handle: IO[str]) -> bool:
    """An exclusive lock on the open file, without waiting; False if held."""
    try:
        if sys.platform == "win32":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True
