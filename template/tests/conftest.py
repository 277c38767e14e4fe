"""Shared fixtures: the project's own modules, isolated from the developer's setup."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from loguru import logger

from governed_mlops.project import find_project

PROJECT = find_project(Path(__file__).parent)


@pytest.fixture
def config(monkeypatch, tmp_path):
    """The project's ``config`` module with a clean environment and a temp root.

    Variables of the developer's shell and the project's ``.env`` are hidden, so
    tests see the defaults unless they set something themselves.
    """
    module = PROJECT.import_module("config")
    for name in list(os.environ):
        if name.startswith(module.ENV_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.setitem(module.Settings.model_config, "env_file", None)
    monkeypatch.setenv(module.ENV_PREFIX + "PROJECT_ROOT", str(tmp_path))
    module.get_settings.cache_clear()
    yield module
    module.get_settings.cache_clear()


@pytest.fixture
def logs(config):
    """The project's ``logs`` module; its sinks are removed after the test."""
    module = PROJECT.import_module("logs")
    yield module
    logger.remove()
