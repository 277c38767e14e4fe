from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

from conftest import PROJECT


def test_paths_resolve_against_project_root(config, tmp_path):
    settings = config.get_settings()
    assert settings.project_root == tmp_path.resolve()
    for name in config.PATH_FIELDS:
        assert getattr(settings, name).parent == tmp_path.resolve()


def test_default_tracking_uri_is_absolute_sqlite_inside_project(config, tmp_path):
    settings = config.get_settings()
    expected = (tmp_path / "mlruns" / "mlflow.db").resolve().as_posix()
    assert settings.mlflow_tracking_uri == "sqlite:///" + expected
    assert settings.mlflow_artifacts_dir == tmp_path.resolve() / "mlruns" / "artifacts"


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        (
            PurePosixPath("/srv/proj/mlruns/mlflow.db"),
            "sqlite:////srv/proj/mlruns/mlflow.db",
        ),
        (
            PureWindowsPath(r"C:\proj\mlruns\mlflow.db"),
            "sqlite:///C:/proj/mlruns/mlflow.db",
        ),
    ],
)
def test_sqlite_uri_on_posix_and_windows(config, path, uri):
    assert config.sqlite_uri(path) == uri


def test_sqlite_uri_refuses_relative_path(config):
    with pytest.raises(ValueError, match="absolute"):
        config.sqlite_uri(PurePosixPath("mlflow.db"))


def test_environment_overrides_and_relative_paths(config, monkeypatch, tmp_path):
    monkeypatch.setenv(config.ENV_PREFIX + "LOG_LEVEL", "debug")
    monkeypatch.setenv(config.ENV_PREFIX + "DATA_DIR", "store/data")
    settings = config.get_settings()
    assert settings.log_level == "DEBUG"
    assert settings.data_dir == tmp_path.resolve() / "store" / "data"


def test_dotenv_file_is_read(config, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(f"{config.ENV_PREFIX}MLFLOW_PORT=5123\n", encoding="utf-8")
    assert config.Settings(_env_file=env_file).mlflow_port == 5123


def test_accessor_is_cached(config):
    assert config.get_settings() is config.get_settings()


def test_secrets_are_hidden_in_repr(config, monkeypatch):
    monkeypatch.setenv(config.ENV_PREFIX + "MLFLOW_TRACKING_PASSWORD", "hunter2")
    settings = config.get_settings()
    assert "hunter2" not in repr(settings)
    assert settings.secret_values() == ["hunter2"]


def test_a_stage_kernel_under_mlops_gets_settings_without_secrets(config, monkeypatch):
    """`mlops` runs a stage's kernel with GOVERNED_MLOPS_KERNEL=1: the kernel
    logs to MLflow through MLflow's own variables, and its settings hold no
    secret for a notebook to print, `.env`'s included."""
    token = "upload-tok"  # pragma: allowlist secret
    monkeypatch.setenv(config.ENV_PREFIX + "PUBLISH_TOKEN", token)
    monkeypatch.setenv(config.ENV_PREFIX + "LOG_LEVEL", "debug")
    assert config.get_settings().secret_values() == [token]
    config.get_settings.cache_clear()
    monkeypatch.setenv(config.KERNEL_VARIABLE, "1")
    settings = config.get_settings()
    assert settings.secret_values() == [] and settings.log_level == "DEBUG"


def test_bad_value_names_variable_and_allowed_values(config, monkeypatch):
    monkeypatch.setenv(config.ENV_PREFIX + "LOG_LEVEL", "LOUD")
    with pytest.raises(config.SettingsError) as caught:
        config.get_settings()
    message = str(caught.value)
    assert f"{config.ENV_PREFIX}LOG_LEVEL=LOUD" in message
    assert "'DEBUG'" in message and "'CRITICAL'" in message


def test_bad_value_stops_start_up_without_traceback(config, monkeypatch):
    monkeypatch.setenv(config.ENV_PREFIX + "MLFLOW_PORT", "99999")
    with pytest.raises(SystemExit) as stop:
        config.get_settings()
    # A SystemExit whose code is text: Python prints the text alone, with no
    # traceback, and exits with status 1 (no interpreter needed to show it).
    message = stop.value.code
    assert isinstance(message, str)
    assert f"{config.ENV_PREFIX}MLFLOW_PORT=99999" in message
    assert "less than or equal to 65535" in message


def test_env_example_lists_every_setting(config):
    text = (Path(PROJECT.root) / ".env.example").read_text(encoding="utf-8")
    listed = {
        line.lstrip("# ").split("=", 1)[0].strip()
        for line in text.splitlines()
        if "=" in line and line.lstrip("# ").startswith(config.ENV_PREFIX)
    }
    expected = {
        config.ENV_PREFIX + name.upper() for name in config.Settings.model_fields
    }
    assert listed == expected
