"""`mlops dist`: the release gate, the settings it needs, and where the token
goes (the end-to-end publish to a real index is in tests/test_ci_wiring.py)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from governed_mlops.errors import CommandError
from governed_mlops.supply import dist

TOKEN = "pypi-upload-0123456789"


@dataclass
class Secret:
    value: str

    def get_secret_value(self) -> str:
        return self.value


@dataclass
class Settings:
    publish_url: str = "https://index.example.com/upload/"
    publish_token: Secret = field(default_factory=lambda: Secret(TOKEN))
    publish_username: str = "__token__"
    mlflow_tracking_password: Secret = field(default_factory=lambda: Secret("mlf"))

    def secret_values(self) -> list[str]:
        return [s for s in (self.publish_token.value, "mlf") if s]


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@e", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def test_only_the_tag_of_the_projects_version_is_a_release(tmp_path):
    git(tmp_path, "init", "-q")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "one")
    with pytest.raises(CommandError, match=r"\(it has no tag\): publishing runs on"):
        dist.release_tag(tmp_path, "1.2.0")
    git(tmp_path, "tag", "v1.1.0")
    with pytest.raises(CommandError, match=r"version 1\.2\.0 \(it has v1\.1\.0\)"):
        dist.release_tag(tmp_path, "1.2.0")
    git(tmp_path, "tag", "v1.2.0")
    assert dist.release_tag(tmp_path, "1.2.0") == "v1.2.0"
    git(tmp_path, "tag", "1.2.0")
    assert dist.release_tag(tmp_path, "1.2.0") == "1.2.0"


@pytest.mark.parametrize(
    "changes, says",
    [
        ({"publish_url": ""}, r"APP_PUBLISH_URL \(or UV_PUBLISH_URL\) is not set"),
        (
            {"publish_token": Secret("")},
            r"APP_PUBLISH_TOKEN \(or UV_PUBLISH_TOKEN\) is not set",
        ),
    ],
)
def test_publishing_needs_the_url_and_a_token(changes, says, monkeypatch):
    monkeypatch.delenv("UV_PUBLISH_URL", raising=False)
    monkeypatch.delenv("UV_PUBLISH_TOKEN", raising=False)
    settings = Settings(**changes)
    with pytest.raises(CommandError, match=says):
        dist.Upload.from_settings(settings, "APP_")


def test_uvs_own_variables_serve_where_the_settings_are_unset(monkeypatch):
    """The GitHub workflow, the same file in every project, sets these."""
    monkeypatch.setenv("UV_PUBLISH_URL", "https://ci.example.com/upload/")
    monkeypatch.setenv("UV_PUBLISH_TOKEN", "from-a-github-secret")
    unset = Settings(publish_url="", publish_token=Secret(""))
    upload = dist.Upload.from_settings(unset, "APP_")
    assert (upload.url, upload.token) == (
        "https://ci.example.com/upload/",
        "from-a-github-secret",
    )
    assert dist.Upload.from_settings(Settings(), "APP_").token == TOKEN


def test_the_token_reaches_uv_in_its_environment_only(tmp_path, monkeypatch):
    """What `uv publish` is started with: the token in its environment, not in
    its argv; the project's other secrets in neither; its output redacted."""
    monkeypatch.setenv("APP_MLFLOW_TRACKING_PASSWORD", "mlf")
    monkeypatch.setenv("UV_PUBLISH_TOKEN", "another-token")
    (tmp_path / "dist").mkdir()
    for name in ("app-0.1.0-py3-none-any.whl", "app-0.1.0.tar.gz", "app-0.0.9.tar.gz"):
        (tmp_path / "dist" / name).write_text("x")
    started = {}

    def fake_run(command, cwd, env, secrets):
        started.update(command=command, env=env)
        return 0, dist.redact(f"uploaded with {TOKEN}", secrets)

    monkeypatch.setattr(dist, "_run", fake_run)
    monkeypatch.setattr(dist, "find_uv", lambda: "uv")

    class Project:
        root, name, version = tmp_path, "app", "0.1.0"

    settings = Settings()
    upload = dist.Upload.from_settings(settings, "APP_")
    said: list[str] = []
    files = dist.publish(Project(), settings, upload, "v0.1.0", said.append)
    assert [f.name for f in files] == ["app-0.1.0-py3-none-any.whl", "app-0.1.0.tar.gz"]
    assert TOKEN not in " ".join(started["command"]) and "mlf" not in started["command"]
    assert started["env"]["UV_PUBLISH_PASSWORD"] == TOKEN
    assert started["env"]["UV_PUBLISH_USERNAME"] == "__token__"
    assert "APP_MLFLOW_TRACKING_PASSWORD" not in started["env"]
    assert "UV_PUBLISH_TOKEN" not in started["env"]  # uv would prefer it
    assert said == [
        "publishing 2 file(s) of tag v0.1.0 to https://index.example.com/upload/"
    ]


def test_nothing_built_for_the_version_says_to_build(tmp_path):
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "app-0.0.9.tar.gz").write_text("x")

    class Project:
        root, name, version = tmp_path, "app", "0.1.0"

    upload = dist.Upload("https://i/", "__token__", TOKEN)
    with pytest.raises(
        CommandError, match=r"no wheel or sdist of app 0\.1\.0 .*mlops ci build"
    ):
        dist.publish(Project(), Settings(), upload, "v0.1.0", print)


def test_own_files_are_the_projects_wheels_and_sdists(tmp_path):
    names = [
        "my_app-1.0.0-py3-none-any.whl",
        "my_app-1.0.0.tar.gz",
        "my_app-1.0.1.tar.gz",
        "my_app_extra-1.0.0.tar.gz",
        ".gitignore",
    ]
    for name in names:
        (tmp_path / name).write_text("x")
    chosen = [p.name for p in dist.own_files(tmp_path, "My-App", "1.0.0")]
    assert chosen == ["my_app-1.0.0-py3-none-any.whl", "my_app-1.0.0.tar.gz"]
    every = [p.name for p in dist.own_files(tmp_path, "my.app")]
    assert every == sorted(names[:3])


def test_a_login_in_the_upload_url_is_never_shown_nor_in_argv(tmp_path, monkeypatch):
    """A login in UV_PUBLISH_URL (`u:pw@` before the host) was printed whole,
    in the progress line and the error; the login now goes to uv's
    environment, and a configured token wins over it."""
    monkeypatch.delenv("UV_PUBLISH_TOKEN", raising=False)
    url = "http://ci:URL%2Fpass9@127.0.0.1:9/legacy/"  # pragma: allowlist secret
    monkeypatch.setenv("UV_PUBLISH_URL", url)
    upload = dist.Upload.from_settings(
        Settings(publish_url="", publish_token=Secret("")), "APP_"
    )
    assert upload == dist.Upload("http://127.0.0.1:9/legacy/", "ci", "URL/pass9")
    configured = dist.Upload.from_settings(Settings(publish_url=url), "APP_")
    assert (configured.username, configured.token) == ("__token__", TOKEN)
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "app-0.1.0.tar.gz").write_text("x")
    started = {}

    def refused(command, cwd, env, secrets):
        started.update(command=command, env=env)
        return 1, "error: 403 Forbidden"

    monkeypatch.setattr(dist, "_run", refused)
    monkeypatch.setattr(dist, "find_uv", lambda: "uv")

    class Project:
        root, name, version = tmp_path, "app", "0.1.0"

    said: list[str] = []
    with pytest.raises(CommandError) as failed:
        dist.publish(Project(), Settings(), upload, "v0.1.0", said.append)
    shown = " ".join([*said, str(failed.value), *map(str, started["command"])])
    assert "pass9" not in shown and "ci:" not in shown
    assert "uv publish to http://127.0.0.1:9/legacy/ failed" in str(failed.value)
    given = started["env"]["UV_PUBLISH_PASSWORD"]
    assert given == "URL/pass9"  # pragma: allowlist secret
