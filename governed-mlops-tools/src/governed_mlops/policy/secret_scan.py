"""What GOV201 finds in file contents.

detect-secrets, with the settings of the generated projects' pre-commit hook
(``HOOK_ARGS``; a test ties them to the template), plus two patterns of our
own for what it misses. Where detect-secrets cannot be imported (copier's own
Python, which runs the checker at copy time) the policy's built-in patterns
stand in, and ``scan`` says so. Hits carry a file, a line and a kind, never
the secret; so does the cache of detect-secrets' hits (``CACHE``).
"""

from __future__ import annotations

import contextvars
import importlib
import importlib.util
import json
import re
import sys
import threading
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

from ..files import write_atomic
from ..hashes import text_sha
from .model import line_of

# detect-secrets' findings by file digest: only changed files are scanned
# again (the governance hook runs at every commit). Lines and kinds only;
# kept only where .mlops/ exists.
CACHE = Path(".mlops") / "cache" / "secrets.json"
# False while a check must leave the project as it found it (``mlops fleet``
# reads other teams' clones): the cache is then read, never written.
WRITE_CACHE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "write_cache", default=True
)
# False for the report printed at ``copier copy``: a fresh render holds the
# template's text (scanned in the template's own repository) and answers that
# copier validated, so the built-in patterns stand in, as they do wherever
# detect-secrets is not installed; detect-secrets runs at the first commit
# (the project's hook) and in ``mlops policy check``.
DETECT_SECRETS: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "detect_secrets", default=True
)
# Where the cache is not written (WRITE_CACHE False: ``mlops fleet``), it
# stands in: detect-secrets' hits by (settings, file name, digest) in this
# process; projects of one template share most files, so each version of a
# file is scanned once. detect-secrets' settings are global: one scan at a time.
_MEMO: dict[tuple[str, str, str], list[tuple[int, str]]] = {}
_SCAN_LOCK = threading.Lock()
# Lines detect-secrets must not read as secrets (its --exclude-lines).
EXCLUDE_LINES = (
    # A Jenkins credentials binding names a variable, never a value.
    r"""\b\w*[Vv]ariable\s*:\s*['"]\w+['"]""",
    # A full git commit SHA under a commit-like key (.copier-answers.yml).
    r"""(?i)(commit|sha|revision)\w*['"]?\s*[:=]\s*['"]?[0-9a-f]{40}\b""",
)
# Values that are not secrets (its --exclude-secrets).
EXCLUDE_SECRETS = (
    # A variable of a Windows batch file: https://user:%TOKEN%@host
    r"^%\w+%$",
    # The example keys of AWS's documentation.
    r"EXAMPLE(KEY)?$",
)
# The detect-secrets hook's arguments: no verification (a found secret is
# never sent to its service), then the exclusions above.
HOOK_ARGS = [
    "--no-verify",
    *(arg for pattern in EXCLUDE_LINES for arg in ("--exclude-lines", pattern)),
    *(arg for pattern in EXCLUDE_SECRETS for arg in ("--exclude-secrets", pattern)),
]

# A value that only stands for a secret (a template, a variable or a mask).
PLACEHOLDER = re.compile(r"\*+|\$\{?\w+\}?|%\w+%|\{[^}]*\}|<[^>]*>|x+|\.\.\.")
# The comment that vouches a line holds no secret (detect-secrets' own).
ALLOWLIST = "pragma: allowlist secret"
# Ours, whatever scans the rest: kinds detect-secrets 1.5 does not know.
OWN_PATTERNS = {
    "a password in a connection string": re.compile(
        r"(?i)[;'\"]\s*(?:password|pwd)\s*=\s*(?P<secret>[^;'\"\s]+)"
    ),
    "an Azure SAS signature": re.compile(r"[?&]sig=(?P<secret>[\w%+/=]{30,})"),
}
# The policy's patterns before detect-secrets, and its fallback. Each starts
# with a literal, so that big files (uv.lock) scan fast.
BUILTIN_PATTERNS = {
    "a private key": re.compile(r"-----BEGIN ([A-Z]+ )*PRIVATE KEY-----"),
    "a URL with a password": re.compile(r"://[^\s/:@'\"]+:(?P<secret>[^\s/@'\"]+)@"),
    "an AWS access key": re.compile(r"AKIA[0-9A-Z]{16}(?![0-9A-Z])"),
    "a GitHub token": re.compile(r"gh[pousr]_[A-Za-z0-9]{36,}"),
}
# detect-secrets' names of what it found, in the words of the policy; any
# other is "a secret (<its name>)".
KINDS = {
    "Basic Auth Credentials": "a URL with a password",
    "Private Key": "a private key",
    "AWS Access Key": "an AWS access key",
    "GitHub Token": "a GitHub token",
    "Secret Keyword": "a secret assigned to a name like password or key",
    "Base64 High Entropy String": "a random string (base64)",
    "Hex High Entropy String": "a random string (hex)",
}
# Named only when nothing more specific was found on the line.
GENERIC = {"Secret Keyword", "Base64 High Entropy String", "Hex High Entropy String"}


@dataclass(frozen=True)
class Hit:
    """Something that looks like a secret: where, and what kind (no value)."""

    path: str
    line: int
    kind: str


@dataclass(frozen=True)
class Scan:
    """The hits, and what scanned: ``scanner`` names detect-secrets' version,
    or says the built-in patterns stood in for it."""

    hits: list[Hit]
    scanner: str
    complete: bool


def detect_secrets_version() -> Optional[str]:
    """The installed detect-secrets' version, found without importing it (its
    import takes most of a second); None when it is not installed."""
    if importlib.util.find_spec("detect_secrets") is None:
        return None
    from importlib import metadata  # not at import: the copy report needs none

    try:
        return metadata.version("detect-secrets")
    except metadata.PackageNotFoundError:  # importable, but not installed
        return "unknown"


def pattern_hits(
    name: str, text: str, patterns: dict[str, re.Pattern[str]]
) -> list[Hit]:
    """The matches of ``patterns`` in ``text``: placeholders, allowlisted
    lines and the hook's exclusions left out."""
    hits = []
    for kind, pattern in patterns.items():
        for match in pattern.finditer(text):
            value = match.group("secret" if "secret" in pattern.groupindex else 0)
            start = text.rfind("\n", 0, match.start()) + 1
            end = text.find("\n", match.end())
            line = text[start : end if end >= 0 else len(text)]
            if (
                PLACEHOLDER.fullmatch(value)
                or ALLOWLIST in line
                or any(re.search(p, value) for p in EXCLUDE_SECRETS)
                or any(re.search(p, line) for p in EXCLUDE_LINES)
            ):
                continue
            hits.append(Hit(name, line_of(text, match.start()), kind))
    return hits


@contextmanager
def _no_network() -> Iterator[None]:
    """detect-secrets imports requests only to try a secret with its issuer,
    which GOV201 never does (``--no-verify``); requests and what it brings
    (urllib3, charset_normalizer) are most of the import's time, paid at
    every check with a changed file. Unless this process has imported
    requests already, detect-secrets' modules get a stand-in whose calls
    raise: no secret can be sent out, even by a future default."""
    if "requests" in sys.modules:
        yield
        return
    stand_in = ModuleType("requests")

    class RequestException(Exception):
        """What detect-secrets' verification catches."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise RequestException("GOV201 never sends a secret to be verified")

    stand_in.exceptions = SimpleNamespace(  # type: ignore[attr-defined]
        RequestException=RequestException
    )
    stand_in.Response = object  # type: ignore[attr-defined]
    stand_in.get = stand_in.post = refuse  # type: ignore[attr-defined]
    sys.modules["requests"] = stand_in
    try:
        yield
    finally:
        if sys.modules.get("requests") is stand_in:
            del sys.modules["requests"]  # later imports get the real one


def _settings() -> dict[str, Any]:
    """detect-secrets' configuration for ``HOOK_ARGS``: every plugin, the
    default filters but verification, and the exclusions."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.settings import Settings

    defaults = [{"path": path} for path in sorted(Settings().filters)]
    plugins: Iterable[type] = get_mapping_from_secret_type_to_class().values()
    regex = "detect_secrets.filters.regex."
    return {
        "plugins_used": [{"name": plugin.__name__} for plugin in plugins],
        "filters_used": [
            *defaults,
            {"path": regex + "should_exclude_line", "pattern": list(EXCLUDE_LINES)},
            {"path": regex + "should_exclude_secret", "pattern": list(EXCLUDE_SECRETS)},
        ],
    }


def _detect_secrets(root: Path, names: Iterable[str]) -> list[Hit]:
    """detect-secrets' hits in ``names``, loaded and run without requests
    (:func:`_no_network`: its plugins import it as they load); with it, should
    a detect-secrets release use more of it as it loads."""
    names = list(names)
    try:
        return _scan_files(root, names, _no_network())
    except AttributeError:
        for module in [m for m in sys.modules if m.startswith("detect_secrets")]:
            del sys.modules[module]
        return _scan_files(root, names, nullcontext())


def _scan_files(
    root: Path, names: list[str], loading: AbstractContextManager[None]
) -> list[Hit]:
    with loading:
        from detect_secrets.core.scan import scan_file
        from detect_secrets.settings import transient_settings

        hits = []
        with transient_settings(_settings()):
            for name in names:
                found: dict[int, set[str]] = {}
                for secret in scan_file(str(root / name)):
                    found.setdefault(secret.line_number, set()).add(secret.type)
                for line, kinds in sorted(found.items()):
                    hits.append(Hit(name, line, describe(kinds)))
    return hits


def describe(types: set[str]) -> str:
    """What detect-secrets found on a line, the most specific kinds first."""
    named = sorted(types - GENERIC) or sorted(types)
    return " and ".join(KINDS.get(t, f"a secret ({t})") for t in named)


def scan(root: Path, texts: dict[str, str]) -> Scan:
    """Scan ``texts`` (``{relative path: text}`` of files under ``root``)."""
    wanted = DETECT_SECRETS.get()
    version = detect_secrets_version() if wanted else None
    patterns = OWN_PATTERNS if version else {**BUILTIN_PATTERNS, **OWN_PATTERNS}
    hits = [
        hit
        for name, text in texts.items()
        for hit in pattern_hits(name, text, patterns)
    ]
    if version is None:
        why = (
            "detect-secrets runs at the first commit and in `mlops policy check`"
            if not wanted
            else "detect-secrets is not installed in this Python"
        )
        return Scan(_merged(hits), f"the built-in patterns ({why})", complete=False)
    hits += _cached_detect_secrets(root, texts, version)
    return Scan(_merged(hits), f"detect-secrets {version}", complete=True)


def _cached_detect_secrets(
    root: Path, texts: dict[str, str], version: str
) -> list[Hit]:
    """detect-secrets' hits, scanning only the files whose text changed since
    the last scan with the same settings (``CACHE``: lines and kinds only)."""
    from .. import __version__

    settings = [__version__, version, EXCLUDE_LINES, EXCLUDE_SECRETS]
    key = "sha256:" + text_sha(json.dumps(settings))
    path = root / CACHE
    names = [name for name in texts if name != CACHE.as_posix()]
    digests = {name: "sha256:" + text_sha(texts[name]) for name in names}
    known = _load(path, key)
    hits: dict[str, list[Hit]] = {}
    for name in names:
        entry = known.get(name)
        if isinstance(entry, dict) and entry.get("sha") == digests[name]:
            try:
                hits[name] = [Hit(name, int(n), str(k)) for n, k in entry["hits"]]
            except (KeyError, TypeError, ValueError):
                pass
    memo = _MEMO if not WRITE_CACHE.get() else {}
    for name in names:
        seen = memo.get((key, name, digests[name]))
        if name not in hits and seen is not None:
            hits[name] = [Hit(name, n, k) for n, k in seen]
    stale = [name for name in names if name not in hits]
    hits.update({name: [] for name in stale})
    if stale:
        with _SCAN_LOCK:
            found = _detect_secrets(root, stale)
        for hit in found:
            hits[hit.path].append(hit)
        for name in stale:
            memo[key, name, digests[name]] = [(h.line, h.kind) for h in hits[name]]
    if stale or set(known) != set(names):
        files = {
            name: {"sha": digests[name], "hits": [[h.line, h.kind] for h in found]}
            for name, found in hits.items()
        }
        _save(path, {"key": key, "files": files})
    return [hit for found in hits.values() for hit in found]


def _load(path: Path, key: str) -> dict[str, Any]:
    """The cached entries made with settings ``key``; none if unreadable."""
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(cached, dict) or cached.get("key") != key:
        return {}
    files = cached.get("files")
    return files if isinstance(files, dict) else {}


def _save(path: Path, data: dict[str, Any]) -> None:
    """Write the cache where the project has the tools' state folder (made by
    ``mlops`` commands): a report on a fresh copy leaves no file behind. A
    folder that cannot be written only costs speed."""
    if not WRITE_CACHE.get() or not path.parents[1].is_dir():
        return
    try:
        write_atomic(path, json.dumps(data, sort_keys=True))
    except OSError:
        pass


def _merged(hits: list[Hit]) -> list[Hit]:
    """One hit a line, naming every kind found there."""
    kinds: dict[tuple[str, int], list[str]] = {}
    for hit in hits:
        found = kinds.setdefault((hit.path, hit.line), [])
        if hit.kind not in found:
            found.append(hit.kind)
    return [Hit(path, line, "; ".join(k)) for (path, line), k in sorted(kinds.items())]
