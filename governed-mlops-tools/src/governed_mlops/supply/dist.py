"""The project's own distribution: built, checked, and published to the
organisation's package index on release tags.

``build`` makes the wheel and sdist with ``uv build`` in a temporary folder,
checks them with ``twine check --strict`` (metadata, and the README as PyPI
and most indexes render it) and only then replaces the project's earlier
files in ``dist/``. ``publish`` uploads them with ``uv publish`` when HEAD
carries the release tag of the project's version. Credentials reach the one
child that needs them through its environment, never its argv, and the
project's other secrets are taken out of that environment; what a child
prints is redacted before it is shown.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..errors import CommandError
from ..gitcmd import git_or_none
from ..project import Project
from ..runner.tracking import split_login
from ..settings import ProjectSettings, child_env, index_token
from ..stages.installers import IndexOptions, find_uv, redact

DIST = "dist"
PUBLISH_USER = "__token__"


@dataclass(frozen=True)
class Upload:
    """Where and as whom ``publish`` uploads (from the project's settings)."""

    url: str
    username: str
    token: str

    @classmethod
    def from_settings(cls, settings: ProjectSettings, prefix: str) -> "Upload":
        """The project's settings ``publish_*``; where unset, uv's own
        ``UV_PUBLISH_URL`` and ``UV_PUBLISH_TOKEN`` (what a CI file shared
        by every project, such as the GitHub workflow, can set)."""
        url = str(getattr(settings, "publish_url", "") or "")
        url = url or os.environ.get("UV_PUBLISH_URL", "")
        # A login in the URL would be in uv's argv and in every message.
        url, url_user, url_password = split_login(url)
        if not url:
            raise CommandError(
                f"{prefix}PUBLISH_URL (or UV_PUBLISH_URL) is not set: give the "
                f"upload URL of the organisation's package index (its upload "
                f"API, not the /simple/ page), in the CI's environment or .env"
            )
        token = getattr(settings, "publish_token", None)
        secret = token.get_secret_value() if token is not None else ""
        secret = secret or os.environ.get("UV_PUBLISH_TOKEN", "")
        username = str(getattr(settings, "publish_username", "") or PUBLISH_USER)
        if not secret and url_password:  # the settings' token wins over it
            username, secret = url_user or PUBLISH_USER, url_password
        if not secret:
            raise CommandError(
                f"{prefix}PUBLISH_TOKEN (or UV_PUBLISH_TOKEN) is not set: pass "
                f"the index's upload token from the CI's credentials (Jenkins "
                f"credentials, GitHub secrets), never in a file"
            )
        return cls(url, username, secret)


def _run(
    command: list[str], cwd: Path, env: dict[str, str], secrets: Sequence[str]
) -> tuple[int, str]:
    done = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    return done.returncode, redact(done.stdout + done.stderr, secrets).strip()


def _tail(output: str, lines: int = 12) -> str:
    return "\n".join(output.splitlines()[-lines:]) or "no output"


def _uv() -> str:
    uv = find_uv()
    if uv is None:
        raise CommandError("uv was not found: install the tools' pipeline extra")
    return uv


def build(
    project: Project, settings: ProjectSettings, say: Callable[[str], None]
) -> list[Path]:
    """Build, check and keep the project's wheel and sdist in ``dist/``."""
    import importlib.util

    if importlib.util.find_spec("twine") is None:
        raise CommandError(
            f"twine is not installed in {sys.prefix}: run `uv sync` (the "
            f"project's dev group has it)"
        )
    secrets = [*settings.secret_values(), index_token(settings)]
    index = IndexOptions(
        index_url=project.index_url,
        token=index_token(settings),
    )
    target = project.root / DIST
    with tempfile.TemporaryDirectory(prefix="mlops-dist-") as folder:
        say(f"building {project.name} {project.version} (wheel and sdist)")
        code, output = _run(
            [_uv(), "build", "--sdist", "--wheel", "--out-dir", folder],
            project.root,
            child_env(secrets, index.env()),
            secrets,
        )
        built = own_files(Path(folder), project.name)
        if code != 0 or not built:
            raise CommandError(f"uv build failed:\n{_tail(output)}")
        say("checking them with twine check --strict")
        code, output = _run(
            [sys.executable, "-m", "twine", "check", "--strict", *map(str, built)],
            project.root,
            child_env(secrets),
            secrets,
        )
        if code != 0:
            raise CommandError(f"twine check failed:\n{_tail(output)}")
        target.mkdir(exist_ok=True)
        for old in own_files(target, project.name):
            old.unlink()
        return [Path(shutil.move(str(p), target / p.name)) for p in built]


def _normalised(name: str) -> str:
    """A distribution name as wheel and sdist file names spell it."""
    return re.sub(r"[-_.]+", "_", name).lower()


def own_files(folder: Path, name: str, version: str = "") -> list[Path]:
    """The project's wheels and sdists in ``folder`` (of ``version``, if given)."""
    stem = f"{_normalised(name)}-{version}" if version else _normalised(name)

    def ours(file: str) -> bool:
        if version:
            return (
                file.startswith(stem + "-")
                and file.endswith(".whl")
                or (file == stem + ".tar.gz")
            )
        return file.startswith(stem + "-") and file.endswith((".whl", ".tar.gz"))

    return sorted(path for path in folder.glob("*") if ours(path.name.lower()))


def release_tag(root: Path, version: str) -> str:
    """The tag of ``version`` (``1.2.0`` or ``v1.2.0``) that HEAD carries."""
    tags = os.fsdecode(git_or_none(root, "tag", "--points-at", "HEAD") or b"").split()
    for tag in (version, f"v{version}"):
        if tag in tags:
            return tag
    shown = ", ".join(tags) if tags else "no tag"
    raise CommandError(
        f"HEAD is not the release of version {version} (it has {shown}): "
        f"publishing runs on release tags only; tag it `v{version}` (the version "
        f"is [project] version in pyproject.toml)"
    )


def publish(
    project: Project,
    settings: ProjectSettings,
    upload: Upload,
    tag: str,
    say: Callable[[str], None],
) -> list[Path]:
    """Upload the project's built files of its version (release ``tag``, from
    :func:`release_tag`) to ``upload.url``."""
    files = own_files(project.root / DIST, project.name, project.version)
    if not files:
        raise CommandError(
            f"no wheel or sdist of {project.name} {project.version} in {DIST}/: "
            f"run `mlops ci build` first"
        )
    secrets = [*settings.secret_values(), index_token(settings), upload.token]
    say(f"publishing {len(files)} file(s) of tag {tag} to {upload.url}")
    command = [_uv(), "publish", "--publish-url", upload.url, *map(str, files)]
    env = child_env(
        secrets,
        {"UV_PUBLISH_USERNAME": upload.username, "UV_PUBLISH_PASSWORD": upload.token},
    )
    env.pop("UV_PUBLISH_TOKEN", None)  # uv would prefer it to the password
    code, output = _run(command, project.root, env, secrets)
    if code != 0:
        raise CommandError(f"uv publish to {upload.url} failed:\n{_tail(output)}")
    return files
