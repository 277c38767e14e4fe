"""A reverse proxy on 127.0.0.1 that asks every request for HTTP basic auth,
``/health`` included, as an organisation's proxy in front of a tracking
server does; it passes the others on to the server and records what it saw.
"""

from __future__ import annotations

import base64
import http.client
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Iterator

from local_http import serving
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host"}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Proxy(BaseHTTPRequestHandler):
    """Set by :func:`serve`: the upstream, the header it takes, the refusals."""

    upstream = urlsplit("http://127.0.0.1:9")
    expected = ""
    refused: list[str] = []
    open_health = False  # as MLflow's own basic-auth app: /health needs none

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self.forward()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def forward(self) -> None:
        health = self.open_health and self.path == "/health"
        if not health and self.headers.get("Authorization", "") != self.expected:
            self.refused.append(f"{self.command} {self.path}")
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="mlflow"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        dropped = HOP_BY_HOP | {"authorization"}
        headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
        connection = http.client.HTTPConnection(
            self.upstream.hostname, self.upstream.port, timeout=60
        )
        try:
            connection.request(self.command, self.path, body, headers)
            answer = connection.getresponse()
            data = answer.read()
        finally:
            connection.close()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in HOP_BY_HOP | {"content-length"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def serve(
    upstream: str, user: str, password: str, open_health: bool = False
) -> Iterator[tuple[str, list[str]]]:
    """Proxy ``upstream`` (``http://host:port``); yield (the proxy's URL, the
    requests it refused). ``open_health``: ``/health`` answers anyone."""
    refused: list[str] = []
    handler = type(
        "Handler",
        (Proxy,),
        {
            "upstream": urlsplit(upstream),
            "expected": basic(user, password),
            "refused": refused,
            "open_health": open_health,
        },
    )
    with serving(handler) as url:
        yield url, refused
