"""The contract between the tools and a project's settings.

A project's ``src/<package>/config.py`` provides ``get_settings()``, returning
an object with the fields of :class:`ProjectSettings`, and ``ENV_PREFIX``,
the prefix of its environment variables; ``<package>.logs`` provides
``configure_logging(settings)``. The generated ``Settings`` (pydantic-settings)
has all of them: a project may add fields, not remove these. The tools read
settings only through :func:`load`, which names any missing field.

Fields added since (``stage_cache``, ``osv_url``, ``publish_*``, the tracking
server's ``mlflow_backend_store_uri``, ``mlflow_artifacts_destination`` and
``mlflow_server_workers``) are optional: projects from older templates lack
them, so the tools read them with ``getattr`` and a default.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional, Protocol, Sequence, cast

from .errors import CommandError
from .project import Project

if TYPE_CHECKING:
    from .stages.installers import Access


class Secret(Protocol):
    """A secret value (pydantic's ``SecretStr``): shown as ``***``."""

    def get_secret_value(self) -> str: ...


class ProjectSettings(Protocol):
    """What the tools read from a project's settings."""

    project_root: Path
    data_dir: Path
    models_dir: Path
    logs_dir: Path
    artifacts_dir: Path
    mlflow_dir: Path
    mlflow_tracking_uri: str
    mlflow_experiment: str
    mlflow_host: str
    mlflow_port: int
    mlflow_tracking_username: str
    mlflow_tracking_password: Secret
    package_index_token: Secret

    @property
    def mlflow_artifacts_dir(self) -> Path:
        """Artifact root of the embedded store and of `mlops tracking server`."""
        ...

    def secret_values(self) -> list[str]:
        """Every non-empty secret value, for redaction."""
        ...


# Every member of the contract, checked by name when settings are loaded.
FIELDS = tuple(ProjectSettings.__annotations__) + (
    "mlflow_artifacts_dir",
    "secret_values",
)


def missing_fields(settings: Any) -> list[str]:
    """The members of :class:`ProjectSettings` that ``settings`` lacks."""
    return [name for name in FIELDS if not hasattr(settings, name)]


def load(project: Project) -> ProjectSettings:
    """The project's settings (``<package>.config.get_settings()``), checked
    against the contract."""
    config = project.import_module("config")
    try:
        settings = config.get_settings()
    except SystemExit as invalid:  # the template's SettingsError: its message
        raise CommandError(str(invalid.code)) from None
    except UnicodeDecodeError as error:
        raise CommandError(
            f"{project.root / '.env'} (or another settings file): not UTF-8 text "
            f"(byte {error.start}); save it as UTF-8"
        ) from None
    missing = missing_fields(settings)
    if missing:
        raise CommandError(
            f"src/{project.package}/config.py: the settings lack "
            f"{', '.join(missing)}, which the governed-mlops tools read; keep "
            f"them in Settings (see the template's config.py)"
        )
    return cast(ProjectSettings, settings)  # every member is there: checked above


# uv's login for the project's private index (``[[tool.uv.index]] name =
# "private"`` when the template was answered with one): what CI sets, for
# `uv sync` and, where the setting is unset, for the tools.
INDEX_USERNAME = "UV_INDEX_PRIVATE_USERNAME"
INDEX_PASSWORD = "UV_INDEX_PRIVATE_PASSWORD"  # nosec B105 # pragma: allowlist secret
_UV_INDEX_PASSWORD = re.compile(r"UV_INDEX_\w+_PASSWORD")


# The CI secret the wrappers hand to uv (docs/ci.md, "A private package index").
CI_INDEX_TOKEN = "PACKAGE_INDEX_TOKEN"  # nosec B105 # a variable's name


def is_index_password(name: str) -> bool:
    """Whether variable ``name`` holds an index's password: uv's of a named
    index, or the CI secret the wrappers hand to uv."""
    upper = name.upper()
    return upper == CI_INDEX_TOKEN or bool(_UV_INDEX_PASSWORD.fullmatch(upper))


def index_token(settings: Any) -> str:
    """The package index token: the setting ``PACKAGE_INDEX_TOKEN``, else
    uv's ``UV_INDEX_PRIVATE_PASSWORD`` (one CI secret serves both)."""
    token = getattr(settings, "package_index_token", None)
    value = token.get_secret_value() if token is not None else ""
    return value or os.environ.get(INDEX_PASSWORD, "")


def secret_env_names(
    settings: Any, prefix: str, keep: tuple[str, ...] = ()
) -> list[str]:
    """The variables of this environment that hold the settings' secrets
    (``<PREFIX><FIELD>``, in any case, as pydantic-settings reads them), and
    uv's index passwords (``UV_INDEX_<NAME>_PASSWORD``), but those of the
    fields in ``keep``: what a child that does not need them must not
    inherit."""
    fields = getattr(type(settings), "model_fields", {})
    secret = {
        f"{prefix}{name}".upper()
        for name in fields
        if name not in keep
        and hasattr(getattr(settings, name, None), "get_secret_value")
    }
    uv_index = "package_index_token" not in keep
    return [
        key
        for key in os.environ
        if key.upper() in secret or (uv_index and is_index_password(key))
    ]


def env_prefix(project: Project) -> str:
    """The prefix of the project's environment variables (``MYPKG_``)."""
    return str(getattr(project.import_module("config"), "ENV_PREFIX", ""))


def child_env(
    secrets: Sequence[str], extra: Optional[Mapping[str, str]] = None
) -> dict[str, str]:
    """This process's environment without any variable holding one of the
    project's secrets, plus ``extra`` (what the child needs)."""
    hidden = {s for s in secrets if s}
    env = {k: v for k, v in os.environ.items() if v not in hidden}
    env.update(extra or {})
    return env


def installer_access(project: Project) -> Access:
    """What the project's installer commands get: the index token, and this
    environment without the settings' other secrets (an MLflow password, an
    upload token). A project not installed here has no settings to read: the
    token is then uv's variable, as CI sets it."""
    from .stages.installers import Access

    try:
        settings = load(project)
    except ImportError:
        return Access(index_token(None))
    token = index_token(settings)
    return Access(token, child_env([s for s in settings.secret_values() if s != token]))
