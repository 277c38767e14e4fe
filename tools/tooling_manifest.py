"""Regenerate ``hooks/migrations/tooling_manifest.json``: the tools each release
copied into projects.

Releases up to 1.1.0 put the ``mlops`` tooling into every project as
``src/governed_mlops/`` (verbatim copies of ``template/src/governed_mlops/``).
The 1.2.0 migration deletes a project's copy only when every file is
byte-identical to one release's; the manifest holds, per release, the
commit and the SHA-256 of each file. Read from git history (the releases of
docs/changelog.md), so it needs a clone with history.

Usage: ``python tools/tooling_manifest.py [--check]``
"""

from __future__ import annotations

import hashlib
import json
import subprocess

from packaging.version import Version

import generated
from releases import ROOT, releases

OUTPUT = ROOT / "hooks" / "migrations" / "tooling_manifest.json"
COPIED = "template/src/governed_mlops/"


def files_at(commit: str) -> dict[str, str]:
    """``{path under src/governed_mlops: sha256}`` of the copy at ``commit``."""
    listed = subprocess.run(
        ["git", "ls-tree", "-r", "-z", commit, COPIED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = {}
    for entry in filter(None, listed.split("\0")):
        meta, path = entry.split("\t", 1)
        blob = subprocess.run(
            ["git", "cat-file", "blob", meta.split()[2]],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        found[path[len(COPIED) :]] = hashlib.sha256(blob).hexdigest()
    return dict(sorted(found.items()))


def render() -> str:
    manifest = {}
    for release in sorted(releases(), key=lambda r: Version(r.version)):
        files = files_at(release.commit)
        if files:
            manifest[release.version] = {"commit": release.commit, "files": files}
    return json.dumps(manifest, indent=1) + "\n"


if __name__ == "__main__":
    raise SystemExit(
        generated.main(OUTPUT, render, __doc__, "tools/tooling_manifest.py")
    )
