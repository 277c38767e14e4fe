"""MLflow wiring: credentials reach MLflow for each call only, and the store
the settings name is checked before anything runs."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from governed_mlops.errors import CommandError
from governed_mlops.runner import tracking


class Secret(str):
    def get_secret_value(self) -> str:
        return str(self)


def settings(tmp_path: Path, password: str = "s3cret-pw") -> SimpleNamespace:
    return SimpleNamespace(
        mlflow_tracking_uri=tracking.sqlite_uri(tmp_path / "mlflow.db"),
        mlflow_tracking_username="ci",
        mlflow_tracking_password=Secret(password),
        mlflow_experiment="unit",
        mlflow_dir=tmp_path,
        mlflow_artifacts_dir=tmp_path / "artifacts",
    )


def test_credentials_are_set_for_each_call_only(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    seen = []

    class Inner:
        tracking_uri = "http://mlflow.example"

        def get_run(self, run_id):
            seen.append(os.environ.get("MLFLOW_TRACKING_PASSWORD"))
            return run_id

    client = tracking.ScopedClient(Inner(), {"MLFLOW_TRACKING_PASSWORD": "pw"})
    assert client.get_run("r1") == "r1"
    assert seen == ["pw"]
    assert "MLFLOW_TRACKING_PASSWORD" not in os.environ
    assert client.tracking_uri == "http://mlflow.example"  # attributes pass through


def test_a_real_client_leaves_the_process_environment_as_it_was(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "someone-else")
    client = tracking.client(settings(tmp_path))
    experiment = tracking.experiment_id(client, settings(tmp_path))
    assert client.get_experiment(experiment).name == "unit"
    assert "MLFLOW_TRACKING_PASSWORD" not in os.environ
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "someone-else"


def test_credentials_env_leaves_out_empty_values(tmp_path):
    values = settings(tmp_path, password="")
    values.mlflow_tracking_username = ""
    assert tracking.credentials_env(values) == {}
    assert tracking.credentials_env(settings(tmp_path)) == {
        "MLFLOW_TRACKING_USERNAME": "ci",
        "MLFLOW_TRACKING_PASSWORD": "s3cret-pw",  # pragma: allowlist secret
    }


def test_an_unreachable_server_is_refused_before_anything_runs():
    with pytest.raises(CommandError, match="unreachable .*nothing was run. Start it"):
        tracking.check_reachable("http://127.0.0.1:9/", "Start it.")


@pytest.mark.parametrize(
    ("uri", "command"),
    [
        ("http://127.0.0.1:5077", "mlops tracking server --port 5077"),
        ("http://[::1]:5077/", "mlops tracking server --port 5077"),
        ("http://localhost:5000/", "mlops tracking server"),  # the setting's port
        ("http://mlflow.example.com:5077", "mlops tracking server"),
        ("", "mlops tracking server"),
    ],
)
def test_the_hint_starts_the_server_the_uri_names(uri, command):
    values = SimpleNamespace(mlflow_tracking_uri=uri, mlflow_port=5000)
    assert tracking.server_command(values) == command


def test_credentials_in_the_uri_are_sent_as_basic_auth_and_never_shown(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    request = tracking.health_request("http://ci:pa%40ss@127.0.0.1:9/")
    assert request.full_url == "http://127.0.0.1:9/health"
    assert request.get_header("Authorization") == "Basic Y2k6cGFAc3M="  # ci:pa@ss
    assert not tracking.health_request("http://127.0.0.1:9").has_header("Authorization")
    with pytest.raises(CommandError) as refused:
        uri = "http://ci:pa%40ss@127.0.0.1:9/"  # pragma: allowlist secret
        tracking.check_reachable(uri, "Start it.")
    message = str(refused.value)
    assert "server http://127.0.0.1:9 is unreachable (" in message
    assert "pa%40ss" not in message and "ci:" not in message


def test_the_settings_login_wins_over_the_uris_as_in_mlflows_client(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    uri = "https://uri-user:uri-pw@mlflow.example.org/"  # pragma: allowlist secret
    url, auth = tracking.server_login(uri, settings(tmp_path))
    assert url == "https://mlflow.example.org"
    assert auth == {"Authorization": "Basic Y2k6czNjcmV0LXB3"}  # ci:s3cret-pw
    empty = settings(tmp_path, password="")
    empty.mlflow_tracking_username = ""
    assert tracking.server_login(uri, empty)[1] == {
        "Authorization": "Basic dXJpLXVzZXI6dXJpLXB3"  # uri-user:uri-pw
    }
    assert tracking.server_login("http://h:5000", empty) == ("http://h:5000", {})
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "env")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pw")
    assert tracking.server_login("http://h:5000", empty)[1] == {
        "Authorization": "Basic ZW52OnB3"  # env:pw
    }


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        # pragma: allowlist nextline secret
        ("http://ci:pw@mlflow.example.org:5000/", "http://mlflow.example.org:5000"),
        ("https://mlflow.example.org/", "https://mlflow.example.org"),
        # pragma: allowlist nextline secret
        ("postgresql://mlflow:pw@db/mlflow", "postgresql://mlflow:***@db/mlflow"),
        ("sqlite:////srv/mlflow.db", "sqlite:////srv/mlflow.db"),
    ],
)
def test_a_tracking_uri_is_shown_without_its_login(uri, shown):
    assert tracking.shown_uri(uri) == shown


def test_sqlite_store_folder_is_made(tmp_path):
    uri = tracking.sqlite_uri(tmp_path / "deep" / "mlflow.db")
    tracking.check_reachable(uri, "")
    assert (tmp_path / "deep").is_dir()
    assert uri == "sqlite:///" + (tmp_path / "deep" / "mlflow.db").as_posix()


def test_no_code_path_writes_mlflows_database():
    """MLflow's schema is private: the tools reach a store only through
    MlflowClient or MLflow's REST API, never with a database driver."""
    import re

    import governed_mlops

    source = Path(governed_mlops.__file__).parent
    pattern = re.compile(r"^\s*(import|from)\s+(sqlite3|sqlalchemy|alembic)\b", re.M)
    offenders = [
        path.relative_to(source).as_posix()
        for path in sorted(source.rglob("*.py"))
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    # The tracking server's pre-flight opens a connection and closes it, to
    # say "unreachable" in one line: it executes nothing.
    assert offenders == ["tracking/preflight.py"]
    preflight = (source / "tracking" / "preflight.py").read_text(encoding="utf-8")
    assert not re.search(r"\b(execute|exec_driver_sql|text)\(", preflight)


def test_a_client_in_another_process_gets_the_login_apart_from_the_uri(
    tmp_path, monkeypatch
):
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    values = settings(tmp_path, password="")
    values.mlflow_tracking_username = ""
    values.mlflow_tracking_uri = (
        "http://ci:p%40ss@127.0.0.1:5000/"  # pragma: allowlist secret
    )
    assert tracking.client_env(values) == {
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000",
        "MLFLOW_TRACKING_USERNAME": "ci",
        "MLFLOW_TRACKING_PASSWORD": "p@ss",  # pragma: allowlist secret
    }
    own = settings(tmp_path)  # the settings' login wins, as in MLflow
    own.mlflow_tracking_uri = values.mlflow_tracking_uri
    assert tracking.client_env(own)["MLFLOW_TRACKING_USERNAME"] == "ci"
    # pragma: allowlist nextline secret
    assert tracking.client_env(own)["MLFLOW_TRACKING_PASSWORD"] == "s3cret-pw"
    assert tracking.client_env(settings(tmp_path))["MLFLOW_TRACKING_URI"] == (
        tracking.sqlite_uri(tmp_path / "mlflow.db")
    )


@pytest.mark.parametrize(
    "uri",
    [
        "http://ci:Zq8@sec/Rt5%Kw@127.0.0.1:5099",  # pragma: allowlist secret
        "http://ci:Zq8?sec@127.0.0.1:5099",  # pragma: allowlist secret
        "http://ci:Zq8#sec@127.0.0.1:5099",  # pragma: allowlist secret
    ],
)
def test_a_login_the_uri_does_not_encode_is_refused_unshown(uri):
    with pytest.raises(CommandError) as refused:
        tracking.check_reachable(uri, "Start it.")
    assert "a password written in it must have @ as %40, / as %2F" in str(refused.value)
    for shown in (str(refused.value), tracking.shown_uri(uri)):
        assert "Zq8" not in shown and "sec" not in shown


def test_every_client_gets_the_same_login_whatever_the_uris_spelling(
    tmp_path, monkeypatch
):
    """The environment's login wins over the URI's for the runner's calls
    and for the kernels alike; an upper-case scheme is still a server's."""
    values = settings(tmp_path, password="")
    values.mlflow_tracking_username = ""
    values.mlflow_tracking_uri = (
        "HTTP://uri-user:uri-pw@mlflow.example.org"  # pragma: allowlist secret
    )
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "env")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pw")
    url, auth = tracking.server_login(values.mlflow_tracking_uri, values)
    assert auth == {"Authorization": "Basic ZW52OnB3"}  # env:pw
    assert tracking.client_env(values) == {
        "MLFLOW_TRACKING_URI": url,
        "MLFLOW_TRACKING_USERNAME": "env",
        "MLFLOW_TRACKING_PASSWORD": "pw",  # pragma: allowlist secret
    }
    assert "uri-pw" not in url and tracking.shown_uri(values.mlflow_tracking_uri) == url


def test_an_upper_case_scheme_is_a_server_for_the_runner_and_the_report(
    tmp_path, monkeypatch
):
    """Both take their REST path for it, as they do for ``http://``, and send
    the settings' login (the runner's store is asked for its experiment)."""
    from governed_mlops.report import rest
    from governed_mlops.runner import store

    for name in store.MLFLOW_ONLY_ENV:
        monkeypatch.delenv(name, raising=False)
    values = settings(tmp_path)
    values.mlflow_tracking_uri = "HTTP://127.0.0.1:9"
    client = rest.rest_client(values)
    assert isinstance(client, rest.RestClient)
    assert client.uri == "http://127.0.0.1:9"
    assert client.headers["Authorization"] == "Basic Y2k6czNjcmV0LXB3"  # ci:s3cret-pw
    asked = []

    def answer(uri, method, endpoint, headers, body=None):
        asked.append((uri, endpoint, headers.get("Authorization")))
        return {"experiment": {"experiment_id": "7", "artifact_location": ""}}

    monkeypatch.setattr(store, "http_json", answer)
    store._rest_store(values)
    assert asked[0] == (
        "http://127.0.0.1:9",
        "experiments/get-by-name?experiment_name=unit",
        "Basic Y2k6czNjcmV0LXB3",
    )


def test_a_malformed_tracking_uri_is_one_line_not_a_traceback():
    broken = "http://[::1:5000"
    with pytest.raises(CommandError, match="is not a URL its client can read"):
        tracking.check_reachable(broken, "Start it.")
    assert tracking.shown_uri(broken) == "http://(an unreadable URL)"


@pytest.mark.parametrize("uri", ["notauri", "mlruns", "C:\\mlruns", "./mlruns"])
def test_a_tracking_uri_without_a_scheme_is_refused_naming_the_forms(uri):
    """MLflow takes it for a folder, whose store MLflow 3 keeps off: its error
    said to opt into that store, and named no setting."""
    with pytest.raises(CommandError) as refused:
        tracking.check_reachable(uri, "Set CHURN_MLFLOW_TRACKING_URI.")
    assert str(refused.value) == (
        f"the tracking URI {uri!r} has no scheme: give sqlite:///<file>, "
        "http(s)://<host>:<port> (a tracking server) or a database URI "
        "(postgresql://...); nothing was run. Set CHURN_MLFLOW_TRACKING_URI."
    )


def test_uris_with_a_scheme_pass_the_scheme_check(tmp_path):
    tracking.check_reachable(f"sqlite:///{tmp_path / 'db' / 'mlflow.db'}", "")
    assert (tmp_path / "db").is_dir()
    tracking.check_reachable("postgresql://u@localhost/mlflow", "")
    tracking.check_reachable("databricks", "")
