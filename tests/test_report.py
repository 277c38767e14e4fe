"""The pipeline report after real pipeline runs, in a real headless browser.

A tiny project (governed-mlops-tools/tests/tiny_project.py) with the four
stages of a generated project, envs built by uv, runs its pipeline twice on
a real `mlflow server` (MLflow's REST API for the runner, MlflowClient for
the report): first everything runs; then data_prep and feature_eng are
skipped as unchanged, train fails in its second cell and eval is not run.
`mlops report build` writes the site, which Debian's chromium (driven by
Playwright) opens from disk; the run links open the real MLflow UI, and the
`serve` app answers the same pages. Screenshots go to
$GOVERNED_MLOPS_TEST_ARTIFACTS/report (default reports/test-artifacts/report).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO, TOOLS, free_port

sys.path.insert(0, str(TOOLS / "tests"))
from tiny_project import (  # noqa: E402
    built_project,
    mlops,
    spec_text,
)

pytestmark = [pytest.mark.slow]
PACKAGE = "tinyrep"
STAGES = ("data_prep", "feature_eng", "train", "eval")
EVIL = "<script>alert(1)</script>"
ARTIFACTS = (
    Path(
        os.environ.get("GOVERNED_MLOPS_TEST_ARTIFACTS")
        or REPO / "reports" / "test-artifacts"
    )
    / "report"
)


def chromium() -> str:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return ""


def start_mlflow(folder: Path, port: int) -> subprocess.Popen:
    """A real `mlflow server` on its own SQLite store (not waited for)."""
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    with open(folder / "server.log", "w") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--backend-store-uri",
                f"sqlite:///{folder / 'mlflow.db'}",
                "--artifacts-destination",
                str(folder / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for(uri: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(uri + "/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"mlflow server did not start:\n{log.read_text()}")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The project after its two pipeline runs on the server: (root, uri,
    the runs' summaries)."""
    base = tmp_path_factory.mktemp("report")
    port = free_port()
    server = start_mlflow(base, port)  # starts while the envs are built
    uri = f"http://127.0.0.1:{port}"
    root = base / PACKAGE
    # data_prep and feature_eng declare an input, so an unchanged one is skipped.
    specs = {
        stage: spec_text(stage, PACKAGE, inputs=["pyproject.toml"])
        for stage in ("data_prep", "feature_eng")
    }
    try:
        with (
            built_project(root, PACKAGE, STAGES, specs),
            pytest.MonkeyPatch.context() as patch,
        ):
            wait_for(uri, server, base / "server.log")
            patch.setenv(PACKAGE.upper() + "_MLFLOW_TRACKING_URI", uri)
            sys.modules[f"{PACKAGE}.config"].get_settings.cache_clear()
            first = mlops("pipeline", "run")
            assert first.code == 0, first.err
            second = mlops("pipeline", "run", "-p", "train.seed=-1")
            assert second.code == 1, second.err
            yield root, uri, first, second
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def summary(result) -> dict[str, list[str]]:
    return {row[0]: row for row in map(str.split, result.out.splitlines()[2:])}


def test_the_report_of_a_real_pipeline_in_chromium(runs):
    from playwright.sync_api import sync_playwright

    from governed_mlops.project import find_project
    from governed_mlops.report.serve import make_app
    from governed_mlops.settings import load

    browser_path = chromium()
    if not browser_path:
        reason = "no chromium (/usr/bin/chromium, chromium, chromium-browser)"
        if os.environ.get("GOVERNED_MLOPS_REQUIRE_BROWSER"):
            pytest.fail(reason + ": .ci/run installs it (apt-get install chromium)")
        pytest.skip(reason)
    root, uri, first, second = runs
    ran = summary(first)
    failed = summary(second)
    assert [failed[s][1] for s in STAGES] == ["CACHED", "CACHED", "FAILED", "SKIPPED"]
    # A stage recorded under a name no spec could have (another tool, an old run).
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    name = load(find_project()).mlflow_experiment
    experiment = client.get_experiment_by_name(name).experiment_id
    client.create_run(experiment, tags={"stage": EVIL, "cache.reason": EVIL})

    # The report reads a server through its REST API, page after page, as
    # MlflowClient would.
    from governed_mlops.report.collect import read_runs
    from governed_mlops.report.rest import RestClient, rest_client

    settings = load(find_project())
    assert isinstance(rest_client(settings), RestClient)
    paged = read_runs(RestClient(settings), experiment, 1000, page=2)
    listed = client.search_runs([experiment], order_by=["attributes.start_time DESC"])
    assert [r.info.run_id for r in paged] == [r.info.run_id for r in listed]
    assert len(paged) == (1 + 4) + (1 + 1) + 1  # two pipelines with their stages, EVIL
    assert paged[0].data.tags == listed[0].data.tags

    built = mlops("report", "build")
    assert built.code == 0, built.err
    site = root / "reports" / "site"
    assert built.out == f"report written to {site / 'index.html'}\n"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    train_run = failed["train"][3]
    dialogs: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=browser_path, args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on(
            "dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss())
        )
        page.goto((site / "index.html").as_uri())
        boxes = page.locator("ol.diagram > li")
        assert boxes.count() == 4
        shown = {
            boxes.nth(i).get_attribute("data-stage"): boxes.nth(i).inner_text()
            for i in range(4)
        }
        assert list(shown) == list(STAGES)
        prep_run = ran["data_prep"][3]
        assert "skipped (cached)" in shown["data_prep"]
        assert f"skipped: unchanged since run {prep_run}" in shown["data_prep"]
        assert "FAILED" in shown["train"]
        assert (
            "failed at cell 2: AssertionError: seed must not be negative"
            in shown["train"]
        )
        assert "not run: stage train failed before it" in shown["eval"]
        assert "Python" in shown["train"] and f"{PACKAGE}-train" in shown["train"]
        # The <script> stage name is text on the page, and ran nothing.
        evil = page.get_by_text(EVIL, exact=True)
        assert evil.count() >= 1 and evil.first.is_visible()
        assert dialogs == []
        page.screenshot(path=str(ARTIFACTS / "report-pipeline.png"), full_page=True)

        page.locator('li[data-stage="train"] a', has_text="notebook").click()
        assert page.get_by_text("seed must not be negative").first.is_visible()
        page.screenshot(path=str(ARTIFACTS / "report-notebook.png"), full_page=True)
        page.goto((site / "stages" / "train.html").as_uri())
        rows = page.locator("table.history tbody tr")
        assert rows.count() == 2 and "FAILED" in rows.first.inner_text()
        page.screenshot(path=str(ARTIFACTS / "report-stage.png"), full_page=True)
        page.goto((site / "status.html").as_uri())
        assert page.locator("#policy-status").is_visible()
        page.screenshot(path=str(ARTIFACTS / "report-status.png"), full_page=True)

        # The run link opens that run in the real MLflow UI.
        page.goto((site / "index.html").as_uri())
        link = page.locator('li[data-stage="train"] a.mlflow')
        assert link.get_attribute("href") == (
            f"{uri}/#/experiments/{experiment}/runs/{train_run}"
        )
        link.click()
        page.wait_for_url(f"{uri}/**")
        page.get_by_text(train_run).first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "report-mlflow-run.png"))

        # `mlops report serve`'s app answers the same pages.
        from werkzeug.serving import make_server

        project = find_project()
        served = make_server("127.0.0.1", 0, make_app(project, load(project)))
        thread = threading.Thread(target=served.serve_forever, daemon=True)
        thread.start()
        try:
            live = f"http://127.0.0.1:{served.port}/"
            page.goto(live)
            states = page.locator("ol.diagram > li").evaluate_all(
                "boxes => boxes.map(b => b.dataset.state)"
            )
            assert states == ["CACHED", "CACHED", "FAILED", "SKIPPED"]
            page.goto(live + "stages/train.html")
            assert page.locator("table.history tbody tr").count() == 2
            page.goto(live + f"notebooks/{train_run}.html")
            assert page.get_by_text("seed must not be negative").first.is_visible()
            assert page.goto(live + "stages/nosuch.html").status == 404
        finally:
            served.shutdown()
        assert dialogs == []

        # On a phone every page fits the screen's width (a wide table
        # scrolls by itself), and the stages stand one under another.
        page.set_viewport_size({"width": 375, "height": 800})
        for html in sorted(site.rglob("*.html")):
            page.goto(html.as_uri())
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= 375, f"{html.relative_to(site)} is {wide} px wide"
        page.goto((site / "index.html").as_uri())
        lefts = page.locator("ol.diagram > li").evaluate_all(
            "boxes => boxes.map(b => Math.round(b.getBoundingClientRect().left))"
        )
        assert len(set(lefts)) == 1, lefts
        page.screenshot(path=str(ARTIFACTS / "report-phone.png"), full_page=True)
        browser.close()


def png(width: int, height: int) -> bytes:
    """A grey PNG of that size (what a plot's output holds)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\0" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# Jenkins' default Content-Security-Policy for archived artifacts (its
# hudson.model.DirectoryBrowserSupport.CSP).
JENKINS_CSP = "sandbox; default-src 'none'; img-src 'self'; style-src 'self';"


def test_notebook_figures_show_under_jenkins_csp_and_nothing_is_fetched(tmp_path):
    """A figure in a notebook's output is a file of the site, which Jenkins'
    default policy lets a page show (a data: image it blocks); an image from
    the web in a notebook is never fetched."""
    import base64
    import hashlib
    import http.server
    import json

    from playwright.sync_api import sync_playwright

    from governed_mlops.report import collect, render
    from governed_mlops.report.notebooks import split_images, to_html
    from governed_mlops.report.site import write_site

    browser_path = chromium()
    if not browser_path:
        pytest.skip("no chromium (/usr/bin/chromium, chromium, chromium-browser)")
    figure = base64.b64encode(png(40, 30)).decode()
    cells = [
        {
            "cell_type": "code",
            "execution_count": 1,
            "id": "plot",
            "metadata": {},
            "source": ["plt.show()"],
            "outputs": [
                {
                    "output_type": "display_data",
                    "metadata": {},
                    "data": {"image/png": figure, "text/plain": ["<Figure>"]},
                }
            ],
        },
        {
            "cell_type": "markdown",
            "id": "logo",
            "metadata": {},
            "source": ["![logo](https://cdn.example.com/logo.png)\n"],
        },
    ]
    notebook = tmp_path / "train.ipynb"
    notebook.write_text(
        json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    run_id = "a" * 32
    body, images = split_images(to_html(notebook), run_id)
    report = collect.Report(
        "tinyrep", tmp_path, "sqlite:///x", "http://m", "e", "1", "now", [], [], [], {}
    )
    view = collect.StageView("train", "train", "FINISHED")
    site = write_site(
        tmp_path / "site",
        {
            "style.css": render.stylesheet(),
            f"notebooks/{run_id}.html": render.notebook(report, view, run_id, body),
            **images,
        },
    )

    class Jenkins(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(site), **kwargs)

        def end_headers(self) -> None:
            self.send_header("Content-Security-Policy", JENKINS_CSP)
            super().end_headers()

        def log_message(self, *args) -> None:
            pass

    from local_http import serving

    requested: list[str] = []
    console: list[str] = []
    with serving(Jenkins) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=browser_path, args=["--no-sandbox"]
        )
        page = browser.new_page()
        page.on("request", lambda request: requested.append(request.url))
        page.on("console", lambda message: console.append(message.text))
        page.goto(f"{base}/notebooks/{run_id}.html")
        page.wait_for_load_state("load")
        sizes = page.locator(".notebook-body img").evaluate_all(
            "images => images.map(i => [i.naturalWidth, i.getAttribute('src')])"
        )
        browser.close()
    assert [w for w, _ in sizes] == [
        40,
        0,
    ], sizes  # the figure shows; the logo has no source
    assert sizes[1][1] is None
    assert not [c for c in console if "Content Security Policy" in c], console
    assert all(u.startswith("http://127.0.0.1:") for u in requested), requested
    assert [p.name for p in (site / "notebooks" / run_id).iterdir()] == [
        f"{hashlib.sha256(png(40, 30)).hexdigest()[:16]}.png"
    ]
