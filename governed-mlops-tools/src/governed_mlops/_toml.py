"""TOML loading on every supported Python (tomllib is 3.11+)."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    import tomllib as toml
else:
    try:
        import tomli as toml
    except ModuleNotFoundError:  # e.g. copier's own Python without tomli
        # pip's vendored copy of the same module: the same interface.
        from pip._vendor import tomli as toml  # type: ignore[no-redef]

__all__ = ["toml"]
