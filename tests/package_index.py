"""A real package index on 127.0.0.1 (pypiserver), serving the tools wheel
built from the working tree; everything else it does not hold is redirected
to PyPI, as an organisation's proxy index does. Uploads need a password."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from passlib.apache import HtpasswdFile

from conftest import free_port

USER = "__token__"


@dataclass(frozen=True)
class PackageIndex:
    url: str  # the simple API, e.g. http://127.0.0.1:PORT/simple/
    upload_url: str  # where `uv publish` / twine upload
    token: str  # the upload password of USER
    packages: Path


def build_tools_wheel(tools: Path, uv: str, dest: Path) -> Path:
    subprocess.run(
        [uv, "build", "--quiet", "--wheel", "--out-dir", dest, tools],
        check=True,
        capture_output=True,
    )
    (wheel,) = dest.glob("governed_mlops_tools-*.whl")
    return wheel


@contextmanager
def serve(
    packages: Path, folder: Path, authenticate: str = "update"
) -> Iterator[PackageIndex]:
    """pypiserver on a free port until the block ends; ``authenticate`` lists
    the actions that need the password (``download,list,update``: a private
    index whose every request needs the token)."""
    token = secrets.token_hex(16)
    passwords = folder / "htpasswd"
    htpasswd = HtpasswdFile(str(passwords), new=True)
    htpasswd.set_password(USER, token)
    htpasswd.save()
    port = free_port()
    log = (folder / "pypiserver.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "pypiserver", "run", "-v"]
        + ["--log-file", folder / "access.log", "-p", str(port), "-i", "127.0.0.1"]
        + ["-a", authenticate, "-P", passwords, packages],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    root = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"{root}/simple/", timeout=2):
                    break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError((folder / "pypiserver.log").read_text())
                time.sleep(0.1)
        yield PackageIndex(f"{root}/simple/", f"{root}/", token, packages)
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()
