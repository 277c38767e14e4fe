"""Rules on what must never be committed: secrets and unresolved conflicts."""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Iterator

from . import secret_scan
from .facts import Facts
from .model import Finding, NotApplicable, line_of, rule

SECRET_FILES = (
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    ".netrc",
    ".pypirc",
)
ALLOWED_FILES = (".env.example",)
SECRET_NAME = re.compile("|".join(fnmatch.translate(p) for p in SECRET_FILES))
CONFLICT = re.compile(r"^(<{7}|>{7})( |$)", re.MULTILINE)
# The update guard's markers in pyproject.toml and stage specs: the file
# parses, the template's lines wait commented out (governed_mlops.update).
COMMENTED_CONFLICT = re.compile(r"^[ \t]*# (<{7}|>{7})( |$)", re.MULTILINE)


@rule(
    "GOV201",
    "No secrets are committed",
    since="1.0.0",
    rationale="A secret in git is leaked to everyone with the repository, "
    "forever, even after it is deleted. Files named like secrets (.env, *.pem, "
    "id_rsa...) are refused; contents are scanned by detect-secrets with the "
    "settings of the project's detect-secrets hook (docs/ci.md, Secret "
    "scanning). In the report at copier copy, and where detect-secrets is not "
    "installed, built-in patterns stand in and a clean result is not "
    "applicable.",
    fix="Remove the file or value, rotate the secret, and read it from the "
    "environment or .env (git-ignored) through the project's Settings; Jenkins "
    "and GitHub provide credentials to CI. A value that is not a secret: end "
    "its line with the comment `pragma: allowlist secret` (the hook honours it "
    "too).",
)
def no_secrets(facts: Facts) -> Iterator[Finding]:
    texts = {}
    found = False
    for name in facts.files:
        base = name.rpartition("/")[2]
        if base not in ALLOWED_FILES and SECRET_NAME.match(base):
            found = True
            yield Finding(f"{base} files hold secrets and are never committed", name)
            continue
        text = facts.text(name)
        if text:
            texts[name] = text
    scan = secret_scan.scan(facts.root, texts)
    for hit in scan.hits:
        found = True
        yield Finding(f"looks like {hit.kind}", hit.path, hit.line)
    if not scan.complete and not found:
        raise NotApplicable(f"only {scan.scanner} ran, and found nothing")


@rule(
    "GOV202",
    "No unresolved update conflicts",
    since="1.1.0",
    rationale="`copier update` leaves conflict markers or .rej files where "
    "the template and your edits overlap; committed, they break code and hide "
    "policy changes. The update guard's commented markers (pyproject.toml, "
    "stage specs) and nbdime's markers inside notebook cells count too, and "
    "so does a file git still holds as conflicted: a notebook the update kept "
    "as it was has no markers, and `git add` would drop the template's changes.",
    fix="Merge each conflict by hand (keep the lines you need, delete the "
    "markers, or the whole commented `# <<<<<<<` block once its lines are "
    "merged), apply each .rej file to the file beside it and delete it; a "
    "notebook kept for want of nbdime: reset and update again with nbdime "
    "(docs/updating.md), or merge the template's version (`git show :3:PATH`) "
    "by hand; then `git add` each file. README.md, 'Updating to a new policy "
    "version'.",
)
def no_conflicts(facts: Facts) -> Iterator[Finding]:
    marked = set()
    for finding in _marked_conflicts(facts):
        marked.add(finding.path)
        yield finding
    for name in sorted(facts.unmerged - marked):
        yield Finding(
            "git still holds it as conflicted (unmerged), though it has no "
            "conflict marker: the template's changes to it are not in it",
            name,
        )


def _marked_conflicts(facts: Facts) -> Iterator[Finding]:
    for name in facts.files:
        if name.endswith(".rej"):
            yield Finding("rejected hunks of an update, not applied", name)
            continue
        text = facts.text(name)
        if not text:
            continue
        cells = notebook_cells(text) if name.endswith(".ipynb") else None
        if cells is not None:
            for number, source in cells:
                if CONFLICT.search(source):
                    yield Finding(f"conflict marker in cell {number}", name)
            continue
        for match in CONFLICT.finditer(text):
            yield Finding("conflict marker", name, line_of(text, match.start()))
        for match in COMMENTED_CONFLICT.finditer(text):
            yield Finding(
                "commented conflict block of an update (the template's lines "
                "not applied)",
                name,
                line_of(text, match.start()),
            )


def notebook_cells(text: str) -> list[tuple[int, str]] | None:
    """``(number from 1, source)`` of a notebook's cells; None when the text
    is not notebook JSON (then its lines are checked as text)."""
    try:
        notebook = json.loads(text)
    except ValueError:
        return None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        return None
    found = []
    for number, cell in enumerate(cells, 1):
        source = cell.get("source", "") if isinstance(cell, dict) else ""
        text = "".join(source) if isinstance(source, list) else str(source)
        found.append((number, text))
    return found
