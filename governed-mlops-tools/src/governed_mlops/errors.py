"""Errors reported to the user as one message, without a traceback."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .runner.execute import StageResult


class CommandError(Exception):
    """An expected failure of an ``mlops`` command (exit code 2)."""

    exit_code = 2


class CheckFailed(CommandError):
    """The command ran and what it checked failed (exit code 1): a stage's
    notebook, a vulnerability audit."""

    exit_code = 1


class StageFailed(CheckFailed):
    """A stage's notebook failed; its run and audit bundle were still recorded."""

    result: StageResult  # set when the runner raises it (Runner.run_stage)
