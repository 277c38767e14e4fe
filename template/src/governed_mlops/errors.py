"""Errors reported to the user as one message, without a traceback."""


class CommandError(Exception):
    """An expected failure of an ``mlops`` command (exit code 2)."""
