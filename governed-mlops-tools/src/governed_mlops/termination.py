"""SIGTERM ends a command that records runs as Ctrl-C does: what ``mlflow
run`` sends the entry point it cancels, Jenkins a build it aborts on Linux,
``kill`` by default. Without a handler Python dies at once, and the runs it
had open stay RUNNING. On Windows no SIGTERM arrives from outside (``kill``,
``taskkill /F`` and Jenkins' last resort end the process unasked): Ctrl-C
and Ctrl-Break (SIGBREAK, handled as SIGTERM) are what can be handled.

:func:`terminable` raises :class:`Terminated` (a ``KeyboardInterrupt``, so
every run open ends KILLED) on the first SIGTERM; :func:`deferred` holds it
back, and Ctrl-C's ``KeyboardInterrupt`` too, while a run is being made or
ended, so that is never cut short (Jenkins on Windows sends Ctrl-C to every
process of a build it aborts, so one abort can bring several). Later
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
    # The interrupt held back while deferring: Terminated or KeyboardInterrupt.
    pending: Optional[type[KeyboardInterrupt]] = None
    raised = False  # Terminated was raised once: later signals are noted only


def _handle(signum: int, frame: Optional[FrameType]) -> None:
    """SIGTERM (and Windows' SIGBREAK)."""
    if _State.raised:
        return
    if _State.deferring:
        _State.pending = Terminated
        return
    _State.raised = True
    raise Terminated()


def _interrupt(signum: int, frame: Optional[FrameType]) -> None:
    """SIGINT: Python's KeyboardInterrupt, held back while deferring."""
    if _State.deferring:
        _State.pending = _State.pending or KeyboardInterrupt
        return
    raise KeyboardInterrupt()


def _terminating() -> list[int]:
    """The signals handled as SIGTERM here."""
    brk = getattr(signal, "SIGBREAK", None)  # Windows: Ctrl-Break
    return [signal.SIGTERM] + ([brk] if brk is not None else [])


@contextmanager
def terminable() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the main thread while the block
    runs (the tracking server, which handles it itself, overrides this);
    Ctrl-C raises KeyboardInterrupt as ever, unless it was ignored (a job
    started in the background), and :func:`deferred` holds both back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _handle) for sig in _terminating()}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, _interrupt)
    _State.deferring, _State.pending, _State.raised = 0, None, False
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def deferred(reraise: bool = True) -> Iterator[None]:
    """A SIGTERM or Ctrl-C arriving in the block is raised when the block
    ends: what must be done whole (making or ending a run, saving the stage
    cache) is not cut short. ``reraise=False`` keeps it for
    :func:`raise_pending`, where the caller can end what the block made.
    Outside :func:`terminable` it changes nothing."""
    _State.deferring += 1
    try:
        yield
    finally:
        _State.deferring -= 1
        if reraise:
            raise_pending()


def raise_pending() -> None:
    """Raise the interrupt a :func:`deferred` block held back, if any."""
    if _State.deferring or _State.pending is None:
        return
    kind, _State.pending = _State.pending, None
    if kind is Terminated:
        if _State.raised:
            return
        _State.raised = True
    raise kind()


@contextmanager
def kept_handlers() -> Iterator[None]:
    """The SIGINT and SIGTERM handlers as they were, after the block: nbclient
    (papermill's) installs its own while a notebook runs, and removing them
    leaves SIGTERM's default, which would kill the command at once, its runs
    left RUNNING."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = [signal.SIGINT, *_terminating()]
    saved = {sig: signal.getsignal(sig) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            if handler is not None:
                signal.signal(sig, handler)
