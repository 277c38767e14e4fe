"""SHA-256 digests of files and text, as hex: the one way the tools hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK = 1024 * 1024  # files are read in pieces: outputs can be large


def file_sha(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def data_sha(data: bytes) -> str:
    """The SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def text_sha(text: str) -> str:
    """The SHA-256 of ``text`` as UTF-8."""
    return data_sha(text.encode("utf-8"))
