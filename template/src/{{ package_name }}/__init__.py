"""The project's package: settings in ``config``, logging in ``logs``."""
