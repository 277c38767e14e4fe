"""SIGTERM ends a command as Ctrl-C does: what ``mlflow run`` sends the entry
point it cancels, Jenkins a build it aborts, ``kill`` by default. Without a
handler Python dies at once, and the runs it had open stay RUNNING."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Iterator, Optional

EXIT_CODE = 128 + 15  # what a shell reports for a process SIGTERM ended


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's KeyboardInterrupt would be: every run
    open ends KILLED."""


def _raise(signum: int, frame: Optional[FrameType]) -> None:
    # One is enough: a second SIGTERM must not interrupt the runs' closing.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


@contextmanager
def terminable() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the main thread while the block
    runs (a command that handles it itself, the tracking server, overrides
    this within)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
