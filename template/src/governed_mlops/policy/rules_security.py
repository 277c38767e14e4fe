"""Rules on what must never be committed: secrets and unresolved conflicts."""

from __future__ import annotations

import fnmatch
import re
from pathlib import PurePosixPath
from typing import Iterator

from .facts import Facts
from .model import Finding, rule

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
# A value that only stands for a secret (a template, a variable or a mask).
PLACEHOLDER = r"(\*+|\$\{?\w+\}?|%\w+%|\{[^}]*\}|<[^>]*>|x+|\.\.\.)"
SECRET_PATTERNS = {
    "a private key": re.compile(r"-----BEGIN ([A-Z]+ )*PRIVATE KEY-----"),
    "a URL with a password": re.compile(
        r"\b[a-z][a-z0-9+.-]*://[^\s/:@'\"]+:(?!" + PLACEHOLDER + r"@)" r"[^\s/@'\"]+@",
        re.IGNORECASE,
    ),
    "an AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "a GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
}
CONFLICT = re.compile(r"^(<{7}|>{7})( |$)")


@rule(
    "GOV201",
    "No secrets are committed",
    since="1.0.0",
    rationale="A secret in git is leaked to everyone with the repository, "
    "forever, even after it is deleted.",
    fix="Remove the file or value, rotate the secret, and read it from the "
    "environment or .env (git-ignored) through the project's Settings; Jenkins "
    "and GitHub provide credentials to CI.",
)
def no_secrets(facts: Facts) -> Iterator[Finding]:
    for name in facts.files:
        base = PurePosixPath(name).name
        if base not in ALLOWED_FILES and any(
            fnmatch.fnmatch(base, pattern) for pattern in SECRET_FILES
        ):
            yield Finding(f"{base} files hold secrets and are never committed", name)
            continue
        text = facts.text(name)
        if not text:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            for what, pattern in SECRET_PATTERNS.items():
                if pattern.search(line):
                    yield Finding(f"looks like {what}", name, number)


@rule(
    "GOV202",
    "No unresolved update conflicts",
    since="1.1.0",
    rationale="`copier update` leaves conflict markers or .rej files where "
    "the template and your edits overlap; committed, they break code and hide "
    "policy changes.",
    fix="Merge each conflict by hand (keep the lines you need, delete the "
    "markers), apply each .rej file to the file beside it and delete it; "
    "docs: 'Resolving conflicts' in the updating guide.",
)
def no_conflicts(facts: Facts) -> Iterator[Finding]:
    for name in facts.files:
        if name.endswith(".rej"):
            yield Finding("rejected hunks of an update, not applied", name)
            continue
        text = facts.text(name)
        if not text or ("<" * 7 not in text and ">" * 7 not in text):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if CONFLICT.match(line):
                yield Finding("conflict marker", name, number)
