"""``mlops report serve``: the report's pages rendered on request (Flask).

The same collection and render functions as the static site; each request
reads the store again, so a page shows the runs as they are now. Bound to
127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

from typing import Any

from ..errors import CommandError
from ..project import Project
from ..settings import ProjectSettings
from . import render
from .collect import DONE, collect, open_client


def make_app(project: Project, settings: ProjectSettings, mlflow_url: str = "") -> Any:
    """The Flask app serving the report's pages."""
    from flask import Flask, abort

    app = Flask("governed_mlops.report")
    opened: dict[str, Any] = {}

    def client() -> Any:
        # None (no store yet) is asked again: the first run may make it.
        if opened.get("client") is None:
            opened["client"] = open_client(settings)
        return opened["client"]

    app.register_error_handler(CommandError, unavailable)

    def report(details: bool = False) -> Any:
        from .site import notebook_pages

        found = collect(
            project, settings, client=client(), mlflow_url=mlflow_url, details=details
        )
        # Which runs have a notebook page (converted once, then cached).
        notebook_pages(found, client(), project.state_dir)
        return found

    def html(text: str) -> Any:
        return text, 200, {"Content-Type": "text/html; charset=utf-8"}

    @app.get("/")
    @app.get("/index.html")
    def index() -> Any:
        return html(render.index(report()))

    @app.get("/style.css")
    def style() -> Any:
        return render.stylesheet(), 200, {"Content-Type": "text/css; charset=utf-8"}

    @app.get("/status.html")
    def status() -> Any:
        return html(render.status(report(details=True)))

    @app.get("/stages/<slug>.html")
    def stage(slug: str) -> Any:
        found = report()
        view = found.view(slug)
        if view is None:
            abort(404)
        return html(render.stage(found, view))

    @app.get("/notebooks/<run_id>.html")
    def notebook(run_id: str) -> Any:
        found = collect(
            project, settings, client=client(), mlflow_url=mlflow_url, details=False
        )
        text = notebook_page(found, client(), project, run_id)
        if text is None:
            abort(404)
        return html(text)

    return app


def unavailable(error: CommandError) -> Any:
    """A store that cannot be read: its one line, as a page (503)."""
    from markupsafe import escape

    text = f"<!DOCTYPE html><title>report</title><p>{escape(str(error))}</p>"
    return text, 503, {"Content-Type": "text/html; charset=utf-8"}


def notebook_page(report: Any, client: Any, project: Project, run_id: str) -> Any:
    """The page of a run's executed notebook, None when there is none."""
    from .notebooks import notebook_html

    for view in report.stages + report.others:
        for run in view.history:
            if run.run_id != run_id:
                continue
            text = notebook_html(
                client, project.state_dir, run_id, run.notebook, run.status in DONE
            )
            if text is None:
                return None
            report.notebooks.add(run_id)
            return render.notebook(report, view, run_id, text)
    return None


def serve(app: Any, host: str, port: int, say: Any = print) -> None:
    """Serve until Ctrl-C (werkzeug's server, without its banner)."""
    import logging

    from werkzeug.serving import make_server

    from ..tracking.preflight import listen_problem

    # Checked first: werkzeug prints its own text and exits when it cannot bind.
    problem = listen_problem(host, port)
    if problem == "in use":
        raise CommandError(
            f"port {port} on {host} is already in use: stop what listens "
            f"there, or pick another with --port"
        )
    if problem:
        raise CommandError(f"cannot listen on {host}:{port} ({problem}): check --host")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server(host, port, app, threaded=True)
    say(f"serving the pipeline report at http://{host}:{server.port}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    finally:
        server.server_close()
