"""What the tracking server serves: backend, artifacts, address and workers.

CLI options win over the project's settings, which win over the defaults
(the project's SQLite store and ``<mlflow_dir>/artifacts``, workers sized to
the machine). The backend URI may hold a password: it travels to
``mlflow server`` in its environment only and is shown through
:func:`redact_uri`.
"""

from __future__ import annotations

import os
import re
import dataclasses
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import CommandError
from ..runner.tracking import sqlite_uri
from ..settings import ProjectSettings

# The databases MLflow's SQL store supports (SQLAlchemy dialects).
SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
ALLOWED = "sqlite:///PATH, postgresql://, mysql:// or mssql+pyodbc://"
MAX_DEFAULT_WORKERS = 4


@dataclass(frozen=True)
class ServerConfig:
    """One tracking server's configuration (``backend`` may hold a secret)."""

    backend: str = field(repr=False)
    artifacts: str
    host: str
    port: int
    workers: int
    log: Path
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def url(self) -> str:
        """Where clients reach it (``0.0.0.0`` and ``::`` answer locally)."""
        host = loopback(self.host)
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}"

    @property
    def shown_backend(self) -> str:
        """The backend URI without its password."""
        return redact_uri(self.backend)


def loopback(host: str) -> str:
    """A server listening on every address (``0.0.0.0``, ``::``) answers on
    the loopback one; any other host as it is."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if not address.is_unspecified:
        return host
    return "::1" if address.version == 6 else "127.0.0.1"


def local_host(host: str) -> bool:
    """``localhost``, a loopback address, or the any-address a server on this
    machine listens on (answered on the loopback one: :func:`loopback`)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(loopback(host)).is_loopback
    except ValueError:
        return False


# Query parameters whose value is a credential (password=, token=, api_key=,
# sig= ...): masked like a netloc's password.
_SECRET_KEY = re.compile(r"pass|token|secret|key|sig|auth", re.IGNORECASE)


def redact_uri(uri: str) -> str:
    """``uri`` with the password of its netloc and the value of each
    credential query parameter (``password=``, ``token=`` ...) as ``***``."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "***"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, password = userinfo.partition(":")
        if colon and password:
            netloc = f"{user}:***@{hostport}"
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(_SECRET_KEY.search(key) for key, _ in pairs):
        query = urlencode(
            [(k, "***" if _SECRET_KEY.search(k) else v) for k, v in pairs],
            safe="/*",
        )
    if (netloc, query) == (parts.netloc, parts.query):
        return uri  # urlunsplit would drop sqlite:////'s empty netloc
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def uri_secrets(uri: str) -> list[str]:
    """The password a URI holds (netloc or query), for redaction of text."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return [uri]
    found = [parts.password or ""]
    found += [v for k, v in parse_qsl(parts.query) if _SECRET_KEY.search(k)]
    return [value for value in found if value]


def scheme_of(uri: str) -> str:
    """The database of a SQLAlchemy URI: ``postgresql+psycopg2://`` gives
    ``postgresql``."""
    return uri.split("://", 1)[0].split("+", 1)[0].lower() if "://" in uri else ""


def check_scheme(uri: str, source: str) -> None:
    """Refuse a backend MLflow's SQL store cannot use, naming where it came
    from (``source``) and what is allowed."""
    scheme = scheme_of(uri)
    if scheme not in SCHEMES:
        shown = uri.split("://", 1)[0] + "://" if "://" in uri else redact_uri(uri)
        raise CommandError(
            f"{source}: unsupported backend {shown!r}; the tracking server "
            f"needs a database URI: {ALLOWED}"
        )


# SQLAlchemy's reading of a URI's login: the user name up to ``:`` or ``/``,
# the password up to the first ``@``.
_SQLALCHEMY_LOGIN = re.compile(r"([^:/]*)(?::([^@]*))?@")


def check_login(uri: str, source: str) -> None:
    """Refuse a database URI whose login SQLAlchemy and URL parsing read
    differently (an unencoded ``@``, ``/``, ``?`` or ``#`` in the password):
    the driver would go to another host, and the password could be shown."""
    rest = uri.split("://", 1)[1] if "://" in uri else ""
    found = _SQLALCHEMY_LOGIN.match(rest)
    theirs = found.group(0)[:-1] if found else ""
    try:
        ours = urlsplit(uri).netloc.rpartition("@")[0]
    except ValueError:
        ours = None
    if theirs != ours:
        raise CommandError(
            f"{source}: the user name or password in the database URI holds a "
            f"character to percent-encode: @ as %40, / as %2F, ? as %3F, # as "
            f"%23, and : in the user name as %3A (e.g. a password p@ss written "
            f"p%40ss)"
        )


def cpu_count() -> int:
    """The CPUs this process may use (its affinity, else the machine's)."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        return max(1, len(affinity(0)))
    return max(1, os.cpu_count() or 1)


def size_workers(requested: int, cpus: int) -> int:
    """Workers for ``cpus`` CPUs: what was asked for (0: half the CPUs, at
    most :data:`MAX_DEFAULT_WORKERS`), never more than the CPUs. Each worker
    imports MLflow's app; more workers than CPUs only slow the start."""
    wanted = requested if requested > 0 else min(MAX_DEFAULT_WORKERS, cpus // 2)
    return max(1, min(wanted, cpus))


def _setting(settings: ProjectSettings, name: str, default: Any) -> Any:
    """An optional setting: projects from older templates lack it."""
    value = getattr(settings, name, default)
    secret = getattr(value, "get_secret_value", None)
    return secret() if callable(secret) else value


def from_settings(
    settings: ProjectSettings,
    prefix: str,
    backend: Optional[str] = None,
    artifacts: Optional[str] = None,
    host: Optional[str] = None,
    port: Optional[int] = None,
    workers: Optional[int] = None,
) -> ServerConfig:
    """The server's configuration: the options given, else the settings."""
    source = "--backend-store-uri"
    if backend is None:
        backend = str(_setting(settings, "mlflow_backend_store_uri", "") or "")
        source = f"{prefix}MLFLOW_BACKEND_STORE_URI"
    if not backend:
        backend = sqlite_uri(settings.mlflow_dir / "mlflow.db")
    check_scheme(backend, source)
    check_login(backend, source)
    if artifacts is None:
        artifacts = str(_setting(settings, "mlflow_artifacts_destination", "") or "")
    if not artifacts:
        artifacts = str(settings.mlflow_artifacts_dir)
    if workers is None:
        workers = int(_setting(settings, "mlflow_server_workers", 0) or 0)
    if workers < 0:
        raise CommandError(
            f"workers must be 0 (sized to the machine) or more, got {workers}"
        )
    secrets = [*settings.secret_values(), *uri_secrets(backend)]
    return ServerConfig(
        backend=backend,
        artifacts=artifacts,
        host=host or settings.mlflow_host,
        port=port or settings.mlflow_port,
        workers=size_workers(workers, cpu_count()),
        log=settings.logs_dir / "mlflow-server.log",
        secrets=tuple(dict.fromkeys(s for s in secrets if s)),
    )


def replace_backend(config: ServerConfig, backend: str) -> ServerConfig:
    """``config`` serving ``backend`` instead (the same database, a driver
    named)."""
    return dataclasses.replace(config, backend=backend)
