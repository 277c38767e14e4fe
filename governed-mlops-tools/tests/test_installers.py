"""Installer options: index URLs with their token go to the installer's
environment, never to its argv; secrets are masked in every message."""

from __future__ import annotations

from pathlib import Path

import pytest

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

    with pytest.raises(InstallError) as failed:
        installers.run([sys.executable, script, "tok-123"], "locking", ["tok-123"])
    message = str(failed.value)
    assert "locking failed" in message and "denied for ***" in message
    assert "tok-123" not in message


def test_a_missing_program_is_an_install_error(tmp_path: Path):
    with pytest.raises(InstallError, match="cannot run"):
        installers.run([tmp_path / "no-such-uv"], "creating the venv")


def test_pick_names_what_to_install(monkeypatch):
    monkeypatch.setattr(installers, "find_uv", lambda: None)
    assert installers.pick("auto").name == "pip"
    with pytest.raises(installers.CommandError, match="uv is not installed"):
        installers.pick("uv")
