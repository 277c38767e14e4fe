"""A run's executed notebook as HTML, sanitised, cached by run id.

A finished run's artifacts never change, so its notebook is converted once
and kept in ``.mlops/report/notebooks/<run_id>.<version>.html``. nbconvert's
``basic`` template writes the cells only (no scripts, no external assets)
and ``sanitize_html`` cleans what the notebook's Markdown and HTML outputs
hold, with :func:`clean_html`; the page around it is the report's own.
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


# Bumped when the conversion changes: a cached page of another is not used.
CONVERSION = 4


def cached_path(state_dir: Path, run_id: str) -> Path:
    from .. import __version__

    return state_dir / CACHE_DIR / f"{run_id}.{__version__}.{CONVERSION}.html"


# What a notebook's Markdown and HTML outputs may keep: text markup, tables
# and images, never a script, a style, a form, an event attribute or a frame.
# (nbconvert's own list also escapes headings, paragraphs and images.)
TAGS = frozenset(
    "a abbr b blockquote br code dd del div dl dt em h1 h2 h3 h4 h5 h6 hr i img "
    "kbd li ol p pre s span strong sub sup table tbody td th thead tr ul".split()
)
ATTRIBUTES = frozenset({"class", "id", "title", "alt", "width", "height"})
PROTOCOLS = frozenset({"http", "https", "mailto", "data"})


def allowed(tag: str, name: str, value: str) -> bool:
    """Attributes kept: the harmless ones, links (not to ``data:``) and
    images the notebook holds (``data:image/...``). An image from elsewhere
    loses its source: the pages fetch nothing (offline sites, no tracking
    pixel); its ``alt`` text stays."""
    if name in ATTRIBUTES:
        return True
    if tag == "a" and name == "href":
        return not value.strip().lower().startswith("data:")
    if tag == "img" and name == "src":
        return value.strip().lower().startswith("data:image/")
    return False


# A style element and its rules (pandas puts one before every DataFrame): the
# page's own stylesheet applies, so it is dropped, not shown as text.
STYLE_ELEMENT = re.compile(r"<style\b[^>]*>.*?</style\s*>", re.IGNORECASE | re.DOTALL)


def clean_html(element: object) -> str:
    """nbconvert's ``clean_html`` filter with :data:`TAGS` and
    :func:`allowed`: style elements are dropped; anything else not allowed is
    escaped, so it shows as text."""
    import bleach  # type: ignore[import-untyped]

    text = element.decode() if isinstance(element, bytes) else str(element)
    text = STYLE_ELEMENT.sub("", text)
    return str(
        bleach.clean(
            text, tags=TAGS, attributes=allowed, protocols=PROTOCOLS, strip=False
        )
    )


def to_html(notebook: Path) -> str:
    """The notebook's cells as sanitised HTML (a fragment)."""
    import nbformat
    from nbconvert import HTMLExporter

    node = nbformat.read(str(notebook), as_version=4)  # type: ignore[no-untyped-call]
    exporter = HTMLExporter(  # type: ignore[no-untyped-call]
        template_name="basic",
        sanitize_html=True,
        filters={"clean_html": clean_html},
    )
    with warnings.catch_warnings():  # pygments' lexer fallback
        warnings.simplefilter("ignore")
        body, _ = exporter.from_notebook_node(node)
    return str(body)


# An image the notebook holds, inline in an <img> of its page: written as a
# file of the site instead (Jenkins' default content security policy,
# img-src 'self', blocks data: images). Not SVG: as a file of the site it
# could run a script where it is opened; inline in <img> it never does.
INLINE_IMAGE = re.compile(
    r'(<img\b[^>]*?\s)src="data:image/(png|jpeg|gif|webp);base64,([A-Za-z0-9+/=\s]+)"'
)
EXTENSIONS = {"png": "png", "jpeg": "jpg", "gif": "gif", "webp": "webp"}


def split_images(html: str, run_id: str) -> tuple[str, dict[str, bytes]]:
    """``html`` (a notebook page's body, in ``notebooks/``) with each inline
    image pointing at a file ``<run_id>/<digest>.<ext>`` beside the page, and
    those files' bytes by their path in the site."""
    import base64
    import binascii
    import hashlib

    files: dict[str, bytes] = {}

    def to_file(found: re.Match[str]) -> str:
        tag, kind, text = found.groups()
        try:
            data = base64.b64decode("".join(text.split()), validate=True)
        except binascii.Error:
            return f'{tag}src=""'
        name = f"{hashlib.sha256(data).hexdigest()[:16]}.{EXTENSIONS[kind]}"
        files[f"notebooks/{run_id}/{name}"] = data
        return f'{tag}src="{run_id}/{name}"'

    return INLINE_IMAGE.sub(to_file, html), files


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
