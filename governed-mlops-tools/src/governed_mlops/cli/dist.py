"""``mlops dist``: the project's wheel and sdist, built and checked, and
published to the organisation's package index on release tags."""

from __future__ import annotations

import argparse

from . import Subparsers, add_group
from ..project import find_project


def register(subparsers: Subparsers) -> None:
    _, commands = add_group(
        subparsers,
        "dist",
        help="the project's own wheel and sdist: build, publish",
        description="Build the project's distribution files and publish them to "
        "the organisation's package index.",
    )
    build = commands.add_parser(
        "build",
        help="build the wheel and sdist into dist/ and check them",
        description="Build the project's wheel and sdist with `uv build`, check "
        "them with `twine check --strict`, and keep them in dist/ (replacing "
        "the project's earlier files there) only when both pass.",
    )
    build.set_defaults(handler=run_build)
    publish = commands.add_parser(
        "publish",
        help="upload dist/ to the organisation's index (release tags only)",
        description="Upload the wheel and sdist of the project's version from "
        "dist/ with `uv publish`, when HEAD carries the tag of that version "
        "(1.2.0 or v1.2.0). The upload URL is the setting PUBLISH_URL; the "
        "account PUBLISH_USERNAME (default __token__) and the token "
        "PUBLISH_TOKEN come from the CI's credentials, and reach uv through its "
        "environment only.",
    )
    publish.set_defaults(handler=run_publish)


def run_build(args: argparse.Namespace) -> int:
    from ..progress import Progress
    from ..settings import load
    from ..supply import dist

    project = find_project()
    for path in dist.build(project, load(project), Progress("dist build")):
        print(path.relative_to(project.root).as_posix())
    return 0


def run_publish(args: argparse.Namespace) -> int:
    from ..progress import Progress
    from ..settings import env_prefix, load
    from ..supply import dist

    project = find_project()
    tag = dist.release_tag(project.root, project.version)  # before any setting
    settings = load(project)
    upload = dist.Upload.from_settings(settings, env_prefix(project))
    files = dist.publish(project, settings, upload, tag, Progress("dist publish"))
    for path in files:
        print(f"published {path.name} to {upload.url}")
    return 0
