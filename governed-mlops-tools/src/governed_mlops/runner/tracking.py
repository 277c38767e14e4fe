"""MLflow wiring: the store from the project's settings, checked before a run."""

from __future__ import annotations

import base64
import functools
import logging
import os
import re
from contextlib import contextmanager
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

from ..errors import CommandError
from ..settings import ProjectSettings

# MLflow's HTTP client retries a server that is away for about four minutes
# by default (7 retries, backoff factor 2): a few seconds here, for the
# runner's client and the kernels' (a variable the user set wins).
RETRY_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
}


# The runner's own client draws no progress bars (artifact downloads).
QUIET_ENV = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


def retry_env() -> dict[str, str]:
    """The bounded-retry settings of MLflow's HTTP client not set already."""
    return {key: value for key, value in RETRY_ENV.items() if key not in os.environ}


USER_VARIABLE = "MLFLOW_TRACKING_USERNAME"
PASSWORD_VARIABLE = "MLFLOW_TRACKING_PASSWORD"  # nosec B105 # pragma: allowlist secret


def credentials_env(settings: ProjectSettings) -> dict[str, str]:
    """MLflow's credential variables from the settings (empty ones left out)."""
    env = {}
    if settings.mlflow_tracking_username:
        env[USER_VARIABLE] = settings.mlflow_tracking_username
    password = settings.mlflow_tracking_password.get_secret_value()
    if password:
        env[PASSWORD_VARIABLE] = password
    return env


def client_env(settings: ProjectSettings) -> dict[str, str]:
    """What an MLflow client in another process (a kernel, the model logger)
    gets: the tracking URI without a login, and the login of
    :func:`server_login` as MLflow's credential variables. A login left in
    the URI would be in every error MLflow prints, and so in the run's
    record."""
    uri = settings.mlflow_tracking_uri
    if not is_http(uri):
        return {"MLFLOW_TRACKING_URI": uri, **credentials_env(settings)}
    url, user, password = _login(uri, settings)
    env = {"MLFLOW_TRACKING_URI": url}
    if user or password:
        env.update({USER_VARIABLE: user, PASSWORD_VARIABLE: password})
    return env


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://|databricks")


def is_http(uri: str) -> bool:
    """A tracking server's URI (the scheme in any case, as MLflow reads it)."""
    return uri[:8].lower().startswith(("http://", "https://"))


def login_refused(
    uri: str, error: urllib.error.HTTPError, outcome: str
) -> CommandError:
    """The server (or a proxy before it) refused the login."""
    return CommandError(
        f"the MLflow tracking server {shown_uri(uri)} refused the login (HTTP "
        f"{error.code} {error.reason}); {outcome}. Check the settings "
        f"MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (with the "
        f"project's prefix, in .env or the environment)"
    )


def check_uri(uri: str) -> None:
    """Refuse an http(s) tracking URI whose login holds a character that
    must be percent-encoded: written raw, the part after it is read as the
    host (and shown in messages)."""
    if not is_http(uri):
        return
    if not _login_readable(_split(uri)):
        raise CommandError(
            "the tracking URI (MLFLOW_TRACKING_URI, with the project's prefix) "
            "is not a URL its client can read: a password written in it must "
            "have @ as %40, / as %2F, ? as %3F, # as %23 and : as %3A; or give "
            "the login in the settings MLFLOW_TRACKING_USERNAME and "
            "MLFLOW_TRACKING_PASSWORD instead"
        )


def _login_readable(parts: Optional[urllib.parse.SplitResult]) -> bool:
    """False when a raw /, ? or # cut a password: its start is read as the
    port (not a number), its end lands in the path, query or fragment."""
    if parts is None:
        return False
    try:
        parts.port
    except ValueError:
        return False
    return "@" not in parts.path + parts.query + parts.fragment


def check_reachable(
    uri: str,
    fix: str,
    outcome: str = "nothing was run",
    settings: Optional[ProjectSettings] = None,
) -> None:
    """Fail before anything runs when the tracking store cannot be reached,
    or refuses the login (``settings``' or the URI's)."""
    if not _SCHEME.match(uri):  # MLflow would take it for a folder (file store)
        raise CommandError(
            f"the tracking URI {shown_uri(uri)!r} has no scheme: give "
            f"sqlite:///<file>, http(s)://<host>:<port> (a tracking server) or a "
            f"database URI (postgresql://...); {outcome}. {fix}"
        )
    if is_http(uri):
        check_uri(uri)
        request = health_request(uri, settings)
        try:
            # B310 (any URL scheme): the scheme is http(s), checked above.
            with urllib.request.urlopen(request, timeout=5) as response:  # nosec B310
                if response.status == 200:
                    return
                problem = f"HTTP {response.status}"
        except urllib.error.HTTPError as error:
            if error.code in (401, 403):
                raise login_refused(uri, error, outcome) from None
            problem = f"HTTP {error.code} {error.reason}"
        except (urllib.error.URLError, OSError) as error:
            problem = str(getattr(error, "reason", error))
        raise CommandError(
            f"the MLflow tracking server {shown_uri(uri)} is unreachable "
            f"({problem}); {outcome}. {fix}"
        )
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)


def server_command(settings: ProjectSettings) -> str:
    """The command that starts the tracking server the settings' URI names:
    with ``--port`` when the URI's port is not the MLFLOW_PORT setting's."""
    from urllib.parse import urlsplit

    from ..tracking.config import local_host

    parts = urlsplit(settings.mlflow_tracking_uri)
    try:
        port = parts.port
    except ValueError:
        port = None
    if local_host(parts.hostname or "") and port and port != settings.mlflow_port:
        return f"mlops tracking server --port {port}"
    return "mlops tracking server"


def health_request(
    uri: str, settings: Optional[ProjectSettings] = None
) -> urllib.request.Request:
    """A GET of the server's ``/health``, with the login of :func:`server_login`."""
    url, auth = server_login(uri, settings)
    return urllib.request.Request(url + "/health", headers=auth)


def server_login(
    uri: str, settings: Optional[ProjectSettings] = None
) -> tuple[str, dict[str, str]]:
    """A tracking server's URI as requests go to it: the URL without a login
    in it, and the basic-auth header MLflow's client sends (see
    :func:`_login`)."""
    url, user, password = _login(uri, settings)
    if not (user or password):
        return url, {}
    pair = base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")
    return url, {"Authorization": f"Basic {pair}"}


def _login(uri: str, settings: Optional[ProjectSettings]) -> tuple[str, str, str]:
    """(URL without a login, user, password): the settings' user name and
    password (else MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD in
    the environment) when both are set, else the login written in the URI
    (``user:password@`` before the host), else none."""
    url = without_login(uri)
    env = credentials_env(settings) if settings is not None else {}
    user = env.get(USER_VARIABLE) or os.environ.get(USER_VARIABLE, "")
    password = env.get(PASSWORD_VARIABLE) or os.environ.get(PASSWORD_VARIABLE, "")
    if user and password:
        return url, user, password
    _, name, secret = split_login(uri)
    return url, name, secret


def split_login(uri: str) -> tuple[str, str, str]:
    """``uri`` without the ``user:password@`` before its host, and the two
    (decoded); ``uri`` as it is when it holds none."""
    parts = _split(uri)
    userinfo, at, hostport = parts.netloc.rpartition("@") if parts else ("", "", "")
    if parts is None or not at:
        return uri, "", ""
    name, _, secret = userinfo.partition(":")
    url = urllib.parse.urlunsplit(parts._replace(netloc=hostport))
    return url, urllib.parse.unquote(name), urllib.parse.unquote(secret)


def _split(uri: str) -> Optional[urllib.parse.SplitResult]:
    try:
        return urllib.parse.urlsplit(uri)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None


def without_login(uri: str) -> str:
    """``uri`` without a trailing ``/`` and, for http(s), without a login."""
    uri = uri.rstrip("/")
    parts = _split(uri)
    if not is_http(uri) or parts is None:
        return uri
    hostport = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=hostport))


def shown_uri(uri: str) -> str:
    """A tracking URI as messages, records and pages show it: an http(s)
    server's without its login, any other with its password masked."""
    if is_http(uri):
        try:
            check_uri(uri)
        except CommandError:  # where a login ends is unclear: show none of it
            return uri.split("://", 1)[0] + "://(an unreadable URL)"
        return without_login(uri)
    from ..tracking.config import redact_uri

    return redact_uri(uri)


@contextmanager
def environment(values: dict[str, str], drop: Iterable[str] = ()) -> Iterator[None]:
    """Set variables (and remove those in ``drop``) for the duration of a
    block, then restore them."""
    dropped = [key for key in drop if key not in values]
    saved = {key: os.environ.get(key) for key in [*values, *dropped]}
    os.environ.update(values)
    for key in dropped:
        os.environ.pop(key, None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class ScopedClient:
    """An ``MlflowClient`` whose calls see the tracking credentials, which the
    rest of the process (and every child it starts) does not."""

    def __init__(self, mlflow_client: Any, env: dict[str, str]):
        self._client = mlflow_client
        self._env = env

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        @functools.wraps(attribute)
        def call(*args: Any, **kwargs: Any) -> Any:
            with environment(self._env):
                return attribute(*args, **kwargs)

        return call


def client(settings: ProjectSettings) -> Any:
    """An ``MlflowClient`` on the settings' tracking URI; MLflow reads the
    credentials from the environment, which is set for each call only."""
    env = {**retry_env(), **QUIET_ENV, **client_env(settings)}
    uri = env.pop("MLFLOW_TRACKING_URI")  # without its login, which env holds
    with environment(env):
        from mlflow.tracking import MlflowClient

        # MLflow prints its own INFO lines (creating a store's tables, alembic's
        # migrations) to stderr.
        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)
        mlflow_client = MlflowClient(tracking_uri=uri)
    return ScopedClient(mlflow_client, env)


def experiment_id(mlflow_client: Any, settings: ProjectSettings) -> str:
    """The project's experiment, created on first use.

    With the embedded store its artifacts go to ``<mlflow_dir>/artifacts``; a
    tracking server decides for itself (``--artifacts-destination``).
    """
    name = settings.mlflow_experiment
    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = None
    if settings.mlflow_tracking_uri.startswith("sqlite:"):
        settings.mlflow_artifacts_dir.mkdir(parents=True, exist_ok=True)
        location = settings.mlflow_artifacts_dir.as_uri()
    return str(mlflow_client.create_experiment(name, artifact_location=location))


def sqlite_uri(path: Path) -> str:
    """An absolute SQLAlchemy SQLite URI, on POSIX (``sqlite:////srv/x.db``)
    and Windows (``sqlite:///C:/x.db``)."""
    return "sqlite:///" + path.resolve().as_posix()
