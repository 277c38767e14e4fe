"""Errors reported to the user as one message, without a traceback."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .runner.execute import StageResult


class CommandError(Exception):
    """An expected failure of an ``mlops`` command (exit code 2)."""

    exit_code = 2


class StageFailed(CommandError):
    """A stage's notebook failed; its run and audit bundle were still recorded."""

    exit_code = 1
    result: StageResult  # set when the runner raises it (Runner.run_stage)
