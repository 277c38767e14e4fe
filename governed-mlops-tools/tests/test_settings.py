"""The settings contract's helpers: the index token's sources, and which
variables a child that needs no secret must not inherit."""

from __future__ import annotations

import os

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from governed_mlops import settings


class Settings(BaseSettings):
    package_index_token: SecretStr = SecretStr("")
    mlflow_tracking_password: SecretStr = SecretStr("")
    mlflow_experiment: str = "e"


def test_the_index_token_is_the_setting_else_uvs_login_for_the_index(monkeypatch):
    """One CI secret serves uv (`uv sync` in setup) and the tools."""
    monkeypatch.delenv(settings.INDEX_PASSWORD, raising=False)
    assert settings.index_token(Settings()) == ""
    monkeypatch.setenv(settings.INDEX_PASSWORD, "from-ci")
    assert settings.index_token(Settings()) == "from-ci"
    own = Settings(package_index_token=SecretStr("from-env-file"))
    assert settings.index_token(own) == "from-env-file"


def test_a_child_without_secrets_inherits_no_index_password(monkeypatch):
    monkeypatch.setenv("APP_PACKAGE_INDEX_TOKEN", "t")
    monkeypatch.setenv("app_mlflow_tracking_password", "p")
    monkeypatch.setenv("UV_INDEX_PRIVATE_PASSWORD", "t")
    monkeypatch.setenv("UV_INDEX_MIRROR_PASSWORD", "m")
    monkeypatch.setenv("UV_INDEX_PRIVATE_USERNAME", "__token__")
    monkeypatch.setenv("PACKAGE_INDEX_TOKEN", "c")  # the CI secret, unset by ci.sh
    monkeypatch.setenv("APP_MLFLOW_EXPERIMENT", "e")
    hidden = set(settings.secret_env_names(Settings(), "APP_"))
    assert hidden == {
        "APP_PACKAGE_INDEX_TOKEN",
        "app_mlflow_tracking_password",
        "UV_INDEX_PRIVATE_PASSWORD",
        "UV_INDEX_MIRROR_PASSWORD",
        "PACKAGE_INDEX_TOKEN",
    }
    kept = settings.secret_env_names(
        Settings(), "APP_", keep=("package_index_token", "mlflow_tracking_password")
    )
    assert kept == []


def test_a_replay_kernel_gets_no_secret_of_the_project(monkeypatch):
    from governed_mlops.runner.replay import _kernel_environment

    for name, value in {
        "APP_PUBLISH_TOKEN": "p",
        "UV_INDEX_PRIVATE_PASSWORD": "u",
        "PACKAGE_INDEX_TOKEN": "c",
        "HOME": "/home/ds",
    }.items():
        monkeypatch.setenv(name, value)
    with _kernel_environment("APP_", {"APP_PROJECT_ROOT": "/tmp/replay"}):
        inside = dict(os.environ)
    assert inside["APP_PROJECT_ROOT"] == "/tmp/replay" and inside["HOME"] == "/home/ds"
    hidden = ("APP_PUBLISH_TOKEN", "UV_INDEX_PRIVATE_PASSWORD", "PACKAGE_INDEX_TOKEN")
    assert not set(hidden) & set(inside)
    assert os.environ["UV_INDEX_PRIVATE_PASSWORD"] == "u"  # restored after
