"""Checks before ``mlflow server`` starts, each failing with one line.

``mlflow server`` itself reports a taken port or a dead database after
seconds of imports, in a traceback, and may still exit 0: these say it first.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import socket
from typing import Any, Optional

from ..errors import CommandError
from ..stages.installers import redact
from .config import ServerConfig, redact_uri, scheme_of

CONNECT_TIMEOUT = 5  # seconds to reach the database
# Every name the OS gives a taken address: Linux/macOS, then Windows.
IN_USE = {errno.EADDRINUSE, 10048}
# By SQLAlchemy driver name, else by database (docs/runner.md, "Backend").
DRIVER_HINTS = {
    "postgresql+psycopg": "add psycopg 3 to the env the server runs from: "
    'uv add --group pipeline "psycopg[binary]"',
    "postgresql": "add psycopg2 to the env the server runs from: "
    "uv add --group pipeline psycopg2-binary (the tools' postgres extra brings "
    "the same)",
    "mysql": "install a MySQL driver, e.g. pymysql with mysql+pymysql://",
    "mssql": "install pyodbc and Microsoft's ODBC Driver for SQL Server "
    "(mssql+pyodbc://...?driver=ODBC+Driver+18+for+SQL+Server)",
}


def listen_problem(host: str, port: int) -> Optional[str]:
    """Why ``host:port`` cannot be listened on: ``"in use"``, the system's
    reason (an unknown host, an address not ours), or None when it can."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:  # socket.gaierror: no such host
        return str(error.strerror or error)
    family = infos[0][0] if infos else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        if os.name != "nt":
            # As servers bind: a port in TIME_WAIT is free, a listener is not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(infos[0][4] if infos else (host, port))
        except OSError as error:
            if error.errno in IN_USE or getattr(error, "winerror", 0) in IN_USE:
                return "in use"
            return str(error.strerror or error)
    return None


def check_port(host: str, port: int, prefix: str = "") -> None:
    """Refuse when ``host:port`` cannot be listened on (taken, not ours)."""
    problem = listen_problem(host, port)
    if problem == "in use":
        raise CommandError(
            f"port {port} on {host} is already in use (another tracking "
            f"server?): stop it, or pick another with --port or "
            f"{prefix}MLFLOW_PORT"
        )
    if problem:
        raise CommandError(
            f"cannot listen on {host}:{port} ({problem}): "
            f"check --host or {prefix}MLFLOW_HOST"
        )


def with_driver(backend: str) -> str:
    """``backend`` with a driver that is installed: a bare ``postgresql://``
    gets psycopg2 when SQLAlchemy's default (psycopg 3) is missing. Refuses a
    URI SQLAlchemy cannot parse or whose driver is not installed."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    scheme = scheme_of(backend)
    driver = backend.split("://", 1)[0].lower()
    hint = DRIVER_HINTS.get(driver) or DRIVER_HINTS.get(scheme)
    try:
        url = make_url(backend)
        url.get_dialect().import_dbapi()
    except NoSuchModuleError:  # an ArgumentError: first
        raise CommandError(
            f"SQLAlchemy has no driver {backend.split('://', 1)[0]!r}: "
            f"{hint or 'check the URI'}"
        ) from None
    except (ArgumentError, ValueError):
        raise CommandError(
            f"the backend store URI {redact_uri(backend)} is not a database URI "
            f"SQLAlchemy can read"
        ) from None
    except ImportError as missing:
        if url.drivername == "postgresql" and importlib.util.find_spec("psycopg2"):
            return "postgresql+psycopg2://" + backend.split("://", 1)[1]
        raise CommandError(
            f"the {scheme} driver {missing.name or ''} is not installed: "
            f"{hint or 'install it'}"
        ) from None
    return backend


def where(backend: str) -> str:
    """``database <name> on <host>``, for messages (never the password)."""
    from sqlalchemy.engine import make_url

    url = make_url(backend)
    host = url.host or str(url.query.get("host") or "") or "localhost"
    port = f":{url.port}" if url.port else ""
    return f"database {url.database or '(default)'} on {host}{port}"


def _connect_args(backend: str) -> dict[str, Any]:
    scheme = scheme_of(backend)
    if scheme == "mssql":
        return {"timeout": CONNECT_TIMEOUT}
    if scheme in ("postgresql", "mysql"):
        return {"connect_timeout": CONNECT_TIMEOUT}
    return {}


def check_database(config: ServerConfig, source: str) -> None:
    """Refuse when the backend database cannot be connected to; a SQLite
    store's folder is made."""
    backend = config.backend
    if scheme_of(backend) == "sqlite":
        path = backend.split(":///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    engine = create_engine(
        backend, connect_args=_connect_args(backend), poolclass=NullPool
    )
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as error:
        cause = getattr(error, "orig", None) or error
        reason = (str(cause).strip().splitlines() or ["no answer"])[0]
        raise CommandError(
            f"the {where(backend)} is unreachable "
            f"({redact(reason, config.secrets)}): check {source} and that the "
            f"database server runs"
        ) from None
    finally:
        engine.dispose()
