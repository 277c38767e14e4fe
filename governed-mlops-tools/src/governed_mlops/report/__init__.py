"""The pipeline report: static HTML pages of a project's runs, and a server.

``mlops report build`` writes them (:func:`build_site`) to ``reports/site/``,
which opens from disk and is what CI publishes; ``mlops report serve``
renders the same pages on request (:mod:`.serve`). The runs are read through
MLflow's public client (:mod:`.collect`), rendered by Jinja2 templates with
autoescaping (:mod:`.render`), with inline SVG plots (:mod:`.plots`) and each
stage's executed notebook as sanitised HTML (:mod:`.notebooks`).
"""

from __future__ import annotations

from .site import build_site

__all__ = ["build_site"]
