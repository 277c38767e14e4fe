"""A new user's first hour, followed word for word from the READMEs.

From a fresh clone of the template: the template README's copy command, then
the generated README's set-up, tests, policy check and update sections, with
an empty HOME. Only the package caches are shared with the other tests (so
downloads happen once), and the machine's pyenv stays reachable as it is for
a real user.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, TOOLS, UV, git, run

PROJECT = "my-mlops-project"


def console_block(readme: str, heading: str) -> list[str]:
    """The commands of the first console block under ``heading`` (comments cut)."""
    section = readme.split(f"\n{heading}\n", 1)[1]
    block = re.search(r"```console\n(.*?)```", section, re.S).group(1)
    return [
        re.sub(r"\s+#\s.*$", "", line).strip()
        for line in block.splitlines()
        if line.strip()
    ]


@pytest.fixture
def user(tmp_path) -> dict[str, str]:
    """A user's shell: empty HOME, git identity, `python` and `uv` on PATH."""
    home = tmp_path / "home"
    bin_dir = tmp_path / "bin"
    for folder in (home, bin_dir):
        folder.mkdir()
    # `python` is the machine's interpreter (the one .ci/run gave uv to); the
    # test's own venv has no pip.
    base = getattr(sys, "_base_executable", sys.executable)
    wrapper = bin_dir / "python"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(base)} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    (bin_dir / "uv").symlink_to(UV)
    return {
        "HOME": str(home),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        # A user's pyenv lives in their HOME; keep the machine's reachable.
        "PYENV_ROOT": os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv")),
        "UV_CACHE_DIR": os.environ["UV_CACHE_DIR"],
        "PRE_COMMIT_HOME": os.environ["PRE_COMMIT_HOME"],
        "GIT_AUTHOR_NAME": "New User",
        "GIT_AUTHOR_EMAIL": "new.user@example.com",
        "GIT_COMMITTER_NAME": "New User",
        "GIT_COMMITTER_EMAIL": "new.user@example.com",
        "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
    }


def shell(command: str, cwd: Path, env: dict[str, str], check: bool = True):
    """Run one README line in a POSIX shell, as a user types it."""
    return run(["sh", "-c", command], cwd=cwd, env=env, check=check)


def readme_commands() -> tuple[str, str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = re.search(r"```console\n(.*?)```", readme, re.S).group(1)
    generate, test = commands.strip().splitlines()
    return generate, test


@pytest.fixture
def copied(template_dir, tmp_path, user) -> tuple[Path, Path]:
    """The template README's first command, run in a fresh clone."""
    clone = tmp_path / "governed-mlops"
    git("clone", "-q", template_dir, clone, cwd=tmp_path)
    generate, _ = readme_commands()
    assert f" . ../{PROJECT}" in generate, generate
    shell(generate, cwd=clone, env=user)
    return clone, tmp_path / PROJECT


def newer_template(clone: Path) -> None:
    """The platform team releases a change."""
    readme = clone / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nPolicy 99.0.1 was here.\n")
    git("commit", "-qam", "A newer policy", cwd=clone)
    git("tag", "99.0.1", cwd=clone)


def test_readme_copy_records_a_source_that_copier_update_can_use(copied, user):
    clone, project = copied
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_src_path"] == clone.as_posix()  # not "."
    shell('git add -A && git commit -qm "Generated from governed-mlops"', project, user)
    newer_template(clone)
    # `mlops ci template-update` as CI runs it (the tools at this version).
    mlops = [sys.executable, "-m", "governed_mlops", "ci", "template-update"]
    tooling = {**user, "PYTHONPATH": str(TOOLS / "src")}
    stale = run(mlops, cwd=project, env=tooling, check=False)
    assert stale.returncode == 2, stale.stdout + stale.stderr
    assert "a newer governed-mlops template version exists" in stale.stderr
    assert "Traceback" not in stale.stderr
    run(
        [sys.executable, "-m", "copier", "update", "--trust", "--skip-answered"],
        cwd=project,
        env=user,
    )
    assert "Policy 99.0.1 was here." in (project / "README.md").read_text()
    assert (
        yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"]
        == "99.0.1"
    )
    shell('git add -A && git commit -qm "Update"', project, user)
    current = run(mlops, cwd=project, env=tooling, check=False)
    assert current.returncode == 0, current.stdout + current.stderr


@pytest.mark.slow
def test_generated_readme_word_for_word(copied, user):
    """Set up, tests, policy check and update, as the generated README says."""
    clone, project = copied
    readme = (project / "README.md").read_text(encoding="utf-8")
    shell('git add -A && git commit -qm "Generated from governed-mlops"', project, user)

    for command in console_block(readme, "## Set up"):
        # The last line commits uv.lock through every hook pre-commit installed.
        shell(command, project, user)
    assert "uv.lock" in git("ls-files", cwd=project).stdout
    lint = shell("uv run pre-commit run --all-files", project, user)
    assert "Failed" not in lint.stdout
    for command in console_block(readme, "## Run the tests"):
        shell(command, project, user)
    policy = shell(console_block(readme, "## Check the policy")[0], project, user)
    assert "0 error(s), 0 warning(s)" in policy.stdout, policy.stdout

    newer_template(clone)
    update, status, check, locks = console_block(
        readme, "## Updating to a new policy version"
    )
    assert update.startswith("uv run copier update")
    shell(update, project, user)
    assert "Policy 99.0.1 was here." in (project / "README.md").read_text()
    shell(status, project, user)
    after = shell(check, project, user)
    assert "0 error(s), 0 warning(s)" in after.stdout, after.stdout
    shell(locks, project, user)  # the specs did not change: every lock holds
    shell(
        'git add -A && git commit -qm "Update to governed-mlops 99.0.1"', project, user
    )
    shell("uv run mlops ci template-update", project, user)
