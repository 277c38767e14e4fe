"""``mlops tracking``: the project's MLflow tracking server."""

from __future__ import annotations

import argparse

from . import Subparsers, add_group, port, seconds
from ..project import find_project
from ..settings import env_prefix, load


def register(subparsers: Subparsers) -> None:
    _, commands = add_group(
        subparsers,
        "tracking",
        help="the MLflow tracking server of the project",
        description="The project's MLflow tracking server.",
    )
    server = commands.add_parser(
        "server",
        help="run an MLflow tracking server (the project's or a team's)",
        description="Run `mlflow server` as a service. Backend: "
        "MLFLOW_BACKEND_STORE_URI from the settings (sqlite, postgresql, "
        "mysql or mssql+pyodbc), default the project's SQLite store "
        "<MLFLOW_DIR>/mlflow.db; artifacts: MLFLOW_ARTIFACTS_DESTINATION, "
        "default <MLFLOW_DIR>/artifacts, served through the server's artifact "
        "proxy; on MLFLOW_HOST:MLFLOW_PORT (default 127.0.0.1:5000) with "
        "MLFLOW_SERVER_WORKERS workers (default sized to the machine). Options "
        "override the settings. Says 'ready' once /health answers; its output "
        "goes to <LOGS_DIR>/mlflow-server.log. Ctrl-C or SIGTERM stops it and "
        "every process it started. Point a project's runs at it with its "
        "setting <PREFIX>_MLFLOW_TRACKING_URI=http://HOST:PORT (e.g. in .env).",
    )
    server.add_argument(
        "--backend-store-uri",
        metavar="URI",
        help="database URI (a password here is visible to other users of the "
        "machine in its process list: prefer the setting or PGPASSWORD)",
    )
    server.add_argument("--artifacts-destination", metavar="URI_OR_PATH")
    server.add_argument("--host")
    server.add_argument("--port", type=port)
    server.add_argument("--workers", type=int, help="0: sized to the machine's CPUs")
    server.add_argument(
        "--start-timeout",
        type=seconds,
        default=300.0,
        metavar="SECONDS",
        help="give up when /health does not answer within this (default 300)",
    )
    server.add_argument(
        "--verbose", action="store_true", help="show the server's output too"
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
    from ..tracking import config, preflight, service

    project = find_project()
    prefix = env_prefix(project)
    server = config.from_settings(
        load(project),
        prefix,
        backend=args.backend_store_uri,
        artifacts=args.artifacts_destination,
        host=args.host,
        port=args.port,
        workers=args.workers,
    )
    source = (
        "--backend-store-uri"
        if args.backend_store_uri is not None
        else f"{prefix}MLFLOW_BACKEND_STORE_URI"
    )
    preflight.check_port(server.host, server.port, prefix)
    server = config.replace_backend(server, preflight.with_driver(server.backend))
    preflight.check_database(server, source)

    def say(line: str) -> None:
        print(f"mlops: {line}", flush=True)

    say(
        f"starting mlflow server: backend {server.shown_backend}, artifacts "
        f"{server.artifacts}, {server.workers} worker(s), output in {server.log}"
    )
    return service.serve(server, say, args.verbose, args.start_timeout)
