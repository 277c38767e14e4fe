"""``mlops info``: where this project keeps its settings, logs and stores."""

from __future__ import annotations

import argparse

from . import Subparsers
from ..project import find_project
from ..runner.tracking import shown_uri
from ..settings import load


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "info",
        help="show the project root, package and resolved settings paths",
        description="Show the project root, package and resolved settings paths.",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    project = find_project()
    settings = load(project)
    print(f"project root : {project.root}")
    print(f"package      : {project.package}")
    for name in ("data_dir", "models_dir", "logs_dir", "artifacts_dir", "mlflow_dir"):
        print(f"{name:<13}: {getattr(settings, name)}")
    print(f"mlflow uri   : {shown_uri(settings.mlflow_tracking_uri)}")
    return 0
