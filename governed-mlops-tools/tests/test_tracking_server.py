"""`mlops tracking server`'s parts that need no server: the configuration from
settings and options, redaction, the pre-flight refusals and the stopping
of the process group on POSIX and Windows (the platform's calls recorded)."""

from __future__ import annotations

import io
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from governed_mlops.cli import main
from governed_mlops.errors import CommandError
from governed_mlops.project import find_project
from governed_mlops.settings import load
from governed_mlops.tracking import config, preflight, service

from tiny_project import imported, write_project

PACKAGE = "tinyserve"
PREFIX = PACKAGE.upper() + "_"
# pragma: allowlist nextline secret
TEAM = "postgresql://mlflow:pa55-w0rd@db.example.org:5432/tracking"


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A tiny project with the template's settings, importable, cwd."""
    root = write_project(tmp_path / "p", PACKAGE, git=False)
    for name in ("MLFLOW_BACKEND_STORE_URI", "MLFLOW_SERVER_WORKERS", "MLFLOW_PORT"):
        monkeypatch.delenv(PREFIX + name, raising=False)
    monkeypatch.chdir(root)
    with imported(root, PACKAGE):
        yield root


def settings():
    project = find_project()
    project.import_module("config").get_settings.cache_clear()
    return load(project)


def test_by_default_it_serves_the_project_sqlite_store(tiny):
    served = config.from_settings(settings(), PREFIX)
    assert served.backend == "sqlite:///" + (tiny / "mlruns" / "mlflow.db").as_posix()
    assert served.artifacts == str(tiny / "mlruns" / "artifacts")
    assert (served.host, served.port) == ("127.0.0.1", 5000)
    assert served.url == "http://127.0.0.1:5000"
    assert served.log == tiny / "logs" / "mlflow-server.log"
    assert 1 <= served.workers <= config.cpu_count()


def test_settings_name_a_team_server_and_options_override_them(tiny, monkeypatch):
    monkeypatch.setenv(PREFIX + "MLFLOW_BACKEND_STORE_URI", TEAM)
    monkeypatch.setenv(PREFIX + "MLFLOW_ARTIFACTS_DESTINATION", "/srv/share/mlflow")
    monkeypatch.setenv(PREFIX + "MLFLOW_SERVER_WORKERS", "1")
    team = config.from_settings(settings(), PREFIX)
    assert (team.backend, team.artifacts, team.workers) == (
        TEAM,
        "/srv/share/mlflow",
        1,
    )
    assert "pa55-w0rd" in team.secrets and "pa55-w0rd" not in repr(team)
    assert team.shown_backend == (
        "postgresql://mlflow:***@db.example.org:5432/tracking"
    )
    given = config.from_settings(
        settings(),
        PREFIX,
        backend="mysql://m@db/t",
        artifacts="s3://bucket/mlflow",
        host="0.0.0.0",  # nosec B104 # the configuration only, nothing listens
        port=5055,
    )
    assert (given.backend, given.artifacts) == ("mysql://m@db/t", "s3://bucket/mlflow")
    assert given.url == "http://127.0.0.1:5055"


def test_settings_of_an_older_template_get_the_defaults(tmp_path):
    """Projects generated before these settings existed lack the fields."""
    older = SimpleNamespace(
        mlflow_dir=tmp_path / "mlruns",
        mlflow_artifacts_dir=tmp_path / "mlruns" / "artifacts",
        logs_dir=tmp_path / "logs",
        mlflow_host="127.0.0.1",
        mlflow_port=5000,
        secret_values=lambda: [],
    )
    served = config.from_settings(older, "OLD_")  # type: ignore[arg-type]
    assert served.backend.startswith("sqlite:///") and served.secrets == ()
    assert served.workers == config.size_workers(0, config.cpu_count())


@pytest.mark.parametrize(
    "uri, source",
    [
        ("file:///srv/mlruns", "--backend-store-uri"),
        ("http://mlflow:5000", "--backend-store-uri"),
        ("/srv/mlflow.db", "--backend-store-uri"),
    ],
)
def test_a_backend_that_is_not_a_database_is_refused_naming_the_option(
    tiny, capsys, uri, source
):
    code = main(["tracking", "server", "--backend-store-uri", uri])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"mlops: error: {source}: unsupported backend ")
    assert "sqlite:///PATH, postgresql://, mysql:// or mssql+pyodbc://" in err


def test_a_bad_setting_is_named_with_its_variable(tiny, monkeypatch, capsys):
    # pragma: allowlist nextline secret
    monkeypatch.setenv(PREFIX + "MLFLOW_BACKEND_STORE_URI", "mongodb://u:pw@h/db")
    settings()
    assert main(["tracking", "server"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"mlops: error: {PREFIX}MLFLOW_BACKEND_STORE_URI: unsupported backend "
        "'mongodb://'"
    )
    assert "pw" not in err.replace("pyodbc", "")


@pytest.mark.parametrize(
    "password", ["p%40ss:w@rd", "pa/ss", "pa#ss", "pa?ss"]  # pragma: allowlist secret
)
def test_a_password_with_a_character_to_encode_is_refused_unshown(
    tiny, monkeypatch, capsys, password
):
    """SQLAlchemy reads the password up to the first @, URL parsing up to the
    last: the database would be another host, and masking would miss part."""
    uri = f"postgresql://mlflow:{password}@127.0.0.1:5432/mlflow"
    monkeypatch.setenv(PREFIX + "MLFLOW_BACKEND_STORE_URI", uri)
    settings()
    assert main(["tracking", "server"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"mlops: error: {PREFIX}MLFLOW_BACKEND_STORE_URI: the user name or "
        "password in the database URI holds a character to percent-encode: @ as "
        "%40, / as %2F"
    )
    assert "127.0.0.1" not in err and password not in err


def test_a_password_percent_encoded_passes_the_check():
    encoded = "postgresql://mlflow:p%40ss%2Fw@db/mlflow"  # pragma: allowlist secret
    config.check_login(encoded, "X")
    config.check_login("postgresql://db/mlflow?user=a@b", "X")
    config.check_login("sqlite:////srv/a@b/mlflow.db", "X")


@pytest.mark.parametrize(
    "requested, cpus, workers",
    [(0, 1, 1), (0, 2, 1), (0, 4, 2), (0, 64, 4), (3, 2, 2), (8, 16, 8), (1, 8, 1)],
)
def test_workers_are_sized_to_the_machine(requested, cpus, workers):
    assert config.size_workers(requested, cpus) == workers


@pytest.mark.parametrize(
    "uri, shown",
    [
        (TEAM, "postgresql://mlflow:***@db.example.org:5432/tracking"),
        ("postgresql://mlflow@db/t", "postgresql://mlflow@db/t"),
        (
            # pragma: allowlist nextline secret
            "postgresql://u:p%40ss@db/t?sslmode=require",
            "postgresql://u:***@db/t?sslmode=require",
        ),
        (
            "mssql+pyodbc://u@db/t?password=x&driver=ODBC",
            "mssql+pyodbc://u@db/t?password=***&driver=ODBC",
        ),
        ("sqlite:////srv/mlflow.db", "sqlite:////srv/mlflow.db"),
        (
            # An OSV mirror's token in its query, as gateways take one.
            "https://osv.example.org/v1/query?token=Zq8&region=eu&api_key=k9",
            "https://osv.example.org/v1/query?token=***&region=eu&api_key=***",
        ),
    ],
)
def test_uris_are_shown_without_their_password(uri, shown):
    assert config.redact_uri(uri) == shown
    assert all(value not in shown for value in config.uri_secrets(uri))


def served(**changes: object) -> config.ServerConfig:
    values: dict[str, object] = dict(
        backend=TEAM,
        artifacts="/srv/share",
        host="127.0.0.1",
        port=5000,
        workers=2,
        log=Path("/srv/logs/mlflow-server.log"),
        secrets=("pa55-w0rd", "index-token"),
    )
    values.update(changes)
    return config.ServerConfig(**values)  # type: ignore[arg-type]


def test_the_database_password_never_reaches_argv_or_an_unneeded_variable():
    command = service.server_command(served())
    assert command[:4] == [sys.executable, "-m", "mlflow", "server"]
    assert "--backend-store-uri" not in command and TEAM not in command
    assert command[4:] == [
        "--artifacts-destination",
        "/srv/share",
        "--host",
        "127.0.0.1",
        "--port",
        "5000",
        "--workers",
        "2",
    ]
    env = service.server_env(
        served(),
        {
            "PATH": "/bin",
            "TINY_PACKAGE_INDEX_TOKEN": "index-token",
            "PGSSLMODE": "require",
            # An index's password as uv and CI hold it, the setting unset.
            "UV_INDEX_PRIVATE_PASSWORD": "uv-token",  # pragma: allowlist secret
            "PACKAGE_INDEX_TOKEN": "ci-token",
        },
    )
    assert env["MLFLOW_BACKEND_STORE_URI"] == TEAM
    assert "TINY_PACKAGE_INDEX_TOKEN" not in env and env["PGSSLMODE"] == "require"
    assert "UV_INDEX_PRIVATE_PASSWORD" not in env and "PACKAGE_INDEX_TOKEN" not in env
    assert env[service.JOB_EXECUTION] == "false"
    chosen = service.server_env(served(), {service.JOB_EXECUTION: "true"})
    assert chosen[service.JOB_EXECUTION] == "true", "the user's choice wins"


def test_a_taken_port_is_refused_in_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CommandError) as refused:
            preflight.check_port("127.0.0.1", port, PREFIX)
    assert str(refused.value) == (
        f"port {port} on 127.0.0.1 is already in use (another tracking server?): "
        f"stop it, or pick another with --port or {PREFIX}MLFLOW_PORT"
    )
    preflight.check_port("127.0.0.1", port, PREFIX)  # free again


def test_drivers_are_picked_or_their_absence_named():
    bare = "postgresql://u:pw@db/t"  # pragma: allowlist secret
    # SQLAlchemy 2.1's default PostgreSQL driver is psycopg 3; the postgres
    # extra installs psycopg2.
    named = "postgresql+psycopg2://" + bare.split("://")[1]
    assert preflight.with_driver(bare) in (bare, named)
    with pytest.raises(CommandError) as missing:
        preflight.with_driver("mssql+pyodbc://u@db/t?driver=ODBC+Driver+18")
    assert str(missing.value).startswith(
        "the mssql driver pyodbc is not installed: install pyodbc and Microsoft's"
    )
    with pytest.raises(CommandError) as unknown:
        preflight.with_driver("postgresql+nodriver://u@db/t")
    assert "SQLAlchemy has no driver 'postgresql+nodriver'" in str(unknown.value)


def test_a_missing_postgresql_driver_is_named_with_the_package_to_add():
    import importlib.util

    if importlib.util.find_spec("psycopg") is not None:
        pytest.skip("psycopg 3 is installed here: nothing is missing")
    with pytest.raises(CommandError) as missing:
        preflight.with_driver("postgresql+psycopg://u@db/t")
    assert str(missing.value) == (
        "the postgresql driver psycopg is not installed: add psycopg 3 to the env "
        'the server runs from: uv add --group pipeline "psycopg[binary]"'
    )


def test_an_unreachable_database_is_named_without_its_password():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, not listening: refused
        backend = preflight.with_driver(
            # pragma: allowlist nextline secret
            f"postgresql://mlflow:pa55-w0rd@127.0.0.1:{port}/tracking"
        )
        with pytest.raises(CommandError) as refused:
            preflight.check_database(served(backend=backend), "--backend-store-uri")
    message = str(refused.value)
    assert message.startswith(
        f"the database tracking on 127.0.0.1:{port} is unreachable ("
    )
    assert message.endswith(
        "): check --backend-store-uri and that the database server runs"
    )
    assert "pa55-w0rd" not in message and "\n" not in message


class Child:
    """A child process as the stop logic sees it, recording what it gets."""

    def __init__(self, stops_on_polite: bool):
        self.pid = 4242
        self.calls: list[object] = []
        self.polite = stops_on_polite
        self.code: int | None = None

    def poll(self) -> int | None:
        return self.code

    def wait(self, timeout: float | None = None) -> int:
        if self.code is None and timeout is not None:
            raise subprocess.TimeoutExpired("mlflow", timeout)
        self.code = self.code if self.code is not None else -9
        return self.code

    def send_signal(self, sig: int) -> None:
        self.calls.append(("send_signal", sig))
        if self.polite:
            self.code = 0


@pytest.mark.parametrize("polite", [True, False])
def test_posix_stops_the_whole_group_then_kills_what_is_left(polite):
    child = Child(polite)

    def signal_group(group: int, sig: int) -> None:
        child.calls.append(("killpg", group, sig))
        if sig == signal.SIGTERM and polite:
            child.code = 0

    service.stop_group(child, windows=False, grace=0.01, signal_group=signal_group)
    assert child.calls == [
        ("killpg", 4242, signal.SIGTERM),
        ("killpg", 4242, signal.SIGKILL),  # the group's stragglers, if any
    ]
    assert child.poll() is not None
    options = service.popen_options(windows=False)
    assert options["start_new_session"] is True
    assert ("preexec_fn" in options) == sys.platform.startswith("linux")


@pytest.mark.parametrize("polite", [True, False])
def test_windows_breaks_the_group_then_kills_the_tree(polite):
    child = Child(polite)
    ran: list[list[str]] = []

    def run(argv: list[str], **options: object) -> None:
        ran.append(argv)
        child.code = 1

    service.stop_group(child, windows=True, grace=0.01, run=run)
    break_event = getattr(signal, "CTRL_BREAK_EVENT", 1)
    assert child.calls == [("send_signal", break_event)]
    assert ran == [["taskkill", "/T", "/F", "/PID", "4242"]]
    assert service.popen_options(windows=True) == {"creationflags": 0x200}


def test_a_service_managers_stop_is_a_success_and_ctrl_c_is_130():
    stop = service.Stop()
    stop(signal.SIGTERM, None)
    assert stop.event.is_set() and service.EXIT_CODES[stop.name] == 0
    stop(signal.SIGINT, None)
    assert service.EXIT_CODES[stop.name] == 130
    assert signal.SIGTERM in service.signals_to_catch()


def test_a_failed_start_names_the_exception_not_the_help_link_after_it(tmp_path):
    printed = (
        "Traceback (most recent call last):\n"
        '  File "alembic/runtime/migration.py", line 1, in run\n'
        "sqlalchemy.exc.ProgrammingError: (psycopg2.errors.InsufficientPrivilege)"
        " permission denied for schema public\n"
        "LINE 2: CREATE TABLE alembic_version (\n"
        "[SQL: CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)]\n"
        "(Background on this error at: https://sqlalche.me/e/21/f405)\n"
    )
    output = service.Output(io.StringIO(printed), tmp_path / "log", (), False)
    assert output.last_line() == (
        "sqlalchemy.exc.ProgrammingError: (psycopg2.errors.InsufficientPrivilege) "
        "permission denied for schema public"
    )
    plain = service.Output(
        io.StringIO("starting\nport taken\n"), tmp_path / "l2", (), False
    )
    assert plain.last_line() == "port taken"
