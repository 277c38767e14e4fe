"""The two ways to build a stage env: uv (default when found) or venv + pip.

Both take the same inputs (interpreter, lock, index options) and leave the
same result: a venv holding exactly the lock plus the project, editable.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping, Optional, Sequence, TypeAlias, Union
from urllib.parse import quote, urlsplit, urlunsplit

from ..errors import CommandError

# An installer command's arguments: text and paths (run() makes them text).
Arg: TypeAlias = Union[str, Path]


@dataclass(frozen=True)
class IndexOptions:
    """Where packages come from. ``offline`` means the wheelhouse only."""

    index_url: str = ""
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    offline: bool = False
    wheelhouse: Optional[Path] = None
    token: str = field(default="", repr=False)
    # The login the token goes with: uv's for the project's index, as CI sets it.
    username: str = field(default_factory=lambda: index_username())

    def digest_fields(self) -> dict[str, object]:
        """What changes a resolution (never the token)."""
        return {
            "index_url": self.index_url,
            "extra_index_urls": list(self.extra_index_urls),
            "find_links": list(self.find_links),
        }

    def args(self) -> list[str]:
        """Installer arguments, never credentials (pip and uv spell them alike)."""
        if self.offline:
            return ["--no-index", "--find-links", str(self.wheelhouse)]
        args: list[str] = []
        for link in self.find_links:
            args += ["--find-links", link]
        return args

    def env(self) -> dict[str, str]:
        """The indexes, with the token, for the installer's environment only:
        a process listing shows argv, so URLs with credentials never go there."""
        if self.offline:
            return {}
        env = {}
        if self.index_url:
            url = with_token(self.index_url, self.token, self.username)
            env["UV_DEFAULT_INDEX"] = env["PIP_INDEX_URL"] = url
        extras = " ".join(
            with_token(url, self.token, self.username) for url in self.extra_index_urls
        )
        if extras:
            env["UV_INDEX"] = env["PIP_EXTRA_INDEX_URL"] = extras
        return env

    @contextlib.contextmanager
    def pip_env(self) -> Iterator[dict[str, str]]:
        """:meth:`env` for a command that runs pip, while the block lasts: pip
        passes its index URLs on in the argv of the processes that install
        build requirements, where a process listing shows a login in them. So
        pip gets the URLs as they are, and the login in a netrc file of its own
        (``NETRC``, after the user's entries), deleted after the block."""
        env = self.env()
        urls = [self.index_url, *self.extra_index_urls]
        hosts = sorted(
            {
                host
                for url in urls
                if url and with_token(url, self.token, self.username) != url
                for host in netrc_hosts(url)
            }
        )
        if self.offline or not hosts or not _netrc_safe(self.username, self.token):
            yield env
            return
        if self.index_url:
            env["PIP_INDEX_URL"] = self.index_url
        if self.extra_index_urls:
            env["PIP_EXTRA_INDEX_URL"] = " ".join(self.extra_index_urls)
        logins = "".join(
            f"machine {host} login {self.username} password {self.token}\n"
            for host in hosts
        )
        handle, name = tempfile.mkstemp(prefix="mlops-netrc-")  # mode 0600
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as netrc:
                netrc.write(_users_netrc() + logins)
            yield {**env, "NETRC": name}
        finally:
            os.unlink(name)


def netrc_hosts(url: str) -> set[str]:
    """The names a netrc lookup may use for ``url``'s host: lower-cased, and
    as written (requests before 2.32.4, which pip 24.0 vendors, looks up the
    netloc up to its first ``:``)."""
    parts = urlsplit(url)
    written = parts.netloc.rpartition("@")[2].split(":")[0]
    names = {parts.hostname or ""}
    if not written.startswith("["):  # an IPv6 address: its lower-cased form
        names.add(written)
    return names - {""}


def _users_netrc() -> str:
    """The user's own netrc (``NETRC``, else ``~/.netrc`` or Windows'
    ``~/_netrc``), ending in a blank line, where Python's parser reads it:
    one it cannot would hide the entries after it; else nothing."""
    import netrc

    named = os.environ.get("NETRC")
    home = Path.home()
    candidates = [Path(named)] if named else [home / ".netrc", home / "_netrc"]
    for path in candidates:
        if not path.is_file():
            continue
        try:
            netrc.netrc(str(path))
            return path.read_text(encoding="utf-8").rstrip("\n") + "\n\n"
        except (OSError, UnicodeError, netrc.NetrcParseError):
            return ""
    return ""


def _netrc_safe(*words: str) -> bool:
    """Whether each word can stand in a netrc file as it is (no blank, quote,
    comment or escape)."""
    return all(word and not re.search(r"[\s\"'#\\]", word) for word in words)


TOKEN_USER = "__token__"  # nosec B105 # the login name a token goes with


def index_username() -> str:
    """The login of the project's index: ``UV_INDEX_PRIVATE_USERNAME`` where
    set (the CI wrappers keep one given), else ``__token__``, what Nexus,
    Artifactory, devpi and GitLab take with a token."""
    from ..settings import INDEX_USERNAME

    return os.environ.get(INDEX_USERNAME) or TOKEN_USER


def with_token(url: str, token: str, username: str = TOKEN_USER) -> str:
    """``url`` with ``username`` and ``token`` as its login, unless it has
    credentials already; percent-encoded, so a token holding ``/``, ``@`` or
    ``%`` stays one password."""
    parts = urlsplit(url)
    if not token or "@" in parts.netloc or parts.scheme not in ("http", "https"):
        return url
    login = f"{quote(username, safe='')}:{quote(token, safe='')}"
    return urlunsplit(parts._replace(netloc=f"{login}@{parts.netloc}"))


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with each secret, as it is and percent-encoded, as ``***``."""
    for secret in secrets:
        for form in {secret, quote(secret, safe="")} if secret else ():
            text = text.replace(form, "***")
    return text


class InstallError(CommandError):
    """An installer command failed; the message holds the end of its output."""


@dataclass(frozen=True)
class Access:
    """What installer commands get of this process's secrets: the index
    token, and the environment they run in (``None``: this process's)."""

    token: str = field(default="", repr=False)
    environ: Optional[Mapping[str, str]] = field(default=None, repr=False)


class BaseInstaller:
    """Runs an installer's commands. ``access`` is read when the first command
    runs (reading a project's settings costs start-up time a no-op must not
    pay); ``show_commands`` (``--verbose``) names a failed step's command line,
    noise for most readers: a temporary folder's requirements and a dozen
    options."""

    name: str
    relocatable: bool

    def __init__(
        self, access: Callable[[], Access] = Access, show_commands: bool = False
    ):
        self._access = access
        self._loaded: Optional[Access] = None
        self.show_commands = show_commands

    @property
    def access(self) -> Access:
        if self._loaded is None:
            self._loaded = self._access()
        return self._loaded

    def run(
        self,
        cmd: Sequence[Arg],
        what: str,
        index: Optional[IndexOptions] = None,
        pip: bool = False,
    ) -> str:
        """Run an installer step (with ``index``'s settings in its environment;
        ``pip``: the command runs pip, see :meth:`IndexOptions.pip_env`);
        raise :class:`InstallError` saying what failed."""
        access = self.access
        secrets = [access.token, index.token if index else ""]
        shown = redact(" ".join(str(c) for c in cmd), secrets)
        base = os.environ if access.environ is None else access.environ
        settings = index or IndexOptions(offline=True)
        with (
            settings.pip_env() if pip else contextlib.nullcontext(settings.env())
        ) as extra:
            try:
                result = subprocess.run(
                    [str(c) for c in cmd],
                    capture_output=True,
                    text=True,
                    env={**base, **extra},
                )
            except OSError as error:
                raise InstallError(
                    f"{what} failed: cannot run {shown}: {error}"
                ) from None
        if result.returncode != 0:
            output = redact((result.stderr or result.stdout).strip(), secrets)
            tail = "\n".join(output.splitlines()[-15:])
            command = f" ({shown})" if self.show_commands else ""
            raise InstallError(f"{what} failed{command}:\n{tail}")
        return result.stdout

    def _download(
        self, pip: list[Arg], lock: Path, build: list[str], index: IndexOptions
    ) -> None:
        """The lock's files, and the project's build requirements, with
        ``pip download``."""
        self.run(
            [*pip, "-r", lock, *index.args()], "downloading wheels", index, pip=True
        )
        what = "downloading build requirements"
        self.run([*pip, *build, *index.args()], what, index, pip=True)

    def _wheel(self, pip: list[Arg], requirement: str, index: IndexOptions) -> None:
        """``pip wheel`` of a requirement and its dependencies (any source: an
        index, or a git reference built here)."""
        self.run([*pip, requirement, *index.args()], "building wheels", index, pip=True)


def find_uv() -> Optional[str]:
    """The uv binary: ``$UV`` (set by ``uv run``), the ``uv`` package, or PATH."""
    candidates = [os.environ.get("UV", "")]
    try:
        from uv import find_uv_bin

        candidates.append(find_uv_bin())
    except Exception:  # nosec B110 # the uv package is optional
        pass
    scripts = Path(sys.executable).parent
    candidates += [
        str(scripts / ("uv.exe" if os.name == "nt" else "uv")),
        shutil.which("uv") or "",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    return None


class UvInstaller(BaseInstaller):
    """uv: fast, hashes in the lock, a relocatable venv (built beside, then moved)."""

    name = "uv"
    relocatable = True  # `uv venv --relocatable`: built beside, then moved

    def __init__(
        self,
        uv: str,
        access: Callable[[], Access] = Access,
        show_commands: bool = False,
    ):
        super().__init__(access, show_commands)
        self.uv = uv

    def create_venv(self, interpreter: Path, path: Path, prompt: str) -> None:
        cmd: list[Arg] = [self.uv, "venv", "--quiet", "--relocatable", "--no-project"]
        self.run(
            [*cmd, "--python", interpreter, "--prompt", prompt, path],
            "creating the venv",
        )

    def lock(
        self,
        requirements: Path,
        output: Path,
        python_minor: str,
        constraints: Optional[Path],
        index: IndexOptions,
        upgrade: bool,
    ) -> None:
        cmd: list[Arg] = [self.uv, "pip", "compile", "--quiet", requirements]
        cmd += ["-o", output, "--universal", "--python-version", python_minor]
        cmd += ["--generate-hashes", "--no-header", "--no-annotate"]
        if constraints:
            cmd += ["--constraint", constraints]
        if upgrade:
            cmd += ["--upgrade"]
        if index.offline:
            cmd += ["--offline"]
        self.run([*cmd, *index.args()], "locking", index)

    def install(
        self, python: Path, lock: Path, root: Path, index: IndexOptions
    ) -> None:
        # One sync: exactly the lock, plus the project editable (without deps:
        # they are in the lock).
        spec = lock.with_name(lock.name + ".install")
        spec.write_text(
            lock.read_text(encoding="utf-8") + f"-e {root.as_posix()}\n",
            encoding="utf-8",
        )
        try:
            cmd: list[Arg] = [self.uv, "pip", "sync", "--quiet"]
            cmd += ["--python", python, spec]
            if index.offline:
                cmd += ["--offline"]
            self.run([*cmd, *index.args()], "installing the lock", index)
        finally:
            spec.unlink(missing_ok=True)

    def freeze(self, python: Path) -> str:
        cmd: list[Arg] = [self.uv, "pip", "freeze", "--exclude-editable"]
        return self.run([*cmd, "--python", python], "freezing")

    def download(
        self,
        interpreter: Path,
        lock: Path,
        build: list[str],
        dest: Path,
        index: IndexOptions,
    ) -> None:
        pip: list[Arg] = [self.uv, "tool", "run", "--quiet", "--python", interpreter]
        pip += ["--from", "pip", "pip", "download", "--quiet", "--dest", dest]
        self._download(pip, lock, build, index)

    def wheel(
        self, interpreter: Path, requirement: str, dest: Path, index: IndexOptions
    ) -> None:
        pip: list[Arg] = [self.uv, "tool", "run", "--quiet", "--python", interpreter]
        pip += ["--from", "pip", "pip", "wheel", "--quiet", "--wheel-dir", dest]
        self._wheel(pip, requirement, index)


class PipInstaller(BaseInstaller):
    """Standard library venv + pip, for machines without uv."""

    name = "pip"
    relocatable = False  # venv scripts hold the venv's path: built in place

    def create_venv(self, interpreter: Path, path: Path, prompt: str) -> None:
        self.run(
            [interpreter, "-m", "venv", "--prompt", prompt, path], "creating the venv"
        )

    lock = None  # pip cannot resolve a lock with hashes: the freeze becomes it

    def install(
        self, python: Path, lock: Path, root: Path, index: IndexOptions
    ) -> None:
        pip: list[Arg] = [python, "-m", "pip", "install", "--quiet"]
        pip += ["--disable-pip-version-check"]
        self.run(
            [*pip, "-r", lock, *index.args()], "installing the lock", index, pip=True
        )
        self.run(
            [*pip, "--no-deps", "-e", root, *index.args()],
            "installing the project",
            index,
            pip=True,
        )

    def install_inputs(
        self,
        python: Path,
        requirements: Path,
        constraints: Optional[Path],
        index: IndexOptions,
    ) -> None:
        pip: list[Arg] = [python, "-m", "pip", "install", "--quiet"]
        pip += ["--disable-pip-version-check"]
        if constraints:
            pip += ["-c", constraints]
        self.run(
            [*pip, "-r", requirements, *index.args()],
            "installing the packages",
            index,
            pip=True,
        )

    def freeze(self, python: Path) -> str:
        return self.run(
            [python, "-m", "pip", "freeze", "--exclude-editable"], "freezing"
        )

    def download(
        self,
        interpreter: Path,
        lock: Path,
        build: list[str],
        dest: Path,
        index: IndexOptions,
    ) -> None:
        pip: list[Arg] = [interpreter, "-m", "pip", "download", "--quiet"]
        pip += ["--dest", dest]
        self._download(pip, lock, build, index)

    def wheel(
        self, interpreter: Path, requirement: str, dest: Path, index: IndexOptions
    ) -> None:
        pip: list[Arg] = [interpreter, "-m", "pip", "wheel", "--quiet"]
        pip += ["--wheel-dir", dest]
        self._wheel(pip, with_host(requirement), index)


# A direct reference to a local git repository, as the template pins its
# tools when copied from a path: ``name @ git+file:///path...``.
_LOCAL_GIT = re.compile(r"(@\s*git\+file://)(/(?![A-Za-z]:|/))")


def with_host(requirement: str) -> str:
    """``requirement`` with ``git+file:///path`` written
    ``git+file://localhost/path``, which git reads the same: pip before 24.1
    (packaging 21 inside, as Python 3.12 and older bring it) refuses a direct
    reference whose URL names no host. Windows drive paths and UNC paths
    (``file:////server/share``, which Git for Windows reads as the share) are
    left as they are."""
    return _LOCAL_GIT.sub(r"\1localhost\2", requirement, count=1)


Installer: TypeAlias = Union[UvInstaller, PipInstaller]


def pick(
    choice: str = "auto",
    access: Callable[[], Access] = Access,
    show_commands: bool = False,
) -> Installer:
    """The installer for ``choice``: ``auto`` (uv when found), ``uv`` or ``pip``."""
    if choice == "pip":
        return PipInstaller(access, show_commands)
    uv = find_uv()
    if uv:
        return UvInstaller(uv, access, show_commands)
    if choice == "uv":
        raise CommandError(
            "uv is not installed: `python -m pip install uv`, or use --installer pip"
        )
    return PipInstaller(access, show_commands)
