"""Errors reported to the user as one message, without a traceback."""


class CommandError(Exception):
    """An expected failure of an ``mlops`` command (exit code 2)."""

    exit_code = 2


class StageFailed(CommandError):
    """A stage's notebook failed; its run and audit bundle were still recorded."""

    exit_code = 1
