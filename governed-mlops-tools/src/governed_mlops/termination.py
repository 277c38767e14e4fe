"""SIGTERM ends a command that records runs as Ctrl-C does: what ``mlflow
run`` sends the entry point it cancels, Jenkins a build it aborts, ``kill`` by
default. Without a handler Python dies at once, and the runs it had open stay
RUNNING.

:func:`terminable` raises :class:`Terminated` (a ``KeyboardInterrupt``, so
every run open ends KILLED) on the first SIGTERM; :func:`deferred` holds it
back while a run is being ended, so that ending is never cut short. Later
SIGTERMs are noted only: the handler is Python's, so the processes started
meanwhile get SIGTERM's default action, not an ignored signal.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Iterator, Optional

EXIT_CODE = 128 + 15  # what a shell reports for a process SIGTERM ended


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's KeyboardInterrupt would be."""


class _State:
    deferring = 0  # nested deferred() blocks running
    pending = False  # a SIGTERM arrived while deferring
    raised = False  # Terminated was raised once: later signals are noted only


def _handle(signum: int, frame: Optional[FrameType]) -> None:
    if _State.raised:
        return
    if _State.deferring:
        _State.pending = True
        return
    _State.raised = True
    raise Terminated()


@contextmanager
def terminable() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the main thread while the block
    runs (the tracking server, which handles it itself, overrides this)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _handle)
    _State.deferring, _State.pending, _State.raised = 0, False, False
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def deferred() -> Iterator[None]:
    """A SIGTERM arriving in the block is raised when the block ends: what
    must be done whole (ending a run, saving the stage cache) is not cut
    short. Outside :func:`terminable` it changes nothing."""
    _State.deferring += 1
    try:
        yield
    finally:
        _State.deferring -= 1
        if not _State.deferring and _State.pending and not _State.raised:
            _State.pending, _State.raised = False, True
            raise Terminated()


@contextmanager
def kept_handlers() -> Iterator[None]:
    """The SIGINT and SIGTERM handlers as they were, after the block: nbclient
    (papermill's) installs its own while a notebook runs, and removing them
    leaves SIGTERM's default, which would kill the command at once, its runs
    left RUNNING."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            if handler is not None:
                signal.signal(sig, handler)
