"""Template sources as copier records them (``_src_path`` in the answers file).

Copier resolves ``_src_path`` again on every ``copier update``, from the
directory it runs in, so only URLs and absolute paths keep working.
"""

from __future__ import annotations

import re

# Copier's shortcuts and every URL form git accepts.
_REMOTE = re.compile(
    "|".join(
        (
            r"^[a-z][a-z0-9+.-]*://",  # https://, ssh://, file://, git+https://
            r"^(gh|gl):",  # copier's GitHub and GitLab shortcuts
            r"^[\w.-]+@[\w.-]+:",  # scp-like git@host:org/repo
        )
    ),
    re.IGNORECASE,
)
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def is_remote(source: str) -> bool:
    """A URL or copier shortcut (``gh:org/repo``): reachable from anywhere."""
    return bool(_REMOTE.match(source))


def is_absolute(source: str) -> bool:
    """An absolute local path, on POSIX or Windows, or one from ``~``."""
    return source.startswith(("/", "\\", "~")) or bool(_DRIVE.match(source))


def is_relative(source: str) -> bool:
    """A local path that depends on the directory copier runs in."""
    return bool(source) and not is_remote(source) and not is_absolute(source)


def file_url(path: str) -> str:
    """A ``file:`` URL of a local path as copier.yml's ``tools_pin`` spells it
    (``file:///C:/x`` for a Windows drive, forward slashes for any path). A
    space is ``%20``: a PEP 508 URL ends at the first space (``C:\\Users\\John
    Doe``); uv and pip read the escape, Poetry 2 does not (give it the
    template's git URL)."""
    path = path.replace("\\", "/")
    if _DRIVE.match(path):
        path = "/" + path
    return "file://" + path.replace(" ", "%20")
