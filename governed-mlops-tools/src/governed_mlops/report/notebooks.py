"""A run's executed notebook as HTML, sanitised, cached by run id.

A finished run's artifacts never change, so its notebook is converted once
and kept in ``.mlops/report/notebooks/<run_id>.html``. nbconvert's ``basic``
template writes the cells only (no scripts, no external assets) and
``sanitize_html`` cleans what the notebook's outputs hold (HTML, Markdown);
the page around it is the report's own.
"""

from __future__ import annotations

import re
import tempfile
import warnings
from pathlib import Path
from typing import Any, Optional

from ..files import write_atomic

CACHE_DIR = Path("report") / "notebooks"  # under the project's .mlops/
RUN_ID = re.compile(r"[0-9a-f]{32}")


def cached_path(state_dir: Path, run_id: str) -> Path:
    return state_dir / CACHE_DIR / f"{run_id}.html"


def to_html(notebook: Path) -> str:
    """The notebook's cells as sanitised HTML (a fragment)."""
    import nbformat
    from nbconvert import HTMLExporter

    node = nbformat.read(str(notebook), as_version=4)  # type: ignore[no-untyped-call]
    exporter = HTMLExporter(  # type: ignore[no-untyped-call]
        template_name="basic", sanitize_html=True
    )
    with warnings.catch_warnings():  # pygments' lexer fallback
        warnings.simplefilter("ignore")
        body, _ = exporter.from_notebook_node(node)
    return str(body)


def notebook_html(
    client: Any, state_dir: Path, run_id: str, artifact: str, final: bool
) -> Optional[str]:
    """The run's executed notebook (``artifact``, e.g. ``audit/03-train.ipynb``)
    as HTML, from the cache or converted now (and cached when the run is
    ``final``); None when the run has none."""
    if not RUN_ID.fullmatch(run_id) or not artifact:
        return None
    cached = cached_path(state_dir, run_id)
    if cached.is_file():
        return cached.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as folder:
        try:
            local = Path(client.download_artifacts(run_id, artifact, folder))
        except Exception:  # noqa: BLE001 - not uploaded (yet): no notebook page
            return None
        html = to_html(local)
    if final:
        write_atomic(cached, html)
    return html
