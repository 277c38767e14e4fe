"""Run ``mlflow server`` as a service: its own process group, ready only once
``/health`` answers, stopped with its whole group on Ctrl-C or SIGTERM.

POSIX puts the child in a new session and signals the group; Windows starts it
in a new process group, sends CTRL_BREAK_EVENT and ends what is left with
``taskkill /T /F``. Its output goes to a log file (and the terminal with
``--verbose``), redacted.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from pathlib import Path
from types import FrameType
from typing import IO, Any, Callable, Optional, Protocol

from ..errors import CommandError
from ..stages.installers import redact
from .config import ServerConfig

GRACE = 15.0  # seconds the group has to stop after the polite signal
POLL = 0.25  # seconds between /health probes
CREATE_NEW_PROCESS_GROUP = 0x00000200  # subprocess's constant, on Windows only
PR_SET_PDEATHSIG = 1  # linux/prctl.h
JOB_EXECUTION = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"
# Exit codes: a service manager's stop is a success; Ctrl-C is 130 as for
# every mlops command.
EXIT_CODES = {"SIGINT": 130, "SIGTERM": 0, "SIGBREAK": 0}


class Child(Protocol):
    """What :func:`stop_group` needs of a ``subprocess.Popen``."""

    pid: int

    def poll(self) -> Optional[int]: ...

    def wait(self, timeout: Optional[float] = None) -> int: ...

    def send_signal(self, sig: int) -> None: ...


def server_command(config: ServerConfig) -> list[str]:
    """``mlflow server``'s argv: no backend URI (it may hold a password; the
    child reads ``MLFLOW_BACKEND_STORE_URI``, see :func:`server_env`)."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--artifacts-destination",
        config.artifacts,
        "--host",
        config.host,
        "--port",
        str(config.port),
        "--workers",
        str(config.workers),
    ]


def server_env(
    config: ServerConfig, environ: Optional[dict[str, str]] = None
) -> dict[str, str]:
    """The child's environment: this one without the project's secrets, plus
    the backend URI and, unless the user set it, MLflow's GenAI job runner
    off (a dozen processes and seconds of start that runs never use)."""
    from ..settings import is_index_password

    hidden = set(config.secrets)
    base = os.environ if environ is None else environ
    env = {
        k: v for k, v in base.items() if v not in hidden and not is_index_password(k)
    }
    env["MLFLOW_BACKEND_STORE_URI"] = config.backend
    env.setdefault(JOB_EXECUTION, "false")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def popen_options(windows: bool) -> dict[str, Any]:
    """Start the child in a group of its own, so a signal reaches all of it
    (uvicorn's workers, MLflow's job runner) and Ctrl-C reaches only us."""
    if windows:
        return {"creationflags": CREATE_NEW_PROCESS_GROUP}
    options: dict[str, Any] = {"start_new_session": True}
    if sys.platform.startswith("linux"):
        options["preexec_fn"] = die_with_parent
    return options


def die_with_parent() -> None:
    """In the child, before exec (Linux): SIGTERM when ``mlops`` dies, even
    by SIGKILL, so the server never outlives the command that owns it."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def stop_group(
    child: Child,
    windows: bool,
    grace: float = GRACE,
    signal_group: Optional[Callable[[int, int], None]] = None,
    run: Callable[..., Any] = subprocess.run,
) -> None:
    """Stop the child's whole group: politely, then by force after ``grace``
    seconds; on POSIX whatever of the group outlived its leader too."""
    if windows:
        if child.poll() is None:
            child.send_signal(getattr(signal, "CTRL_BREAK_EVENT", 1))
            try:
                child.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        # Kill the tree whatever is left of it (a no-op when it is gone).
        run(
            ["taskkill", "/T", "/F", "/PID", str(child.pid)],
            capture_output=True,
            check=False,
        )
        child.wait()
        return
    send = signal_group or getattr(os, "killpg")
    _signal(send, child.pid, signal.SIGTERM)
    try:
        child.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    _signal(send, child.pid, signal.SIGKILL)
    child.wait()


def _signal(send: Callable[[int, int], None], group: int, sig: int) -> None:
    try:
        send(group, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group is gone already


def answers(url: str, timeout: float = 2.0) -> bool:
    """Whether the server's ``/health`` answers 200."""
    health = url + "/health"
    try:
        # B310 (any scheme): the URL is http://host:port, built by ServerConfig.
        with urllib.request.urlopen(health, timeout=timeout) as reply:  # nosec B310
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


# "sqlalchemy.exc.ProgrammingError: (...) permission denied for schema public"
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit)(?::|$)")


class Output:
    """Copies the child's output, redacted, to the log (and the terminal),
    keeping its last lines for a message."""

    def __init__(
        self, stream: IO[str], log: Path, secrets: tuple[str, ...], verbose: bool
    ):
        self.tail: deque[str] = deque(maxlen=20)
        self._stream, self._log, self._secrets = stream, log, secrets
        self._verbose = verbose
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        with open(self._log, "a", encoding="utf-8") as log:
            for raw in self._stream:
                line = redact(raw.rstrip("\n"), self._secrets)
                self.tail.append(line)
                print(line, file=log, flush=True)
                if self._verbose:
                    print(line, file=sys.stderr, flush=True)

    def last_line(self) -> str:
        """The last line worth showing: a traceback's exception line, not
        what follows it (SQLAlchemy's "(Background on this error at: ...)"
        link), else the last line."""
        self._thread.join(timeout=2)
        lines = [line.strip() for line in self.tail if line.strip()]
        for line in reversed(lines):
            if EXCEPTION_LINE.match(line):
                return line[:300]
        return lines[-1][:300] if lines else "no output"


class Stop:
    """The signal that asked us to stop, set by our handlers."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.name = ""

    def __call__(self, signum: int, frame: Optional[FrameType]) -> None:
        self.name = signal.Signals(signum).name
        self.event.set()


def signals_to_catch() -> list[signal.Signals]:
    """Ctrl-C and a service manager's stop (SIGTERM; SIGBREAK on Windows)."""
    names = ("SIGINT", "SIGTERM", "SIGBREAK")
    return [getattr(signal, n) for n in names if hasattr(signal, n)]


def serve(
    config: ServerConfig,
    say: Callable[[str], None],
    verbose: bool = False,
    start_timeout: float = 300.0,
) -> int:
    """Run the server until a signal stops it; the exit code."""
    windows = os.name == "nt"
    config.log.parent.mkdir(parents=True, exist_ok=True)
    stop = Stop()
    previous = {sig: signal.signal(sig, stop) for sig in signals_to_catch()}
    try:
        process = subprocess.Popen(
            server_command(config),
            env=server_env(config),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            **popen_options(windows),
        )
        assert process.stdout is not None  # nosec B101 # stdout=PIPE above
        output = Output(process.stdout, config.log, config.secrets, verbose)
        try:
            _supervise(process, output, config, stop, say, start_timeout)
        finally:
            stop_group(process, windows)
        say(f"tracking server at {config.url} stopped ({stop.name})")
        return EXIT_CODES.get(stop.name, 0)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _supervise(
    process: "subprocess.Popen[str]",
    output: Output,
    config: ServerConfig,
    stop: Stop,
    say: Callable[[str], None],
    start_timeout: float,
) -> None:
    """Wait for ``/health``, then for a signal; raise when the child dies."""
    deadline = time.monotonic() + start_timeout
    while not answers(config.url):
        if stop.event.is_set():
            return
        if process.poll() is not None:
            raise CommandError(
                f"mlflow server exited with code {process.returncode} while "
                f"starting ({output.last_line()}); its output is in {config.log}"
            )
        if time.monotonic() > deadline:
            raise CommandError(
                f"mlflow server did not answer {config.url}/health within "
                f"{start_timeout:.0f} s and was stopped; its output is in {config.log}"
            )
        stop.event.wait(POLL)
    say(f"tracking server ready at {config.url} (Ctrl-C stops it)")
    while not stop.event.wait(0.5):
        if process.poll() is not None:
            raise CommandError(
                f"mlflow server exited with code {process.returncode} "
                f"({output.last_line()}); its output is in {config.log}"
            )
