"""SIGTERM ends a run-recording command as Ctrl-C does, never in the middle
of ending a run, and a step's child gets to end its own runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from governed_mlops.termination import Terminated, deferred, terminable


def term_soon(delay: float = 0.2) -> threading.Timer:
    """SIGTERM to this process after ``delay`` seconds (as `kill` sends it)."""
    timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    return timer


def test_sigterm_raises_once_and_later_ones_are_only_noted():
    before = signal.getsignal(signal.SIGTERM)
    with terminable():
        with pytest.raises(Terminated):
            os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)  # a second: no raise
        # A process started now gets SIGTERM's default action, not "ignored".
        shown = subprocess.run(
            [sys.executable, "-c", "import signal as s; print(s.getsignal(15) == 0)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert shown.strip() == "True"  # SIG_DFL
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_sigterm_while_deferred_is_raised_when_the_block_ends():
    ended = []
    with terminable():
        with pytest.raises(Terminated):
            with deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                ended.append("the run ended whole")
    assert ended == ["the run ended whole"]


def test_deferred_changes_nothing_outside_a_terminable_command():
    with deferred():
        pass


def test_a_steps_command_is_passed_sigterm_and_ends_its_runs(tmp_path: Path):
    """`mlops ci pipeline` runs `mlops pipeline run`: killed 0.25 s after the
    interrupt by subprocess.run, its runs stayed RUNNING."""
    from governed_mlops.cli.ci import _run_to_its_end

    ended = tmp_path / "ended"
    child = tmp_path / "child.py"
    child.write_text(
        "import signal, sys, time\n"
        "def stop(signum, frame):\n"
        "    time.sleep(1)  # ending its runs\n"
        f"    open({str(ended)!r}, 'w').write('KILLED')\n"
        "    sys.exit(143)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    with terminable():
        timer = term_soon(1.0)
        try:
            with pytest.raises(Terminated):
                _run_to_its_end(
                    [sys.executable, str(child)], tmp_path, dict(os.environ)
                )
        finally:
            timer.cancel()
    assert ended.read_text() == "KILLED"


def test_handlers_replaced_in_a_block_are_put_back():
    """nbclient's handlers, removed, leave SIGTERM's default behind."""
    import asyncio

    from governed_mlops.termination import kept_handlers

    with terminable():
        ours = signal.getsignal(signal.SIGTERM)
        with kept_handlers():
            loop = asyncio.new_event_loop()
            loop.add_signal_handler(signal.SIGTERM, lambda: None)
            loop.remove_signal_handler(signal.SIGTERM)  # as nbclient does
            loop.close()
            assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        assert signal.getsignal(signal.SIGTERM) == ours
