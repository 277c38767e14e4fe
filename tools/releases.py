"""The template's releases, as docs/changelog.md records them, and their git tags.

Each ``## <version>`` entry of the changelog has a release line,
``Release <version>, <date>.``, written by ``tools/release.py`` in the release
commit; that commit is the release (``git log -S`` finds it). Releases made
before the line existed name their commit: ``Release 1.1.0, 2026-11-23,
commit 302c198.``. Tags are made from this record, so a checkout without tags
(a fresh CI clone) gets them back with ``python tools/releases.py tags``.

Usage: ``python tools/releases.py [list | tags [--check]]``
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHANGELOG = "docs/changelog.md"
HEADING = re.compile(r"^## +(\S+)\s*$", re.MULTILINE)
LINE = re.compile(
    r"^Release (?P<version>\S+), (?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:, commit (?P<commit>[0-9a-f]{7,40}))?[^.\n]*\.\s*$",
    re.MULTILINE,
)


class ReleaseError(Exception):
    """The changelog and the repository disagree about a release."""


@dataclass(frozen=True)
class Release:
    version: str
    date: str
    commit: str  # full hash


def git(root: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


def entries(text: str) -> list[tuple[str, str]]:
    """``(version, entry text)`` of each changelog entry, newest first."""
    heads = list(HEADING.finditer(text))
    return [
        (
            head.group(1),
            text[
                head.end() : (heads[i + 1].start() if i + 1 < len(heads) else len(text))
            ],
        )
        for i, head in enumerate(heads)
    ]


def release_line(version: str, date: str) -> str:
    return f"Release {version}, {date}."


def releases(root: Path = ROOT) -> list[Release]:
    """Every released version (an entry with a release line), newest first."""
    text = (root / CHANGELOG).read_text(encoding="utf-8")
    found = []
    for version, body in entries(text):
        line = LINE.search(body)
        if line is None:
            continue  # the release in progress
        if line.group("version") != version:
            raise ReleaseError(
                f"{CHANGELOG}: the entry ## {version} has the release line of "
                f"{line.group('version')}"
            )
        commit = line.group("commit")
        if commit:
            commit = git(root, "rev-parse", "--verify", f"{commit}^{{commit}}")
        else:
            added = git(
                root,
                "log",
                "--format=%H",
                "--reverse",
                "-S",
                line.group(0).strip(),
                "--",
                CHANGELOG,
            ).splitlines()
            if not added:
                raise ReleaseError(
                    f"{CHANGELOG}: no commit added the release line of {version} "
                    f"(a shallow clone? `git fetch --unshallow`)"
                )
            commit = added[0]
        found.append(Release(version, line.group("date"), commit))
    return found


def tag_problems(root: Path = ROOT) -> list[str]:
    """Releases whose tag is missing or points elsewhere."""
    problems = []
    for release in releases(root):
        try:
            tagged = git(
                root, "rev-parse", "--verify", f"refs/tags/{release.version}^{{commit}}"
            )
        except ReleaseError:
            problems.append(
                f"{release.version}: no tag (release commit {release.commit[:12]})"
            )
            continue
        if tagged != release.commit:
            problems.append(
                f"{release.version}: the tag points at {tagged[:12]}, the changelog "
                f"at {release.commit[:12]}"
            )
    return problems


def make_tags(root: Path = ROOT) -> list[str]:
    """Create the missing annotated tags; returns the versions tagged."""
    made = []
    for release in releases(root):
        exists = (
            subprocess.run(
                [
                    "git",
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    f"refs/tags/{release.version}",
                ],
                cwd=root,
                capture_output=True,
            ).returncode
            == 0
        )
        if not exists:
            git(
                root,
                "tag",
                "-a",
                release.version,
                release.commit,
                "-m",
                f"governed-mlops {release.version} ({release.date})",
            )
            made.append(release.version)
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("list", help="print each release and its commit")
    tags = commands.add_parser("tags", help="create the missing release tags")
    tags.add_argument("--check", action="store_true", help="only report, exit 1 if any")
    args = parser.parse_args(argv)
    try:
        if args.command == "tags":
            if args.check:
                problems = tag_problems()
                for problem in problems:
                    print(problem)
                return 1 if problems else 0
            for version in make_tags():
                print(f"tagged {version}")
            return 0
        for release in releases():
            print(f"{release.version}  {release.date}  {release.commit}")
    except ReleaseError as error:
        print(f"releases: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
