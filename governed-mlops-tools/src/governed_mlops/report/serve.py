"""``mlops report serve``: the report's pages rendered on request (Flask).

The same collection and render functions as the static site; each request
reads the store again, so a page shows the runs as they are now. Bound to
127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Optional

from ..errors import CommandError
from ..project import Project
from ..settings import ProjectSettings
from . import render
from .collect import NOT_SERVED, collect, open_client
from .notebooks import EXTENSIONS


class Pages:
    """What the served pages are made of: the store read on each request."""

    # The images of the notebook pages served last, by run: a page's images
    # are asked for just after it, and their names are digests of their bytes.
    KEPT_PAGES = 8

    def __init__(self, project: Project, settings: ProjectSettings, mlflow_url: str):
        self.project, self.settings, self.mlflow_url = project, settings, mlflow_url
        self._client: Any = None
        self._images: OrderedDict[str, dict[str, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def client(self) -> Any:
        # None (no store yet) is asked again: the first run may make it.
        if self._client is None:
            self._client = open_client(self.settings, outcome=NOT_SERVED)
        return self._client

    def report(self, details: bool = False, notebooks: bool = True) -> Any:
        from .site import notebook_pages

        found = collect(
            self.project,
            self.settings,
            client=self.client(),
            mlflow_url=self.mlflow_url,
            details=details,
            outcome=NOT_SERVED,
        )
        if notebooks:  # which runs have a notebook page (converted once, cached)
            notebook_pages(found, self.client(), self.project.state_dir)
        return found

    def notebook(self, run_id: str) -> tuple[str, dict[str, bytes]]:
        """A run's notebook page and its images; 404 when it has none."""
        from flask import abort

        found = self.report(notebooks=False)
        parts = notebook_page(found, self.client(), self.project, run_id)
        if parts is None:
            abort(404)
        with self._lock:
            self._images[run_id] = parts[1]
            self._images.move_to_end(run_id)
            while len(self._images) > self.KEPT_PAGES:
                self._images.popitem(last=False)
        return parts

    def image(self, run_id: str, name: str) -> Optional[bytes]:
        """An image of a run's notebook page: kept from the page, else read
        from the page made again (not finished runs' pages are not cached)."""
        path = f"notebooks/{run_id}/{name}"
        with self._lock:
            kept = self._images.get(run_id, {})
            if path in kept:
                return kept[path]
        return self.notebook(run_id)[1].get(path)


def make_app(project: Project, settings: ProjectSettings, mlflow_url: str = "") -> Any:
    """The Flask app serving the report's pages."""
    from flask import Flask, abort

    app = Flask("governed_mlops.report")
    pages = Pages(project, settings, mlflow_url)
    app.register_error_handler(CommandError, unavailable)

    def html(text: str) -> Any:
        return text, 200, {"Content-Type": "text/html; charset=utf-8"}

    @app.get("/")
    @app.get("/index.html")
    def index() -> Any:
        return html(render.index(pages.report()))

    @app.get("/favicon.ico")
    def favicon() -> Any:
        return "", 204  # none: not a 404 in the browser's console

    @app.get("/style.css")
    def style() -> Any:
        return render.stylesheet(), 200, {"Content-Type": "text/css; charset=utf-8"}

    @app.get("/status.html")
    def status() -> Any:
        return html(render.status(pages.report(details=True)))

    @app.get("/stages/<slug>.html")
    def stage(slug: str) -> Any:
        found = pages.report()
        view = found.view(slug)
        if view is None:
            abort(404)
        return html(render.stage(found, view))

    @app.get("/notebooks/<run_id>.html")
    def notebook(run_id: str) -> Any:
        return html(pages.notebook(run_id)[0])

    @app.get("/notebooks/<run_id>/<name>")
    def notebook_image(run_id: str, name: str) -> Any:
        data = pages.image(run_id, name)
        if data is None:
            abort(404)
        kind = IMAGE_TYPES.get(name.rsplit(".", 1)[-1], "application/octet-stream")
        return data, 200, {"Content-Type": kind, "X-Content-Type-Options": "nosniff"}

    return app


# The types of the image files notebook pages name (notebooks.EXTENSIONS).
IMAGE_TYPES = {ext: f"image/{kind}" for kind, ext in EXTENSIONS.items()}


def unavailable(error: CommandError) -> Any:
    """A store that cannot be read: its one line, as a page (503)."""
    from markupsafe import escape

    text = f"<!DOCTYPE html><title>report</title><p>{escape(str(error))}</p>"
    return text, 503, {"Content-Type": "text/html; charset=utf-8"}


def notebook_page(
    report: Any, client: Any, project: Project, run_id: str
) -> Optional[tuple[str, dict[str, bytes]]]:
    """The page of a recorded run's executed notebook and its images (by
    path in the site), None when there is none."""
    from . import site

    for view in report.stages + report.others:
        for run in view.history:
            if run.run_id == run_id:
                return site.notebook_page(report, view, run, client, project.state_dir)
    return None


def address(host: str, port: int) -> str:
    """The pages' URL (an IPv6 address in brackets)."""
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def loopback_only(host: str) -> bool:
    """Whether a server on ``host`` answers this machine alone (``0.0.0.0``
    and ``::`` answer every network the machine is on)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    say(f"serving the pipeline report at {address(host, server.port)} (Ctrl-C stops)")
    if not loopback_only(host):
        say(
            f"the pages are open to every machine that can reach {host}, with no "
            f"login: --host 127.0.0.1 keeps them to this one"
        )
    try:
        server.serve_forever()
    finally:
        server.server_close()
