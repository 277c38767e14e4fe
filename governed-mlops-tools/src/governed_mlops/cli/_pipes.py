"""Output to a reader that went away (``mlops pipeline run | head -1``, a
pager quit early): the command goes on, finishes its work and records it;
what it would still print is dropped."""

from __future__ import annotations

import errno
import os
import sys
from contextlib import contextmanager
from typing import Any, Iterator, TextIO

# Windows reports a write to a pipe without a reader as EINVAL, not EPIPE
# (python/cpython#79935).
_WINDOWS = os.name == "nt"


def reader_gone(error: OSError) -> bool:
    """Whether ``error`` is a write to a pipe whose reader went away."""
    return isinstance(error, BrokenPipeError) or (
        _WINDOWS and error.errno == errno.EINVAL
    )


class _Tolerant:
    """A text stream whose writes outlive a closed pipe: on the first write
    to a reader that went away its file descriptor is pointed at the null
    device."""

    def __init__(self, stream: TextIO):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as error:
            if not reader_gone(error):
                raise
            self._divert()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as error:
            if not reader_gone(error):
                raise
            self._divert()

    def _divert(self) -> None:
        try:
            fd = self._stream.fileno()
        except (AttributeError, OSError, ValueError):
            return  # not a file (a test's capture): nothing to redirect
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def tolerant_output() -> Iterator[None]:
    """``sys.stdout`` and ``sys.stderr`` survive their reader going away."""
    saved = sys.stdout, sys.stderr
    sys.stdout = _Tolerant(saved[0])
    sys.stderr = _Tolerant(saved[1])
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
