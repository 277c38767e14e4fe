"""Cut a policy release, or start the next one (docs/maintainers.md).

    python tools/release.py start 1.3.0     # the version being prepared
    python tools/release.py cut 1.3.0       # check, build, test, commit, tag
    python tools/release.py cut 1.3.0 --dry-run   # all but the commit and tag
    python tools/release.py publish dist/   # upload to the organisation's index

``start`` writes the version in its one place (governed-mlops-tools/
pyproject.toml), regenerates what copier reads from it and opens a changelog
entry. ``cut`` checks everything first and tags nothing unless all passes:
a clean tree on the prepared version, its changelog entry, the migrations
and rules against the changelog, the tools wheel and sdist (built into dist/
and their metadata checked), the suite (the README's test command unless
``--test-command`` says otherwise); then it writes the release line into the
changelog, commits "Release X" and makes the annotated tag X. ``publish``
uploads with ``uv publish``; the token comes from ``UV_PUBLISH_TOKEN`` (CI
secrets), never from argv or a file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.parser
import os
import re
import shlex
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import yaml
from packaging.version import InvalidVersion, Version

import releases

ROOT = releases.ROOT
PYPROJECT = ROOT / "governed-mlops-tools" / "pyproject.toml"
CHANGELOG = ROOT / releases.CHANGELOG
GENERATORS = ("tools/tools_pin.py", "tools/policy_docs.py")
ENTRY_TEMPLATE = """## {version}

What changed:

-

What the migrations do:

-

What you must do by hand:

-

"""


class ReleaseError(Exception):
    """A step failed; nothing was committed or tagged."""


def say(message: str) -> None:
    print(f"release: {message}", file=sys.stderr, flush=True)


def run(*cmd: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    """Run ``cmd``, with ``env`` over this environment (a value of "" there
    unsets the variable)."""
    given = env or {}
    child = {k: v for k, v in {**os.environ, **given}.items() if v or k not in given}
    result = subprocess.run(
        list(cmd), cwd=cwd, capture_output=True, text=True, env=child
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise ReleaseError(f"{shlex.join(cmd)} exited {result.returncode}:\n{tail}")
    return result.stdout


def tools_version(root: Path = ROOT) -> str:
    pyproject = root / "governed-mlops-tools" / "pyproject.toml"
    return str(tomllib.loads(pyproject.read_text("utf-8"))["project"]["version"])


def set_tools_version(version: str, root: Path = ROOT) -> None:
    path = root / "governed-mlops-tools" / "pyproject.toml"
    text = path.read_text(encoding="utf-8")
    new, count = re.subn(
        r'(?m)^version = "[^"]*"$', f'version = "{version}"', text, count=1
    )
    if count != 1:
        raise ReleaseError(f"{path}: no version line to set")
    path.write_text(new, encoding="utf-8")


def parse_version(text: str) -> Version:
    try:
        version = Version(text)
    except InvalidVersion:
        raise ReleaseError(f"{text!r} is not a PEP 440 version, e.g. 1.3.0") from None
    if (
        str(version) != text
        or len(version.release) != 3
        or version.is_devrelease
        or version.is_postrelease
        or version.local
    ):
        raise ReleaseError(f"{text!r}: write the release as X.Y.Z (or X.Y.ZrcN)")
    return version


def regenerate(root: Path = ROOT) -> None:
    for script in GENERATORS:
        run(sys.executable, script, cwd=root)


def start(version: str, root: Path = ROOT) -> None:
    """Prepare ``version``: the one version, the generated pins, a changelog entry."""
    wanted = parse_version(version)
    released = [Version(r.version) for r in releases.releases(root)]
    if released and wanted <= max(released):
        raise ReleaseError(f"{version} is not newer than release {max(released)}")
    set_tools_version(version, root)
    changelog = root / releases.CHANGELOG
    text = changelog.read_text(encoding="utf-8")
    if f"\n## {version}\n" not in text:
        first = text.index("\n## ") + 1
        text = text[:first] + ENTRY_TEMPLATE.format(version=version) + text[first:]
        changelog.write_text(text, encoding="utf-8")
    regenerate(root)
    # uv.lock holds the tools' version: relocked now, not by the first `uv run`
    # after it (which would leave the tree dirty for `cut`).
    run(sys.executable, "-m", "uv", "lock", "--quiet", cwd=root)
    say(f"preparing {version}: write its changelog entry, then `cut {version}`")


def check_changelog(version: str, root: Path) -> str:
    """The entry of ``version``: at the top, with content, not released yet."""
    text = (root / releases.CHANGELOG).read_text(encoding="utf-8")
    entries = releases.entries(text)
    if not entries or entries[0][0] != version:
        top = entries[0][0] if entries else "none"
        raise ReleaseError(
            f"{releases.CHANGELOG}: the top entry is {top}; add `## {version}` "
            f"(what changed, what the migrations do, what to do by hand)"
        )
    body = entries[0][1]
    if releases.LINE.search(body):
        raise ReleaseError(f"{releases.CHANGELOG}: {version} is released already")
    if not re.search(r"\w", re.sub(r"(?m)^(What .*:|- *)$", "", body)):
        raise ReleaseError(f"{releases.CHANGELOG}: the entry of {version} is empty")
    return text


def check_migrations_and_rules(version: str, text: str, root: Path) -> None:
    versions = {v for v, _ in releases.entries(text)}
    config = yaml.safe_load(
        (root / "copier.yml").read_text(encoding="utf-8").split("---\n", 1)[1]
    )
    for migration in config.get("_migrations", []):
        if "version" not in migration:
            continue
        target = str(migration["version"])
        if target not in versions or Version(target) > Version(version):
            raise ReleaseError(
                f"copier.yml: a migration for {target}, which is not a changelog "
                f"version up to {version}"
            )
        script = next((p for p in migration["command"] if str(p).endswith(".py")), "")
        relative = str(script).replace("{{ _copier_conf.src_path }}/", "")
        if relative and not (root / relative).is_file():
            raise ReleaseError(f"copier.yml: migration script {relative} is missing")
    checked = run(
        sys.executable,
        "-c",
        "import json; from governed_mlops.policy.model import builtin_rules; "
        "print(json.dumps({r.id: r.since for r in builtin_rules()}))",
        cwd=root,
        env={"PYTHONPATH": str(root / "governed-mlops-tools" / "src")},
    )
    for rule, since in yaml.safe_load(checked).items():
        if since not in versions or Version(since) > Version(version):
            raise ReleaseError(
                f"rule {rule} is new in {since}, which is not a changelog version "
                f"up to {version}"
            )


def build(version: str, root: Path) -> list[Path]:
    """The tools wheel and sdist in dist/, their metadata checked."""
    dist = root / "dist"
    for old in dist.glob("governed_mlops_tools-*"):
        old.unlink()
    uv = [sys.executable, "-m", "uv"]
    run(
        *uv,
        "build",
        "--quiet",
        "--out-dir",
        str(dist),
        "governed-mlops-tools",
        cwd=root,
    )
    built = sorted(dist.glob(f"governed_mlops_tools-{version}*"))
    wheels = [p for p in built if p.suffix == ".whl"]
    if len(wheels) != 1 or not any(p.name.endswith(".tar.gz") for p in built):
        raise ReleaseError(
            f"dist/: expected a wheel and an sdist of {version}: {built}"
        )
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = wheel.namelist()
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(wheel.read(meta).decode("utf-8"))
    if metadata["Name"] != "governed-mlops-tools" or metadata["Version"] != version:
        raise ReleaseError(f"{wheels[0].name}: metadata says {metadata['Version']}")
    if "governed_mlops/cli/__init__.py" not in names:
        raise ReleaseError(f"{wheels[0].name}: the package is not in the wheel")
    return built


def readme_test_command(root: Path) -> str:
    readme = (root / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```console\n(.*?)```", readme, re.S)
    if block is None:
        raise ReleaseError("README.md: no console block with the test command")
    return block.group(1).strip().splitlines()[-1].split("&&")[-1].strip()


def cut(
    version: str,
    test_command: str | None,
    date: str | None = None,
    root: Path = ROOT,
    dry_run: bool = False,
) -> str:
    """Release ``version``; returns the tag's commit (``dry_run``: check,
    build and test only; returns HEAD, untouched)."""
    wanted = parse_version(version)
    if run("git", "status", "--porcelain", cwd=root).strip():
        raise ReleaseError("the work tree has uncommitted changes: commit them first")
    if (
        subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"refs/tags/{version}"],
            cwd=root,
            capture_output=True,
        ).returncode
        == 0
    ):
        raise ReleaseError(f"tag {version} exists: versions are never reused")
    prepared = tools_version(root)
    if prepared != version:
        hint = (
            f"`python tools/release.py start {version}` first"
            if wanted > Version(prepared)
            else f"`python tools/release.py cut {prepared}` releases the version "
            f"in progress"
        )
        raise ReleaseError(
            f"governed-mlops-tools/pyproject.toml prepares {prepared}, "
            f"not {version}: {hint}"
        )
    say("checking the generated files")
    for script in GENERATORS:
        run(sys.executable, script, "--check", cwd=root)
    say("checking the changelog, migrations and rules")
    text = check_changelog(version, root)
    check_migrations_and_rules(version, text, root)
    say("building the tools wheel and sdist")
    built = build(version, root)
    if test_command:
        say(f"running the suite: {test_command}")
        run(*shlex.split(test_command), cwd=root)
    else:
        say("the suite is NOT run (--no-tests): the tag's message says so")
    if dry_run:
        for path in built:
            say(f"built {path.relative_to(root)}")
        say(f"dry run: {version} passes every check; nothing committed or tagged")
        return run("git", "rev-parse", "HEAD", cwd=root).strip()
    day = date or dt.date.today().isoformat()
    heading = f"## {version}\n"
    text = text.replace(
        heading, heading + "\n" + releases.release_line(version, day) + "\n", 1
    )
    (root / releases.CHANGELOG).write_text(text, encoding="utf-8")
    run("git", "add", releases.CHANGELOG, cwd=root)
    run("git", "commit", "-q", "-m", f"Release {version}", cwd=root)
    message = f"governed-mlops {version} ({day})"
    if not test_command:
        message += "\n\nTagged without running the suite (--no-tests)."
    run("git", "tag", "-a", version, "-m", message, cwd=root)
    commit = run("git", "rev-parse", "HEAD", cwd=root).strip()
    for path in built:
        say(f"built {path.relative_to(root)}")
    say(
        f"tagged {version} at {commit[:12]}: push the commit and the tag "
        f"(git push origin HEAD {version}); the release workflow publishes dist/"
    )
    return commit


def publish(dist: Path, index_url: str) -> None:
    """Upload the tools' wheel and sdist; the token is UV_PUBLISH_TOKEN's, else
    a login written in the upload URL, which goes to uv's environment (never
    shown, never in argv)."""
    url, user, password = split_login(index_url)
    env = {}
    if not os.environ.get("UV_PUBLISH_TOKEN"):
        if not password:
            raise ReleaseError(
                "UV_PUBLISH_TOKEN is not set: CI passes the index token from its "
                "secrets (GitHub: secrets.PACKAGE_INDEX_TOKEN; Jenkins: credentials)"
            )
        env = {"UV_PUBLISH_TOKEN": "", "UV_PUBLISH_USERNAME": user or "__token__"}
        env["UV_PUBLISH_PASSWORD"] = password
    files = sorted(str(p) for p in dist.glob("governed_mlops_tools-*"))
    if not files:
        raise ReleaseError(f"{dist}: nothing to publish; run `cut` first")
    say(f"publishing {len(files)} files to {url}")
    try:
        run(
            sys.executable, "-m", "uv", "publish", "--publish-url", url, *files, env=env
        )
    except ReleaseError as error:
        text = str(error)
        for secret in {password, quote(password, safe="")} - {""}:
            text = text.replace(secret, "***")
        raise ReleaseError(text) from None


def split_login(url: str) -> tuple[str, str, str]:
    """``url`` without a ``user:password@`` before its host, and the two."""
    parts = urlsplit(url)
    login, at, host = parts.netloc.rpartition("@")
    if not at:
        return url, "", ""
    user, _, password = login.partition(":")
    return urlunsplit(parts._replace(netloc=host)), unquote(user), unquote(password)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:6]),
    )
    commands = parser.add_subparsers(dest="command", required=True)
    begin = commands.add_parser("start", help="prepare the next version")
    begin.add_argument("version")
    release = commands.add_parser("cut", help="check, build, test, commit and tag")
    release.add_argument("version")
    release.add_argument(
        "--test-command",
        help="the suite to run before tagging (default: the README's test command)",
    )
    release.add_argument(
        "--no-tests",
        action="store_true",
        help="skip the suite (said in the output and in the tag's message)",
    )
    release.add_argument(
        "--dry-run",
        action="store_true",
        help="check, build and run the suite; commit and tag nothing",
    )
    release.add_argument("--date", help="the release date (default: today)")
    upload = commands.add_parser("publish", help="upload dist/ to a package index")
    upload.add_argument("dist", type=Path, nargs="?", default=ROOT / "dist")
    upload.add_argument(
        "--index-url",
        default=os.environ.get("PACKAGE_INDEX_UPLOAD_URL", ""),
        help="the index's upload URL (default: $PACKAGE_INDEX_UPLOAD_URL)",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            start(args.version)
        elif args.command == "cut":
            command = None if args.no_tests else args.test_command
            if command is None and not args.no_tests:
                command = readme_test_command(ROOT)
            cut(args.version, command, args.date, dry_run=args.dry_run)
        else:
            if not args.index_url:
                raise ReleaseError(
                    "--index-url (or $PACKAGE_INDEX_UPLOAD_URL) is needed"
                )
            publish(args.dist, args.index_url)
    except (ReleaseError, releases.ReleaseError) as error:
        print(f"release: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
