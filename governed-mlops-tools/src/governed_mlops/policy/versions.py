"""Policy versions: each template release is one (its PEP 440 git tag)."""

from __future__ import annotations

import re
from typing import Optional

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
