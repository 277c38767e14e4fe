"""Project settings, read from environment variables and the project's `.env`.

Every setting is an environment variable named after the package, e.g.
``MYPKG_LOG_LEVEL=DEBUG`` for package ``mypkg``. ``.env.example`` lists them all.
Relative paths are resolved against the project root, so notebooks, the
``mlops`` runner and tests agree on where data, logs and the MLflow store live
whatever their working directory.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path, PurePath
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE = __name__.split(".")[0]
ENV_PREFIX = f"{PACKAGE.upper()}_"

LogLevel = Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"]
Compression = Literal["gz", "bz2", "xz", "zip", "tar.gz", "none"]
StageCache = Literal["local", "mlflow"]

PATH_FIELDS = ("data_dir", "models_dir", "logs_dir", "artifacts_dir", "mlflow_dir")
# Never shown in a message: secrets, and the URI that may hold a password.
SECRET_FIELDS = (
    "mlflow_tracking_password",
    "package_index_token",
    "publish_token",
    "mlflow_backend_store_uri",
)

# Set by `mlops` in a stage's kernel, which logs to MLflow through MLflow's
# own variables: its settings hold none of the secrets, `.env`'s included.
KERNEL_VARIABLE = "GOVERNED_MLOPS_KERNEL"


def default_project_root() -> Path:
    """The project holding this package (editable install), else the cwd."""
    candidate = Path(__file__).resolve().parents[2]
    if (candidate / "pyproject.toml").is_file():
        return candidate
    return Path.cwd()


def sqlite_uri(path: PurePath) -> str:
    """An absolute SQLAlchemy SQLite URI, valid on POSIX and Windows.

    ``/srv/p/mlflow.db`` gives ``sqlite:////srv/p/mlflow.db``;
    ``C:\\p\\mlflow.db`` gives ``sqlite:///C:/p/mlflow.db``.
    """
    if not path.is_absolute():
        raise ValueError(f"an absolute path is needed for a SQLite URI, got {path}")
    return "sqlite:///" + path.as_posix()


class SettingsError(SystemExit):
    """Invalid settings: exits with one readable message when not caught."""


class Settings(BaseSettings):
    """Typed project settings (see `.env.example` for every variable).

    The `mlops` tools read these through `get_settings()`: keep the fields of
    `governed_mlops.settings.ProjectSettings` (the paths, the MLflow and
    package-index settings, `mlflow_artifacts_dir`, `secret_values()`);
    add your own freely. `mlops info` names a field that is missing.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=default_project_root() / ".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    project_root: Path = Field(default_factory=default_project_root)
    data_dir: Path = Path("data")
    models_dir: Path = Path("models")
    logs_dir: Path = Path("logs")
    artifacts_dir: Path = Path("artifacts")

    log_level: LogLevel = "INFO"
    log_json: bool = False
    log_rotation_mb: float = Field(10.0, gt=0)
    log_rotation_time: str = Field("00:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    log_retention_days: int = Field(30, ge=1)
    log_compression: Compression = "gz"

    mlflow_dir: Path = Path("mlruns")
    mlflow_tracking_uri: str = ""
    mlflow_experiment: str = PACKAGE
    mlflow_host: str = "127.0.0.1"
    mlflow_port: int = Field(5000, ge=1, le=65535)
    # The MLflow UI the pipeline report's run links open (`mlops report
    # build`); empty: the tracking server, else http://MLFLOW_HOST:MLFLOW_PORT.
    mlflow_ui_url: str = ""
    mlflow_tracking_username: str = ""
    mlflow_tracking_password: SecretStr = SecretStr("")
    package_index_token: SecretStr = SecretStr("")
    # `mlops tracking server` for a team: its database (postgresql://user@host/db,
    # mysql://, mssql+pyodbc://; a secret, as it may hold the password) and
    # where it keeps artifacts (a shared folder or an object store URI); empty:
    # the SQLite store and artifact folder in mlflow_dir. Workers: 0 sizes
    # them to the machine.
    mlflow_backend_store_uri: SecretStr = SecretStr("")
    mlflow_artifacts_destination: str = ""
    mlflow_server_workers: int = Field(0, ge=0)
    # Outputs of unchanged stages: in .mlops/cache/ only, or on the tracking
    # store's runs as well, shared by every machine that records there.
    stage_cache: StageCache = "local"
    # The OSV query endpoint `mlops ci audit` asks about every locked package:
    # empty is the public https://api.osv.dev/v1/query; set your mirror's.
    osv_url: str = ""
    # `mlops ci publish`: the upload URL of the organisation's package index
    # (its upload API, not the /simple/ page) and the account; the token is a
    # secret from the CI's credentials.
    publish_url: str = ""
    publish_username: str = "__token__"
    publish_token: SecretStr = SecretStr("")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def model_post_init(self, __context: object) -> None:
        self.project_root = self.project_root.expanduser().resolve()
        for name in PATH_FIELDS:
            path = getattr(self, name).expanduser()
            if not path.is_absolute():
                path = self.project_root / path
            setattr(self, name, path.resolve())
        if not self.mlflow_tracking_uri:
            self.mlflow_tracking_uri = sqlite_uri(self.mlflow_dir / "mlflow.db")

    @property
    def mlflow_artifacts_dir(self) -> Path:
        """Artifact root used by the embedded store and `mlflow server`."""
        return self.mlflow_dir / "artifacts"

    def secret_values(self) -> list[str]:
        """Non-empty secret values, for log redaction."""
        values = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                values.append(value.get_secret_value())
        return values


def describe_error(error: ValidationError) -> str:
    """One readable message naming each bad variable and what it accepts."""
    lines = ["Invalid settings (environment or .env):"]
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "?"
        variable = ENV_PREFIX + field.upper()
        shown = "***" if field in SECRET_FIELDS else item["input"]
        lines.append(f"  {variable}={shown!s}: {item['msg']}")
    return "\n".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning validation errors into a `SettingsError`."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(describe_error(error)) from None


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once; ``get_settings.cache_clear()`` reloads.
    In a stage's kernel under `mlops` (``KERNEL_VARIABLE``) without secrets."""
    settings = load_settings()
    if os.environ.get(KERNEL_VARIABLE) == "1":
        blank = {name: SecretStr("") for name in SECRET_FIELDS}
        settings = settings.model_copy(update=blank)
    return settings
