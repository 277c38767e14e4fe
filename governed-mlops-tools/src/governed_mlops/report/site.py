"""``mlops report build``: the report as a static site, written atomically.

The site is a folder of HTML files with relative links only and no external
asset, so it opens from disk, from Jenkins' publishHTML and from a CI
artifact: ``index.html`` (the pipeline), ``status.html`` (drift, policy,
versions), ``stages/<stage>.html`` (each stage's history) and
``notebooks/<run_id>.html`` (the executed notebook of each stage's latest
run). It is written into a temporary folder beside the target, then swapped
in: a reader never sees half a site, and a failed build leaves the previous
one as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from ..errors import CommandError
from ..project import Project
from ..settings import ProjectSettings
from . import render
from .collect import DONE, Report, StageRun, StageView, collect, open_client

DEFAULT_OUTPUT = Path("reports") / "site"


def notebook_pages(
    report: Report, client: Any, state_dir: Path
) -> dict[str, Union[str, bytes]]:
    """The executed notebook of each stage's latest run, as report pages
    (also of a stage the latest pipeline skipped: its run before)."""
    pages: dict[str, Union[str, bytes]] = {}
    for view in report.stages + report.others:
        run = view.run or (view.history[0] if view.history else None)
        if client is None or run is None:
            continue
        made = notebook_page(report, view, run, client, state_dir)
        if made is not None:
            pages[f"notebooks/{run.run_id}.html"] = made[0]
            pages.update(made[1])
    return pages


def notebook_page(
    report: Report, view: StageView, run: StageRun, client: Any, state_dir: Path
) -> Optional[tuple[str, dict[str, bytes]]]:
    """The page of a run's executed notebook and its images (by path in the
    site); None when the run has none. Marks the run as having a page."""
    from .notebooks import notebook_html, split_images

    html = notebook_html(
        client, state_dir, run.run_id, run.notebook, run.status in DONE
    )
    if html is None:
        return None
    report.notebooks.add(run.run_id)
    body, images = split_images(html, run.run_id)
    return render.notebook(report, view, run.run_id, body), images


def pages(report: Report, client: Any, state_dir: Path) -> dict[str, Union[str, bytes]]:
    """Every page of the site, by relative path."""
    found = notebook_pages(report, client, state_dir)
    found["style.css"] = render.stylesheet()
    found["index.html"] = render.index(report)
    found["status.html"] = render.status(report)
    for view in report.stages + report.others:
        found[f"stages/{view.slug}.html"] = render.stage(report, view)
    return found


# Written into every site: a folder holding other files is never replaced.
MARKER = ".mlops-report"


def check_target(output: Path) -> None:
    """Refuse a target that is not a report folder: a file, or a folder
    holding anything but a site this command wrote (``--output .`` in a
    project would otherwise replace the project)."""
    if not output.exists():
        return
    if not output.is_dir():
        raise CommandError(
            f"--output {output}: a file, not a folder; choose a new or empty "
            f"folder. Nothing was written"
        )
    if (output / MARKER).is_file() or not any(output.iterdir()):
        return
    raise CommandError(
        f"--output {output}: the folder holds files that are not a report "
        f"(no {MARKER}); choose a new or empty folder. Nothing was written"
    )


KEPT = "; the previous one is unchanged"


def unwritable(action: str, error: OSError, kept: str) -> CommandError:
    """One line for a site that could not be written (nothing half-done)."""
    return CommandError(f"cannot {action}: {error.strerror or error}{kept}")


def write_site(output: Path, files: Mapping[str, Union[str, bytes]]) -> Path:
    """Write ``files`` as the folder ``output``, replacing a previous site
    atomically; anything else at ``output`` is refused, untouched."""
    output = output.resolve()
    check_target(output)
    files = {**files, MARKER: "Written by `mlops report build`: replaced whole.\n"}
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    except OSError as error:
        raise unwritable(f"write the report to {output}", error, "") from None
    old = output.with_name(f".{output.name}.old-{os.getpid()}")
    action = f"write the report to {output}"
    try:
        for relative, content in files.items():
            path = building / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        building.chmod(0o755)
        if output.exists():
            output.rename(old)
        action = f"replace the report at {output}"
        building.rename(output)
    except BaseException as error:
        if old.exists() and not output.exists():
            old.rename(output)  # the previous site stays where it was
        shutil.rmtree(building, ignore_errors=True)
        if isinstance(error, OSError):
            raise unwritable(action, error, KEPT) from None
        raise
    shutil.rmtree(old, ignore_errors=True)
    return output


def build_site(
    project: Project,
    settings: ProjectSettings,
    output: Optional[Path] = None,
    *,
    mlflow_url: str = "",
    client: Any = None,
) -> Path:
    """Write the report of the project's runs to ``output`` (default
    ``reports/site/`` of the project) and return the folder; its entry is
    ``index.html``. ``mlflow_url``: where the MLflow UI's run links point
    (default: see :func:`collect.mlflow_ui_url`). Raises ``CommandError``
    (one line, nothing written) when the store cannot be read."""
    target = output if output is not None else project.root / DEFAULT_OUTPUT
    if client is None:
        client = open_client(settings, project.state_dir)
    report = collect(project, settings, client=client, mlflow_url=mlflow_url)
    files = pages(report, client, project.state_dir)
    return write_site(target, files)
