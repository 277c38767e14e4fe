"""The report's pages, rendered by Jinja2 templates shipped with the package.

Autoescaping is on for every template: each text that comes from a
project, a notebook or a run (stage names, parameters, tags, error
messages) is escaped. Only two kinds of markup go in unescaped: the
sparklines, made of numbers by :mod:`.plots`, and an executed notebook,
sanitised by nbconvert (:mod:`.notebooks`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Optional

from .collect import ORPHANED, STOPPED, Report, StageView
from .plots import sparkline

# The state of a stage, as a CSS class and the words a reader sees.
STATES = {
    "FINISHED": ("ok", "finished"),
    "FAILED": ("failed", "FAILED"),
    "KILLED": ("failed", "killed"),
    "RUNNING": ("running", "running"),
    "CACHED": ("cached", "skipped (cached)"),
    "SKIPPED": ("skipped", "not run"),
    "WAITING": ("none", "waiting"),
    "NOT RUN": ("none", "never run"),
}


@lru_cache(maxsize=1)
def environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined
    from markupsafe import Markup

    env = Environment(
        loader=PackageLoader("governed_mlops.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["spark"] = lambda values: Markup(
        sparkline(values)
    )  # nosec B704 # numbers only
    env.filters["seconds"] = seconds
    env.filters["short"] = lambda text: str(text)[:12]
    env.globals["states"] = STATES
    env.globals["stopped"] = STOPPED
    env.globals["orphaned"] = ORPHANED
    return env


def stylesheet() -> str:
    """The pages' one stylesheet (a file, not inline: Jenkins' default
    content security policy blocks inline styles)."""
    return str(environment().get_template("style.css").render())


def seconds(value: Optional[float]) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f} s"
    return f"{int(value // 60)} min {value % 60:.0f} s"


def page(name: str, report: Report, root: str = "", **values: Any) -> str:
    template = environment().get_template(name)
    return str(template.render(report=report, root=root, **values))


def index(report: Report) -> str:
    """The pipeline: its stages in order as a diagram and as a table."""
    return page("index.html", report)


def stage(report: Report, view: StageView, notebook: Optional[str] = None) -> str:
    """A stage's run history, with a plot of each metric over its runs."""
    # Oldest first, as plotted; smoke runs (a quarter of the data) apart.
    runs = [run for run in reversed(view.history) if not run.smoke]
    series = {
        name: values
        for name in view.metric_names
        if (values := [run.metrics[name] for run in runs if name in run.metrics])
    }
    durations = [run.seconds for run in runs if run.seconds is not None]
    return page(
        "stage.html", report, "../", view=view, series=series, durations=durations
    )


def status(report: Report) -> str:
    """Drift between runs, the policy's status and the versions."""
    return page("status.html", report)


def notebook(report: Report, view: StageView, run_id: str, html: str) -> str:
    """A run's executed notebook (already sanitised HTML) in a report page."""
    from markupsafe import Markup

    body = Markup(html)  # nosec B704 # sanitised by nbconvert (notebooks.py)
    return page("notebook.html", report, "../", view=view, run_id=run_id, body=body)
