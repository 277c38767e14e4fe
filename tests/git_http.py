"""A git server over HTTP on 127.0.0.1 that asks for a token, as GitHub does.

``git http-backend`` (git's own CGI program) serves the repositories under a
folder; the server refuses every request whose ``Authorization`` header is
not HTTP Basic for ``x-access-token:<token>``, and records the headers it saw.
"""

from __future__ import annotations

import base64
import os
import subprocess
from http.server import BaseHTTPRequestHandler
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from local_http import serving


def basic(token: str) -> str:
    """The Authorization header GitHub's git server takes for a token."""
    return "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()


@contextmanager
def serve(root: Path, token: str) -> Iterator[tuple[str, list[str]]]:
    """Serve the bare repositories in ``root``; yield (base URL, headers seen)."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self.backend()

        def do_POST(self) -> None:
            self.backend()

        def backend(self) -> None:
            header = self.headers.get("Authorization", "")
            seen.append(header)
            scheme, _, credentials = header.partition(" ")
            # The scheme is case-insensitive (RFC 9110): "basic" is Basic.
            if f"{scheme.title()} {credentials}" != basic(token):
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.end_headers()
                return
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            env = {
                **os.environ,
                "GIT_PROJECT_ROOT": str(root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "REMOTE_USER": "x-access-token",  # lets it receive pushes
                "REQUEST_METHOD": self.command,
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(length),
                "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                "HTTP_GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            }
            result = subprocess.run(
                ["git", "http-backend"],
                input=self.rfile.read(length),
                env=env,
                capture_output=True,
                check=True,
            )
            head, _, body = result.stdout.partition(b"\r\n\r\n")
            status = 200
            headers = []
            for line in head.decode().split("\r\n"):
                key, _, value = line.partition(": ")
                if key == "Status":
                    status = int(value.split()[0])
                else:
                    headers.append((key, value))
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serving(Handler) as url:
        yield url, seen
