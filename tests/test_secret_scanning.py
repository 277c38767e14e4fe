"""The secret-scanner measurement of docs/ci.md, run again: GOV201 catches
every planted kind and fires on no look-alike but the one the docs name; the
docs' table matches what detect-secrets and GOV201 do today; the generated
projects' detect-secrets hook has the rule's settings; and under a Python
without detect-secrets (copier's) the checker falls back as documented."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, TOOLS, UV

sys.path.insert(0, str(TOOLS / "tests"))
from secret_corpus import (  # noqa: E402
    detect_secrets_flagged,
    gov201_flagged,
    look_alikes,
    measure,
    planted,
    write_corpus,
)

from governed_mlops.policy import secret_scan  # noqa: E402

# A quoted base64 string of plain text: detect-secrets' entropy plugin cannot
# tell it from a base64-encoded password (docs/ci.md, Secret scanning).
KNOWN_FALSE_ALARMS = {"base64 of text"}
DOCS = REPO / "docs" / "ci.md"
VERSION = secret_scan.detect_secrets_version()
COLUMNS = {
    f"detect-secrets {VERSION}": detect_secrets_flagged,
    "GOV201 1.3.0": gov201_flagged,
}


@pytest.fixture(scope="module")
def flagged() -> dict[str, set[str]]:
    return measure(COLUMNS)


def test_gov201_catches_every_planted_kind(flagged):
    missed = [s.kind for s in planted() if s.path not in flagged["GOV201 1.3.0"]]
    assert len(planted()) >= 20
    assert missed == []


def test_gov201_fires_on_no_look_alike_but_the_documented_one(flagged):
    fired = {s.kind for s in look_alikes() if s.path in flagged["GOV201 1.3.0"]}
    assert fired == KNOWN_FALSE_ALARMS


def docs_columns() -> dict[str, dict[str, bool]]:
    """``{column: {row: caught or fired}}`` of the two tables in docs/ci.md."""
    text = DOCS.read_text(encoding="utf-8")
    columns: dict[str, dict[str, bool]] = {}
    for first in ("secret kind", "look-alike"):
        block = re.search(rf"^\| {first} \|.*?(?=\n\n)", text, re.M | re.S)
        assert block, f"docs/ci.md has no table starting with '| {first} |'"
        head, _, *rows = block.group(0).splitlines()
        names = [cell.strip() for cell in head.strip("|").split("|")][1:]
        for row in rows:
            kind, *cells = [cell.strip() for cell in row.strip("|").split("|")]
            for name, cell in zip(names, cells):
                if not kind.startswith("**"):
                    columns.setdefault(name, {})[kind] = cell in ("caught", "**fired**")
    return columns


def test_the_docs_table_is_what_the_scanners_do(flagged):
    documented = docs_columns()
    for name, found in flagged.items():
        assert name in documented, f"docs/ci.md has no column {name!r}"
        measured = {s.kind: s.path in found for s in planted() + look_alikes()}
        differ = {k for k in measured if documented[name].get(k) != measured[k]}
        assert differ == set(), f"{name}: docs/ci.md is wrong about {sorted(differ)}"


@pytest.mark.parametrize("source", ["package-index", "upstream"])
def test_the_hook_has_the_rule_settings(render, source):
    """The generated hook runs the detect-secrets the rule was measured with,
    with the rule's arguments."""
    project = render(precommit_source=source)
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    repo, hook = [
        (repo, hook)
        for repo in config["repos"]
        for hook in repo["hooks"]
        if hook["id"] == "detect-secrets"
    ][0]
    assert hook["args"] == secret_scan.HOOK_ARGS
    if source == "upstream":
        assert repo["repo"] == "https://github.com/Yelp/detect-secrets"
        assert repo["rev"] == f"v{VERSION}"
    else:
        assert hook["entry"] == "detect-secrets-hook"
        assert hook["additional_dependencies"] == [f"detect-secrets=={VERSION}"]
    assert config["repos"][-1]["hooks"][-1]["id"] == "governance"


def test_the_checker_under_copiers_python_falls_back(tmp_path: Path):
    """A Python with only the checker's dependencies (pyyaml, pydantic,
    packaging), as copier's is: GOV201 catches what its patterns know and
    reports a clean project as not applicable."""
    venv = tmp_path / "venv"
    subprocess.run([UV, "venv", "-q", "--python", sys.executable, venv], check=True)
    python = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    install = [UV, "pip", "install", "-q", "--python", python]
    subprocess.run([*install, "pyyaml", "pydantic", "packaging"], check=True)
    corpus = write_corpus(tmp_path / "corpus", planted() + look_alikes())
    clean = write_corpus(tmp_path / "clean", look_alikes())
    script = (
        "import sys; from pathlib import Path\n"
        "from governed_mlops.policy.testing import NotApplicable, check_rule\n"
        "import importlib.util\n"
        "assert importlib.util.find_spec('detect_secrets') is None\n"
        "print(sorted({f.path for f in check_rule('GOV201', Path(sys.argv[1]))}))\n"
        "try:\n    check_rule('GOV201', Path(sys.argv[2]))\n"
        "except NotApplicable as reason:\n    print(reason)\n"
    )
    result = subprocess.run(
        [python, "-c", script, corpus, clean],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(TOOLS / "src")},
    )
    assert result.returncode == 0, result.stderr
    found, reason = result.stdout.splitlines()
    fallback = {
        "AWS access key id",
        "Azure SAS token",
        "GCP service-account JSON",
        "GitHub token (classic)",
        "password in a postgres URL",
        "password in an mssql URL",
        "https basic auth in a URL",
        "database connection string",
        "`.env` file",
        "RSA private key",
        "EC private key",
        "OpenSSH private key",
        "PKCS#8 private key",
    }
    assert found == repr(sorted(s.path for s in planted() if s.kind in fallback))
    assert reason == (
        "only the built-in patterns (detect-secrets is not installed in this "
        "Python) ran, and found nothing"
    )
