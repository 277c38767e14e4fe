"""An OSV-compatible vulnerability service on 127.0.0.1 for tests: it answers
OSV's ``POST /v1/query`` (package and version) from published OSV records
(YAML or JSON files), as the public service does for those records. Scanners
run against it for real; only the database is small."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import yaml
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

RECORDS = Path(__file__).resolve().parent / "data" / "osv"


def load_records(folder: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(folder.iterdir()):
        if path.suffix in (".yaml", ".yml"):
            found.append(yaml.safe_load(path.read_text(encoding="utf-8")))
        elif path.suffix == ".json":
            found.append(json.loads(path.read_text(encoding="utf-8")))
    return found


def _in_range(version: Version, events: list[dict[str, str]]) -> bool:
    """OSV's ECOSYSTEM range: introduced <= version < fixed (or <= last_affected)."""
    affected = False
    for event in events:
        try:
            if "introduced" in event:
                start = event["introduced"]
                affected = start == "0" or version >= Version(start)
            elif "fixed" in event and version >= Version(event["fixed"]):
                affected = False
            elif "last_affected" in event and version > Version(event["last_affected"]):
                affected = False
        except InvalidVersion:
            continue
    return affected


def affects(record: dict[str, Any], name: str, version: str) -> bool:
    for affected in record.get("affected", []):
        package = affected.get("package", {})
        if package.get("ecosystem") != "PyPI":
            continue
        if canonicalize_name(package.get("name", "")) != canonicalize_name(name):
            continue
        if version in [str(v) for v in affected.get("versions", [])]:
            return True
        try:
            parsed = Version(version)
        except InvalidVersion:
            continue
        for span in affected.get("ranges", []):
            if span.get("type") == "ECOSYSTEM" and _in_range(parsed, span["events"]):
                return True
    return False


class OsvService:
    """The service, serving ``records``, in a thread; ``url`` is the query
    endpoint. ``queries`` counts the queries answered."""

    def __init__(self, records: list[dict[str, Any]]):
        self.records = records
        self.queries = 0
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", 0))
                query = json.loads(self.rfile.read(length) or b"{}")
                if self.path != "/v1/query":
                    self.send_error(404)
                    return
                service.queries += 1
                package = query.get("package", {})
                vulns = [
                    r
                    for r in service.records
                    if affects(r, package.get("name", ""), query.get("version", ""))
                ]
                body = json.dumps({"vulns": vulns} if vulns else {}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/query"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "OsvService":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.thread.is_alive():  # shutdown() waits for serve_forever
            self.server.shutdown()
        self.server.server_close()


def serving(folder: Path = RECORDS) -> Iterator[OsvService]:
    """A pytest fixture body: the service over ``folder``'s records."""
    with OsvService(load_records(folder)) as service:
        yield service
