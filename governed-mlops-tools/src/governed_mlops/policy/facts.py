"""What the rules look at, read once per check: files, pyproject, answers."""

from __future__ import annotations

import datetime as dt
import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from .._toml import toml
from ..gitcmd import git_or_none
from .._yaml import safe_load

if TYPE_CHECKING:
    from .waivers import Waiver

# Never part of the project's sources, with or without git.
SKIPPED_DIRS = {
    ".git",
    ".venv",
    "venv",
    ".venvs",
    ".mlops",
    "mlruns",
    "artifacts",
    "node_modules",
    "__pycache__",
    ".pytest_cache",
    "build",
    "dist",
    "reports",
}
# Larger files are data, not configuration or code: content rules skip them.
MAX_TEXT_BYTES = 1_000_000


class Facts:
    """A project directory as the rules see it."""

    def __init__(self, root: Path, today: dt.date, waivers: Sequence[Waiver] = ()):
        self.root = root
        self.today = today
        self.waivers = list(waivers)  # every waiver, expired ones included
        self.problems: dict[str, str] = {}  # file -> why it could not be read

    @functools.cached_property
    def files(self) -> list[str]:
        """Files that are or would be committed (``/``-separated, sorted)."""
        listed = self._git_files()
        if listed is None:
            return self._walk()
        root = str(self.root)
        return sorted(n for n in listed if os.path.isfile(os.path.join(root, n)))

    @property
    def tracked(self) -> Optional[set[str]]:
        """Files git tracks (committed or staged); None outside a git work tree."""
        listed = self._git_files()
        if listed is None:
            return None
        return {name for name, tag in listed.items() if tag != "?"}

    @property
    def unmerged(self) -> set[str]:
        """Files git's index still holds as conflicted (a merge or an update
        not resolved yet); none outside a git work tree."""
        listed = self._git_files() or {}
        return {name for name, tag in listed.items() if tag == "M"}

    @functools.lru_cache(maxsize=None)
    def _git_files(self) -> Optional[dict[str, str]]:
        """``{name: tag}`` of tracked and untracked, not ignored, files
        (``git ls-files -t``: ``?`` for untracked, ``M`` for unmerged); None
        without git."""
        listed = git_or_none(
            self.root, "ls-files", "-t", "-co", "--exclude-standard", "-z"
        )
        if listed is None:
            return None
        # Names as the file system's (-z: not quoted): UTF-8 on Windows, not
        # the cp1252 locale that text=True would decode them with.
        names = os.fsdecode(listed)
        entries = (entry for entry in names.split("\0") if entry)
        return {entry[2:]: entry[0] for entry in entries}

    def _walk(self) -> list[str]:
        found = []
        for folder, dirs, names in os.walk(self.root):
            dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
            base = Path(folder).relative_to(self.root)
            found += [(base / name).as_posix() for name in names]
        return sorted(found)

    def exists(self, relative: str) -> bool:
        return os.path.isfile(os.path.join(self.root, relative))

    @functools.lru_cache(maxsize=None)
    def text(self, relative: str) -> Optional[str]:
        """A file's text, or None when it is missing, too big or not UTF-8 text."""
        path = self.root / relative
        try:
            if path.stat().st_size > MAX_TEXT_BYTES:
                return None
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def _parsed(
        self,
        relative: str,
        parse: Callable[[str], Any],
        describe: Callable[[Exception], str] = lambda e: str(e).splitlines()[0],
    ) -> Any:
        text = self.text(relative)
        if text is None:
            return None
        try:
            return parse(text)
        except Exception as error:  # each parser has its own error type
            self.problems[relative] = describe(error)
            return None

    @functools.cached_property
    def pyproject(self) -> dict[str, Any]:
        return self._parsed("pyproject.toml", toml.loads) or {}

    def tool(self, name: str) -> dict[str, Any]:
        """``[tool.<name>]`` of pyproject.toml (empty when absent)."""
        table = self.pyproject.get("tool", {}).get(name, {})
        return table if isinstance(table, dict) else {}

    @functools.lru_cache(maxsize=None)
    def yaml(self, relative: str) -> Any:
        """A YAML file's data (None when missing or invalid: see ``problems``,
        which gives the line and column)."""
        from yaml import YAMLError

        from .._yaml import describe_error

        def describe(error: Exception) -> str:
            if isinstance(error, YAMLError):
                return describe_error(error)
            return str(error).splitlines()[0]

        return self._parsed(relative, safe_load, describe)

    @functools.cached_property
    def precommit(self) -> dict[str, Any]:
        data = self.yaml(".pre-commit-config.yaml")
        return data if isinstance(data, dict) else {}

    @functools.cached_property
    def hooks(self) -> dict[str, dict[str, Any]]:
        """Pre-commit hooks by id (the last one wins when an id repeats)."""
        found = {}
        for repo in self.precommit.get("repos") or []:
            for hook in (repo or {}).get("hooks") or []:
                if isinstance(hook, dict) and "id" in hook:
                    found[str(hook["id"])] = hook
        return found

    @functools.cached_property
    def answers(self) -> Optional[dict[str, Any]]:
        data = self.yaml(".copier-answers.yml")
        return data if isinstance(data, dict) else None

    def ini_section(self, relative: str, section: str) -> Optional[dict[str, str]]:
        """A section of an INI file such as ``.flake8``, or None."""
        import configparser  # only .flake8 is read this way

        text = self.text(relative)
        if text is None:
            return None
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text, source=relative)
        except configparser.Error as error:
            self.problems[relative] = str(error).splitlines()[0]
            return None
        return dict(parser[section]) if parser.has_section(section) else None
