"""TOML loading on every supported Python (tomllib is 3.11+)."""

from __future__ import annotations

try:
    import tomllib as toml
except ModuleNotFoundError:  # Python 3.10
    try:
        import tomli as toml  # type: ignore[no-redef]
    except ModuleNotFoundError:  # e.g. copier's own Python without tomli
        from pip._vendor import tomli as toml  # type: ignore[no-redef]

__all__ = ["toml"]
