"""Progress lines on stderr for long work (installs, pipeline runs)."""

from __future__ import annotations

import sys
import threading
import time
from typing import Optional, TextIO

_lock = threading.Lock()


class Progress:
    """Prints ``[label] message (elapsed)`` lines; safe across threads."""

    def __init__(self, label: str, stream: Optional[TextIO] = None):
        self.label = label
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def __call__(self, message: str) -> None:
        line = f"[{self.label}] {message} ({self.elapsed():.1f} s)"
        with _lock:
            print(line, file=self.stream, flush=True)
