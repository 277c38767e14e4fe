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
    step_terminated(child, 1.0)
    assert ended.read_text() == "KILLED"


def step_terminated(child: Path, delay: float) -> None:
    """`mlops ci`'s step running ``child``, SIGTERM to us after ``delay``."""
    from governed_mlops.cli.ci import _run_to_its_end

    with terminable():
        timer = term_soon(delay)
        try:
            with pytest.raises(Terminated):
                _run_to_its_end(
                    [sys.executable, str(child)], child.parent, dict(os.environ)
                )
        finally:
            timer.cancel()


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


def test_ctrl_c_while_deferred_is_raised_when_the_block_ends():
    """Jenkins on Windows sends Ctrl-C to every process of a build it
    aborts, so one abort can bring several: the second cut the run's end."""
    ended = []
    with terminable():
        with pytest.raises(KeyboardInterrupt) as raised:
            with deferred():
                os.kill(os.getpid(), signal.SIGINT)
                ended.append("the run ended whole")
    assert ended == ["the run ended whole"]
    assert type(raised.value) is KeyboardInterrupt  # not Terminated: exit 130


def test_an_ignored_ctrl_c_stays_ignored():
    """A job started in the background (`&`, nohup) ignores SIGINT."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with terminable():
            assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_signal_held_while_a_run_is_made_is_raised_where_it_is_ended():
    from governed_mlops.termination import raise_pending

    steps = []
    with terminable():
        with deferred(reraise=False):
            os.kill(os.getpid(), signal.SIGTERM)
            steps.append("run made and claimed")
        steps.append("nothing raised yet")
        with pytest.raises(Terminated):
            try:
                raise_pending()
            finally:
                steps.append("run ended")
    assert steps == ["run made and claimed", "nothing raised yet", "run ended"]


def test_ctrl_break_is_handled_as_sigterm_where_there_is_one(monkeypatch):
    """Windows: SIGBREAK (Ctrl-Break) is the signal a command can be asked
    to stop with besides Ctrl-C; by default it ended mlops at once. Here
    SIGUSR1 stands in for it."""
    monkeypatch.setattr(signal, "SIGBREAK", signal.SIGUSR1, raising=False)
    before = signal.getsignal(signal.SIGUSR1)
    with terminable():
        with pytest.raises(Terminated):
            os.kill(os.getpid(), signal.SIGUSR1)
    assert signal.getsignal(signal.SIGUSR1) == before


def test_on_windows_a_steps_command_is_left_to_end_itself(tmp_path, monkeypatch):
    """Passing SIGTERM on is TerminateProcess on Windows (the command killed,
    its runs RUNNING); its console's Ctrl-C or Ctrl-Break reached it too."""
    ended = tmp_path / "ended"
    child = tmp_path / "child.py"
    child.write_text(  # SIGTERM's default action would end it before it writes
        f"import time\ntime.sleep(1.5)\nopen({str(ended)!r}, 'w').write('done')\n"
    )
    monkeypatch.setattr(sys, "platform", "win32")
    step_terminated(child, 0.5)
    assert ended.read_text() == "done"
