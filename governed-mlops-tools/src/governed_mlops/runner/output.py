"""What a stage run writes to its ``run.log``, and the little it shows.

The terminal gets one line when a stage starts and one when it ends (from
the runner), the runner's own warnings (through the project's logging), and
on a terminal the cell running now. Everything else goes only to the run's
``run.log``, at INFO: papermill's lines, the notebook's output (papermill's
``log_output``) and what the kernel process prints itself (its warnings,
output of C libraries). ``--verbose`` streams all of it to stderr as well.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import warnings
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Optional, Sequence, TextIO

from ..progress import Progress
from ..stages.installers import redact

CELL = re.compile(r"Executing Cell (\d+)")
FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {name} | {message}\n"
# papermill, and nbclient and jupyter_client through papermill's logger.
DETAIL_LOGGERS = ("papermill",)


def _stamp() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


class _Detail(logging.Handler):
    """papermill's records, into the run log instead of the project's sinks."""

    def __init__(self, log: RunLog):
        super().__init__(level=logging.INFO)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.log.write(
            f"{_stamp()} | {record.levelname: <8} | {record.name} | {message}\n"
        )
        found = CELL.match(message)
        if found:
            self.log.cell(int(found.group(1)))


class RunLog:
    """``run.log`` of one stage run, while it runs (a context manager)."""

    def __init__(
        self,
        path: Path,
        say: Progress,
        verbose: bool = False,
        stream: Optional[TextIO] = None,
        secrets: Sequence[str] = (),
    ):
        self.path = path
        self.say = say
        self.verbose = verbose
        # The settings' secrets, masked in every line: a notebook's error
        # message or output may hold one.
        self.secrets = [value for value in secrets if value]
        self.stream = stream or sys.stderr
        self.live = not verbose and self.stream.isatty()
        self._lock = threading.Lock()
        self._file: Optional[TextIO] = None
        self._sink: Optional[int] = None
        self._saved: list[tuple[logging.Logger, bool, list[logging.Handler]]] = []
        self._readers: list[threading.Thread] = []
        self._shown = False
        self._showwarning: Optional[Any] = None

    def __enter__(self) -> RunLog:
        from loguru import logger

        self._file = open(self.path, "a", encoding="utf-8", errors="replace")
        # The runner's own records (warnings, the failure): also in run.log.
        self._sink = logger.add(self._from_loguru, level="INFO", format=FORMAT)
        detail = _Detail(self)
        for name in DETAIL_LOGGERS:
            named = logging.getLogger(name)
            self._saved.append((named, named.propagate, list(named.handlers)))
            named.handlers = [detail]
            named.propagate = False
            named.setLevel(logging.INFO)
        # Python warnings while the notebook runs (nbformat's about cell ids,
        # a library's deprecations): run.log's too, not the terminal's.
        self._showwarning = warnings.showwarning
        warnings.showwarning = self._warning
        return self

    def __exit__(
        self,
        kind: Optional[type[BaseException]],
        error: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        from loguru import logger

        for reader in self._readers:
            reader.join(timeout=5)
        for named, propagate, handlers in self._saved:
            named.handlers, named.propagate = handlers, propagate
        if self._showwarning is not None:
            warnings.showwarning = self._showwarning
        if self._sink is not None:
            logger.remove(self._sink)
        self._clear()
        if self._file is not None:
            self._file.close()

    def _warning(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Optional[TextIO] = None,
        line: Optional[str] = None,
    ) -> None:
        self.line(
            "WARNING",
            "py.warnings",
            f"{category.__name__}: {message} ({filename}:{lineno})",
        )

    def _from_loguru(self, message: Any) -> None:
        with self._lock:
            if self._file is not None:
                self._file.write(redact(str(message), self.secrets))
                self._file.flush()

    def write(self, text: str) -> None:
        """A line for run.log (and the terminal with ``--verbose``)."""
        text = redact(text, self.secrets)
        with self._lock:
            if self._file is not None:
                self._file.write(text)
                self._file.flush()
            if self.verbose:
                self.stream.write(text)
                self.stream.flush()

    def line(self, level: str, source: str, message: str) -> None:
        """One stamped line from ``source``."""
        self.write(f"{_stamp()} | {level: <8} | {source} | {message}\n")

    def cell(self, number: int) -> None:
        """Show the running cell in place, on a terminal only."""
        if self.live:
            with self._lock:
                self.stream.write(
                    f"\r\x1b[K[{self.say.label}] cell {number} "
                    f"({self.say.elapsed():.0f} s)"
                )
                self.stream.flush()
                self._shown = True

    def _clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False

    def kernel_output(self) -> int:
        """A pipe for the kernel process's own stdout and stderr; its lines
        go to run.log. Returns the write end, for the child only."""
        read, write = os.pipe()

        def copy() -> None:
            with open(read, encoding="utf-8", errors="replace") as lines:
                for line in lines:
                    self.write(f"{_stamp()} | KERNEL   | kernel | {line}")

        reader = threading.Thread(target=copy, daemon=True)
        reader.start()
        self._readers.append(reader)
        return write


def mask_notebook(path: Path, secrets: Sequence[str]) -> None:
    """The executed notebook at ``path`` with each secret a cell printed or
    raised replaced by ``***`` (as JSON spells it), before it is sealed."""
    import json

    values = [value for value in secrets if value]
    if not values or not path.is_file():
        return
    text = path.read_text(encoding="utf-8")
    masked = redact(text, [json.dumps(value)[1:-1] for value in values])
    if masked != text:
        path.write_bytes(masked.encode("utf-8"))


def append_line(path: Path, level: str, message: str) -> None:
    """A line at the end of a closed run log, if its bundle folder exists
    (``message`` masked by the caller)."""
    if path.parent.is_dir():
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"{_stamp()} | {level: <8} | mlops | {message}\n")


def kernel_manager_class(log: RunLog) -> type:
    """jupyter_client's kernel manager, starting the kernel with its own
    output going into ``log`` instead of the terminal."""
    from jupyter_client.manager import AsyncKernelManager

    class KernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            write = log.kernel_output()
            kw.update(stdout=write, stderr=write)
            try:
                await super().start_kernel(**kw)
            finally:
                os.close(write)  # the kernel holds its own copy

    return KernelManager
