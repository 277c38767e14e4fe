"""Shared fixtures: the project's own modules, isolated from the developer's setup."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest
from loguru import logger

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


class Project:
    """The project's own package, named in pyproject.toml."""

    def __init__(self, root: Path):
        pyproject = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))
        self.root = root
        self.package = pyproject["tool"]["governed-mlops"]["package"]

    def import_module(self, name: str) -> ModuleType:
        return importlib.import_module(f"{self.package}.{name}")


PROJECT = Project(ROOT)


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
