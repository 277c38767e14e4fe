"""Installer options: index URLs with their token go to the installer's
environment, never to its argv; secrets are masked in every message."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from tiny_project import commit

from governed_mlops.stages import installers
from governed_mlops.stages.installers import IndexOptions, InstallError

URL = "https://pypi.example.com/simple/"


def test_index_urls_and_token_go_to_the_environment_only():
    index = IndexOptions(
        index_url=URL,
        extra_index_urls=("https://extra.example.com/simple/",),
        find_links=("wheels",),
        token="tok-123",
    )
    assert index.args() == ["--find-links", "wheels"]
    env = index.env()
    assert env["UV_DEFAULT_INDEX"] == env["PIP_INDEX_URL"]
    # pragma: allowlist nextline secret
    assert env["PIP_INDEX_URL"] == "https://__token__:tok-123@pypi.example.com/simple/"
    # pragma: allowlist nextline secret
    assert env["UV_INDEX"] == "https://__token__:tok-123@extra.example.com/simple/"
    assert "tok-123" not in repr(index) and "tok-123" not in str(index.digest_fields())


def test_offline_means_the_wheelhouse_and_no_index(tmp_path: Path):
    index = IndexOptions(index_url=URL, offline=True, wheelhouse=tmp_path, token="t")
    assert index.args() == ["--no-index", "--find-links", str(tmp_path)]
    assert index.env() == {}


def test_a_url_with_credentials_keeps_them():
    assert installers.with_token("https://u:p@host/simple/", "tok") == (
        "https://u:p@host/simple/"
    )
    assert installers.with_token("file:///wheels", "tok") == "file:///wheels"


def test_the_login_is_uvs_for_the_index_where_set(monkeypatch):
    """CI keeps a UV_INDEX_PRIVATE_USERNAME it is given (Artifactory with a
    user's API key); the tools log in with it too, else as __token__."""
    monkeypatch.delenv("UV_INDEX_PRIVATE_USERNAME", raising=False)
    index = IndexOptions(index_url=URL, token="tok")
    assert index.env()["PIP_INDEX_URL"] == URL.replace("://", "://__token__:tok@")
    monkeypatch.setenv("UV_INDEX_PRIVATE_USERNAME", "ci bot@example.com")
    index = IndexOptions(index_url=URL, extra_index_urls=(URL,), token="tok")
    login = "://ci%20bot%40example.com:tok@"  # pragma: allowlist secret
    assert index.env()["UV_DEFAULT_INDEX"] == URL.replace("://", login)
    assert index.env()["UV_INDEX"] == URL.replace("://", login)


def test_pip_gets_the_login_in_a_netrc_of_its_own(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("UV_INDEX_PRIVATE_USERNAME", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "missing"))
    other = "https://u:p@other.example.com/simple/"  # pragma: allowlist secret
    index = IndexOptions(index_url=URL, extra_index_urls=(other,), token="tok")
    with index.pip_env() as env:
        netrc = Path(env["NETRC"])
        assert netrc.read_text() == (
            "machine pypi.example.com login __token__ password tok\n"
        )
        assert netrc.stat().st_mode & 0o077 == 0  # the user's alone
        assert (env["PIP_INDEX_URL"], env["PIP_EXTRA_INDEX_URL"]) == (URL, other)
        assert env["UV_DEFAULT_INDEX"] == index.env()["UV_DEFAULT_INDEX"]  # uv's
    assert not netrc.exists()
    # A login a netrc cannot hold stays in pip's URL, in its environment.
    for odd in (
        IndexOptions(index_url=URL, token="t k"),
        IndexOptions(index_url=URL, token="a\\b"),  # netrc's escape
        IndexOptions(index_url=URL),
    ):
        with odd.pip_env() as env:
            assert env == odd.env() and "NETRC" not in env


def test_the_netrc_names_the_host_as_written_and_keeps_the_users(
    tmp_path: Path, monkeypatch
):
    """Older requests (pip 24.0's) looks a host up as the URL writes it; the
    user's entries come first, a file Python cannot parse is left out (it
    would hide ours), and PIP_INDEX_URL stays the user's without an index."""
    monkeypatch.delenv("UV_INDEX_PRIVATE_USERNAME", raising=False)
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example.com/simple/")
    own = tmp_path / "own.netrc"
    monkeypatch.setenv("NETRC", str(own))
    own.write_text("machine git.example.com login me password p")  # no newline
    mixed = "https://Nexus.Example.COM:8443/repository/pypi/simple/"
    index = IndexOptions(extra_index_urls=(mixed,), token="tok")
    with index.pip_env() as env:
        assert Path(env["NETRC"]).read_text() == (
            "machine git.example.com login me password p\n\n"
            "machine Nexus.Example.COM login __token__ password tok\n"
            "machine nexus.example.com login __token__ password tok\n"
        )
        assert "PIP_INDEX_URL" not in env and env["PIP_EXTRA_INDEX_URL"] == mixed
    own.write_text("machine git.example.com port 22 login me password p\n")
    with index.pip_env() as env:
        assert Path(env["NETRC"]).read_text().startswith("machine Nexus.")


def test_a_token_with_url_characters_stays_one_password():
    """A token with '/', '@', '#' or '%' is percent-encoded in the index URL
    (uv refused 'Q1w2/T5y6' as a port; 'a%41' reached the index as 'aA'),
    and masked in that form too."""
    from urllib.parse import unquote, urlsplit

    for token in ("Q1w2E3r4/T5y6U7i8", "ab@cd#ef", "a%41bcdTOK"):
        url = installers.with_token("https://pypi.example.com/simple/", token)
        parts = urlsplit(url)
        assert (parts.hostname, parts.port, parts.username) == (
            "pypi.example.com",
            None,
            "__token__",
        )
        assert unquote(parts.password or "") == token
        assert installers.redact(f"error for {url}", [token]) == (
            "error for https://__token__:***@pypi.example.com/simple/"
        )


def test_a_failed_command_is_reported_with_secrets_masked(tmp_path: Path):
    script = tmp_path / "fail.py"
    script.write_text(
        "import sys; print('denied for tok-123', file=sys.stderr); sys.exit(3)"
    )
    import sys

    quiet = installers.PipInstaller(lambda: installers.Access("tok-123"))
    with pytest.raises(InstallError) as failed:
        quiet.run([sys.executable, script, "tok-123"], "locking")
    message = str(failed.value)
    assert message == "locking failed:\ndenied for ***"
    verbose = installers.PipInstaller(
        lambda: installers.Access("tok-123"), show_commands=True  # --verbose
    )
    with pytest.raises(InstallError) as shown:
        verbose.run([sys.executable, script, "tok-123"], "locking")
    assert str(shown.value).startswith(f"locking failed ({sys.executable} ")
    assert "tok-123" not in str(shown.value)


def test_commands_run_in_the_given_environment_with_the_index_settings(
    tmp_path: Path, monkeypatch
):
    import json
    import sys

    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "store-pw")
    show = [
        sys.executable,
        "-c",
        "import json, os; print(json.dumps(dict(os.environ)))",
    ]
    read: list[str] = []

    def access() -> installers.Access:
        read.append("settings")
        return installers.Access("tok", {"PATH": os.environ["PATH"]})

    installer = installers.PipInstaller(access)
    assert read == []  # nothing read before a command runs
    index = IndexOptions(index_url="https://pypi.example.com/simple/", token="tok")
    seen = json.loads(installer.run(show, "showing", index))
    assert seen["PATH"] == os.environ["PATH"]
    assert "MLFLOW_TRACKING_PASSWORD" not in seen
    # pragma: allowlist nextline secret
    assert seen["PIP_INDEX_URL"] == "https://__token__:tok@pypi.example.com/simple/"
    assert "PIP_INDEX_URL" not in json.loads(installer.run(show, "showing"))
    assert read == ["settings"]  # read once
    # Without an environment given, this process's.
    everything = json.loads(installers.PipInstaller().run(show, "showing"))
    stored = everything["MLFLOW_TRACKING_PASSWORD"]
    assert stored == "store-pw"  # pragma: allowlist secret


def test_a_missing_program_is_an_install_error(tmp_path: Path):
    with pytest.raises(InstallError, match="cannot run"):
        installers.PipInstaller().run([tmp_path / "no-such-uv"], "creating the venv")


def test_pick_names_what_to_install(monkeypatch):
    monkeypatch.setattr(installers, "find_uv", lambda: None)
    assert installers.pick("auto").name == "pip"
    with pytest.raises(installers.CommandError, match="uv is not installed"):
        installers.pick("uv")


def test_a_local_git_pin_gets_a_host_and_nothing_else_changes():
    pin = "t[pipeline] @ git+file:///srv/templates/gov@1.3.0#subdirectory=t"
    assert installers.with_host(pin) == (
        "t[pipeline] @ git+file://localhost/srv/templates/gov@1.3.0#subdirectory=t"
    )
    for unchanged in (
        "t==1.3.0",
        "t @ git+https://git.example.com/gov.git@1.3.0#subdirectory=t",
        "t @ git+file:///C:/templates/gov@1.3.0#subdirectory=t",
        "t @ git+file://localhost/srv/gov@1.3.0#subdirectory=t",
        "t @ git+file:////fileserver/templates/gov@1.3.0#subdirectory=t",
    ):
        assert installers.with_host(unchanged) == unchanged


def _old_pip_python() -> str | None:
    """A Python 3.10-3.12 whose own pip still refuses a host-less direct
    reference (packaging 21 inside pip before 24.1)."""
    from governed_mlops.stages.pythons import InterpreterNotFound, find_version

    for version in ("3.10", "3.11", "3.12"):
        try:
            python = str(find_version(version).path)
        except InterpreterNotFound:
            continue
        code = "from pip._vendor import packaging; print(packaging.__version__)"
        done = subprocess.run([python, "-c", code], capture_output=True, text=True)
        if done.returncode == 0 and int(done.stdout.split(".")[0]) < 22:
            return python
    return None


def test_the_pip_installer_builds_a_wheel_pinned_to_a_local_git_repo(tmp_path):
    """`mlops stage wheels --installer pip` builds the tools from the pin a
    copy from a template path writes, with the pip a stage's Python brings."""
    python = _old_pip_python()
    if python is None:
        pytest.skip("no Python 3.10-3.12 here brings a pip older than 24.1")
    repo = tmp_path / "template"
    package = repo / "tools"
    (package / "tinytools").mkdir(parents=True)
    (package / "tinytools" / "__init__.py").write_text('"""Tiny tools."""\n')
    (package / "pyproject.toml").write_text(
        '[project]\nname = "tinytools"\nversion = "1.0"\ndescription = "Tiny tools"\n'
        "[project.optional-dependencies]\npipeline = []\n"
        '[build-system]\nrequires = ["flit_core>=3.4,<4"]\n'
        'build-backend = "flit_core.buildapi"\n'
    )
    commit(repo, "tools")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    pin = f"tinytools[pipeline] @ git+{repo.as_uri()}@{head}#subdirectory=tools"
    installers.PipInstaller().wheel(
        Path(python), pin, tmp_path / "wheels", IndexOptions()
    )
    (wheel,) = (tmp_path / "wheels").iterdir()
    assert wheel.name.startswith("tinytools-1.0-") and wheel.suffix == ".whl"
