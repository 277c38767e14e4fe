"""Policy versions: each template release is one (its PEP 440 git tag)."""

from __future__ import annotations

import re
from typing import Any, Optional

from packaging.version import InvalidVersion, Version

from .. import __version__

# The policy this copy of the tools enforces is the tools' own version (they
# are released together, docs/changelog.md); the oldest template version a
# project may still be generated from.
POLICY_VERSION = __version__
OLDEST_SUPPORTED = "1.0.0"


def template_version(commit: object) -> Optional[Version]:
    """The release in a ``_commit`` answer: ``1.0.0``, ``v1.0.0`` or
    ``1.0.0-3-gabc1234`` (commits after a tag); None when it names no tag."""
    match = re.match(r"v?(\d+(?:\.\d+)*(?:(?:a|b|rc)\d+)?)(?:-|$)", str(commit or ""))
    if not match:
        return None
    try:
        return Version(match.group(1))
    except InvalidVersion:
        return None


def is_release(commit: object) -> bool:
    """Whether a ``_commit`` answer is exactly a release tag (``1.2.0``,
    ``v1.2.0``), not a commit after one (``1.2.0-3-gabc1234``) or a hash."""
    text = str(commit or "")
    version = template_version(text)
    return (
        version is not None
        and text.lstrip("v") == str(version)
        and not re.fullmatch(r"[0-9a-f]{7,40}", text)
    )


TOOLS = "governed-mlops-tools"
EQUALS_PIN = re.compile(r"==\s*([^\s,;]+)")
# The revision after the URL's last `@`: a login (`git@host`) comes before it.
GIT_PIN = re.compile(r"@\s*git\+[^#\s]*@([^@#\s]+)")


def tools_requirements(pyproject: dict[str, Any]) -> list[str]:
    """The entries of ``[dependency-groups]`` that name the tools."""
    groups = pyproject.get("dependency-groups", {})
    found = []
    for entries in groups.values() if isinstance(groups, dict) else ():
        for entry in entries if isinstance(entries, list) else ():
            if not isinstance(entry, str):
                continue
            name = re.split(r"[\s\[=<>!~;@]", entry.strip(), maxsplit=1)[0]
            if name.lower().replace("_", "-") == TOOLS:
                found.append(entry)
    return found


def tools_pin(pyproject: dict[str, Any]) -> Optional[str]:
    """The tools version pinned in ``[dependency-groups]``: ``==X`` or
    ``@ git+...@X``; None without a pin."""
    for entry in tools_requirements(pyproject):
        match = GIT_PIN.search(entry) or EQUALS_PIN.search(entry)
        if match:
            return match.group(1)
    return None
