"""``mlops report``: the pipeline report, as a static site or served live."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import Subparsers, add_group, port_or_any


def register(subparsers: Subparsers) -> None:
    _, commands = add_group(
        subparsers,
        "report",
        help="the pipeline report: stages, runs, drift and policy as web pages",
        description="Web pages of the project's pipeline runs read from its MLflow "
        "store: the stages in order with their last run, each stage's history, "
        "drift between runs, the policy's status and the versions.",
    )
    build = commands.add_parser(
        "build",
        help="write the report as a static site (reports/site/index.html)",
        description="Write the report as static HTML pages with relative links, "
        "which open from disk and from a CI artifact (Jenkins publishHTML, "
        "GitHub upload-artifact). The folder is replaced atomically.",
    )
    build.add_argument(
        "--output",
        type=Path,
        metavar="DIR",
        help="the site's folder (default reports/site)",
    )
    add_mlflow_url(build)
    build.set_defaults(handler=run_build)
    serve = commands.add_parser(
        "serve",
        help="serve the same pages live (stops on Ctrl-C)",
        description="Serve the report's pages, read from the store on each request.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    serve.add_argument(
        "--port", type=port_or_any, default=8050, help="default 8050; 0: any free port"
    )
    add_mlflow_url(serve)
    serve.set_defaults(handler=run_serve)


def add_mlflow_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mlflow-url",
        metavar="URL",
        default="",
        help="the MLflow UI the run links open (default: the setting "
        "MLFLOW_UI_URL, else the tracking server, else "
        "http://MLFLOW_HOST:MLFLOW_PORT as `mlops tracking server` serves)",
    )


def run_build(args: argparse.Namespace) -> int:
    from ..extras import require_pipeline
    from ..project import find_project
    from ..report import build_site
    from ..settings import load

    require_pipeline("report build")

    project = find_project()
    site = build_site(project, load(project), args.output, mlflow_url=args.mlflow_url)
    print(f"report written to {site / 'index.html'}")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from ..project import find_project
    from ..report.serve import make_app, serve
    from ..settings import load

    project = find_project()
    app = make_app(project, load(project), args.mlflow_url)
    try:
        # werkzeug's server returns on Ctrl-C itself; ours too, should it raise.
        serve(app, args.host, args.port, lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        pass
    except OSError as error:
        from ..errors import CommandError

        raise CommandError(
            f"cannot serve on {args.host}:{args.port}: {error}"
        ) from None
    print("report server stopped", file=sys.stderr)
    return 0
