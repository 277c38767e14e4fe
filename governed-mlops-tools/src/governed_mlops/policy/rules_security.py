"""Rules on what must never be committed: secrets and unresolved conflicts."""

from __future__ import annotations

import fnmatch
import re
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
SECRET_NAME = re.compile("|".join(fnmatch.translate(p) for p in SECRET_FILES))
# A value that only stands for a secret (a template, a variable or a mask).
PLACEHOLDER = re.compile(r"\*+|\$\{?\w+\}?|%\w+%|\{[^}]*\}|<[^>]*>|x+|\.\.\.")
SECRET_PATTERNS = {
    "a private key": re.compile(r"-----BEGIN ([A-Z]+ )*PRIVATE KEY-----"),
    # Each pattern starts with a literal, so that big files (uv.lock) scan fast.
    "a URL with a password": re.compile(r"://[^\s/:@'\"]+:(?P<secret>[^\s/@'\"]+)@"),
    "an AWS access key": re.compile(r"AKIA[0-9A-Z]{16}(?![0-9A-Z])"),
    "a GitHub token": re.compile(r"gh[pousr]_[A-Za-z0-9]{36,}"),
}
CONFLICT = re.compile(r"^(<{7}|>{7})( |$)", re.MULTILINE)


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


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
        base = name.rpartition("/")[2]
        if base not in ALLOWED_FILES and SECRET_NAME.match(base):
            yield Finding(f"{base} files hold secrets and are never committed", name)
            continue
        text = facts.text(name)
        if not text:
            continue
        for what, pattern in SECRET_PATTERNS.items():
            for match in pattern.finditer(text):
                if "secret" in pattern.groupindex and PLACEHOLDER.fullmatch(
                    match.group("secret")
                ):
                    continue
                yield Finding(f"looks like {what}", name, _line(text, match.start()))


@rule(
    "GOV202",
    "No unresolved update conflicts",
    since="1.1.0",
    rationale="`copier update` leaves conflict markers or .rej files where "
    "the template and your edits overlap; committed, they break code and hide "
    "policy changes.",
    fix="Merge each conflict by hand (keep the lines you need, delete the "
    "markers), apply each .rej file to the file beside it and delete it; "
    "README.md, 'Updating to a new policy version'.",
)
def no_conflicts(facts: Facts) -> Iterator[Finding]:
    for name in facts.files:
        if name.endswith(".rej"):
            yield Finding("rejected hunks of an update, not applied", name)
            continue
        text = facts.text(name)
        if not text:
            continue
        for match in CONFLICT.finditer(text):
            yield Finding("conflict marker", name, _line(text, match.start()))
