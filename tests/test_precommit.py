"""pre-commit really runs on a generated project (package-index mode).

A fresh project passes every hook with no file changed; each planted
violation is caught by the hook meant for it. Hook environments build once
per machine in the shared PRE_COMMIT_HOME (conftest). Upstream hooks need
GitHub, so upstream mode is checked statically in test_ci_wiring.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

from conftest import TOOLS, copy_project, git, run

sys.path.insert(0, str(TOOLS / "tests"))
from secret_corpus import planted  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("precommit")]

# A fake Slack webhook, made at test time (secret_corpus.py).
WEBHOOK = next(s for s in planted() if s.kind == "Slack webhook").secret
# Split so that no scanner takes this file for a key.
PRIVATE_KEY = "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA\n"
NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": 3,
            "id": "cell",
            "metadata": {},
            "outputs": [{"name": "stdout", "output_type": "stream", "text": ["42\n"]}],
            "source": ["print(42)"],
        }
    ],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}
# file, contents, the hooks that must fail (and only they); the governance
# hook checks the whole project, so it joins in wherever a policy rule applies.
PLANTED = {
    "unformatted": ("src/planted.py", "x = 'a'\n", {"black"}),
    "flake8 error": ("src/planted.py", "import os\n", {"flake8"}),
    "insecure call": ("src/planted.py", "value = eval(input())\n", {"bandit"}),
    "private key": (
        "secrets/id_rsa",
        PRIVATE_KEY,
        {"detect-private-key", "detect-secrets", "governance"},
    ),
    "secret in a config file": (
        "config/alerts.yaml",
        f"slack_webhook: {WEBHOOK}\n",
        {"detect-secrets", "governance"},
    ),
    "conflict marker": (
        "notes.txt",
        "<<<<<<< before updating\na\n=======\nb\n>>>>>>> after updating\n",
        {"check-merge-conflict", "governance"},
    ),
    "notebook with outputs": (
        "notebooks/planted.ipynb",
        json.dumps(NOTEBOOK, indent=1) + "\n",
        {"nbstripout"},  # it strips the outputs before the governance hook runs
    ),
    "rej file": (
        "pyproject.toml.rej",
        "@@ -1 +1 @@\n",
        {"no-rej-files", "governance"},
    ),
    "trailing whitespace": ("notes.txt", "a  \n", {"trailing-whitespace"}),
    "no final newline": ("notes.txt", "a", {"end-of-file-fixer"}),
    "bad yaml": ("config.yaml", "a: [\n", {"check-yaml"}),
    "bad toml": ("config.toml", "a = [\n", {"check-toml"}),
    "large file": ("data.bin", None, {"check-added-large-files"}),
    "tag-pinned action": (
        ".github/workflows/planted.yml",
        "on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - uses: actions/checkout@v7\n",
        {"zizmor"},
    ),
}


def pre_commit(project: Path, *args: str):
    return run(
        [sys.executable, "-m", "pre_commit", "run", "--color", "never", *args],
        cwd=project,
        check=False,
    )


def failed_hooks(output: str) -> set[str]:
    return set(re.findall(r"Failed\n- hook id: (\S+)", output))


@pytest.fixture(scope="module")
def project(tmp_path_factory, template_dir) -> Path:
    """A generated project (every CI file) with all its files staged."""
    project = copy_project(
        template_dir,
        tmp_path_factory.mktemp("pc") / "proj",
        ci_provider="both",
        precommit_source="package-index",
    )
    git("add", "-A", cwd=project)
    return project


def test_fresh_project_passes_every_hook_unchanged(project):
    result = pre_commit(project, "--all-files")
    assert result.returncode == 0, result.stdout[-4000:]
    assert "Passed" in result.stdout
    assert failed_hooks(result.stdout) == set()
    changed = run(["git", "status", "--porcelain"], cwd=project).stdout
    assert [line for line in changed.splitlines() if not line.startswith("A  ")] == []
    # CRLF .bat files pass the whitespace and end-of-file hooks as they are.
    assert b"\r\n" in (project / "scripts" / "ci.bat").read_bytes()


@pytest.mark.parametrize("violation", sorted(PLANTED))
def test_planted_violation_is_caught(project, violation):
    name, content, expected = PLANTED[violation]
    path = project / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if content is None:
        path.write_bytes(os.urandom(600 * 1024))
    else:
        path.write_bytes(content.encode())
    git("add", name, cwd=project)
    try:
        result = pre_commit(project, "--files", name)
    finally:
        git("rm", "-q", "--cached", "-f", name, cwd=project)
        path.unlink()
    assert result.returncode != 0
    assert failed_hooks(result.stdout) == expected, result.stdout


def test_governance_hook_fails_on_an_expired_waiver(project):
    pyproject = project / "pyproject.toml"
    original = pyproject.read_bytes()
    pyproject.write_bytes(
        original
        + b"\n[[tool.governance.waivers]]\nrule = 'GOV105'\n"
        + b"reason = 'train needs 3.12'\nexpires = 2020-01-31\n"
    )
    try:
        result = pre_commit(project, "--files", "pyproject.toml")
    finally:
        pyproject.write_bytes(original)
    assert failed_hooks(result.stdout) == {"governance"}, result.stdout
    assert "the waiver of GOV105 expired on 2020-01-31" in result.stdout
