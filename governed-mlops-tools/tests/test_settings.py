"""The settings contract's helpers: the index token's sources, and which
variables a child that needs no secret must not inherit."""

from __future__ import annotations

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
    monkeypatch.setenv("APP_MLFLOW_EXPERIMENT", "e")
    hidden = set(settings.secret_env_names(Settings(), "APP_"))
    assert hidden == {
        "APP_PACKAGE_INDEX_TOKEN",
        "app_mlflow_tracking_password",
        "UV_INDEX_PRIVATE_PASSWORD",
        "UV_INDEX_MIRROR_PASSWORD",
    }
    kept = settings.secret_env_names(
        Settings(), "APP_", keep=("package_index_token", "mlflow_tracking_password")
    )
    assert kept == []
