"""``mlops tracking``: the project's MLflow tracking server."""

from __future__ import annotations

import argparse
import subprocess

from . import Subparsers, add_group
from ..project import find_project
from ..settings import load


def register(subparsers: Subparsers) -> None:
    _, commands = add_group(
        subparsers,
        "tracking",
        help="the MLflow tracking server of the project",
        description="The project's MLflow tracking server.",
    )
    server = commands.add_parser(
        "server",
        help="serve the project's SQLite store and artifact folder",
        description="Run `mlflow server` on the project's SQLite store "
        "(<MLFLOW_DIR>/mlflow.db) with <MLFLOW_DIR>/artifacts as artifact "
        "destination, on MLFLOW_HOST:MLFLOW_PORT from the settings (default "
        "127.0.0.1:5000). Point runs at it with MLFLOW_TRACKING_URI="
        "http://HOST:PORT. Stops on Ctrl-C.",
    )
    server.set_defaults(handler=run_server)
    uri = commands.add_parser(
        "uri",
        help="print the tracking URI the runner uses",
        description="Print the MLflow tracking URI from the settings, e.g. for "
        "MLFLOW_TRACKING_URI before `mlflow run` or `mlflow ui`.",
    )
    uri.set_defaults(handler=run_uri)


def run_uri(args: argparse.Namespace) -> int:
    settings = load(find_project())
    print(settings.mlflow_tracking_uri)
    return 0


def run_server(args: argparse.Namespace) -> int:
    from ..runner.tracking import server_command

    project = find_project()
    command = server_command(load(project))
    print(" ".join(command), flush=True)
    return subprocess.call(command)
