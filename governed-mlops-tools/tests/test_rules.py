"""Every policy rule on a temporary folder: a minimal compliant project passes,
and each violation is found (the unit tier; the template's suite runs the same
rules on generated projects)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from governed_mlops.policy.model import RULES, all_rules
from governed_mlops.policy.testing import NotApplicable, check_rule, write_files

TODAY = dt.date(2026, 12, 1)
HOOKS = "\n".join(
    f"      - id: {hook}" + (f"\n        args: [{args}]" if args else "")
    for hook, args in (
        ("black", ""),
        ("flake8", ""),
        ("check-merge-conflict", "--assume-in-merge"),
        ("detect-private-key", ""),
        ("check-added-large-files", ""),
        ("nbstripout", ""),
        ("bandit", "-c, pyproject.toml"),
        ("detect-secrets", "--no-verify"),
        ("no-rej-files", ""),
        ("governance", ""),
    )
)
NOTEBOOK = json.dumps(
    {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {"tags": ["parameters"]},
                "outputs": [],
                "source": ["seed = 42\n"],
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
)
PROJECT = {
    "README.md": "# Churn\n",
    ".gitignore": ".venv/\n",
    ".python-version": "3.11\n",
    "MLproject": "name: churn\n",
    ".flake8": "[flake8]\nmax-line-length = 88\nextend-ignore = E203\n",
    ".pre-commit-config.yaml": f"repos:\n  - repo: local\n    hooks:\n{HOOKS}\n",
    "pyproject.toml": """\
[project]
name = "churn"
requires-python = ">=3.11"

[dependency-groups]
pipeline = ["governed-mlops-tools[pipeline]==1.2.0"]

[tool.governed-mlops]
package = "churn"
stages = ["train"]

[tool.black]
target-version = ["py311"]

[tool.bandit]
exclude_dirs = ["tests"]

[tool.pytest.ini_options]
addopts = ["--cov"]

[tool.coverage.report]
fail_under = 80
""",
    "env_specs/stage.schema.json": "{}\n",
    "env_specs/stage_train.yaml": """\
name: train
python: "3.11"
env_dir: .venvs/train
kernel_name: churn-train
notebook: notebooks/train.ipynb
packages: [pandas>=2.1]
parameters: {seed: 42}
""",
    "notebooks/train.ipynb": NOTEBOOK,
    "tests/test_churn.py": "def test_x():\n    assert True\n",
    "Jenkinsfile": "mlops('lint')\nmlops('test')\nmlops('audit')\n",
    ".copier-answers.yml": "_commit: 1.2.0\n_src_path: gh:acme/governed-mlops\n"
    "ci_provider: jenkins\n",
    "uv.lock": "version = 1\n",
    "src/churn/__init__.py": "",
}


def findings(rule_id: str, changes: dict | None = None, drop=(), **options):
    """Messages of ``rule_id`` on the project with ``changes`` (None deletes)."""
    files = {**PROJECT, **(changes or {})}
    for name in drop:
        files.pop(name)
    return [
        f"{f.where}: {f.message}"
        for f in check_rule(rule_id, files, today=TODAY, **options)
    ]


def edited(name: str, old: str, new: str) -> dict[str, str]:
    assert old in PROJECT[name], (name, old)
    return {name: PROJECT[name].replace(old, new, 1)}


def test_the_minimal_project_passes_every_rule_that_applies():
    failed = {}
    for rule in all_rules():
        try:
            found = findings(rule.id, git=rule.id == "GOV106")
        except NotApplicable:
            continue
        if found:
            failed[rule.id] = found
    assert failed == {}


# rule id -> (changes to the project, a finding expected)
VIOLATIONS = {
    "GOV001": (
        {
            "pyproject.toml": PROJECT["pyproject.toml"]
            + "\n[[tool.governance.waivers]]\nrule = 'GOV105'\nreason = 'r'\n"
            "expires = 2026-01-31\n"
        },
        "pyproject.toml: the waiver of GOV105 expired on 2026-01-31",
    ),
    "GOV101": ({"MLproject": None}, "MLproject: MLproject is missing"),
    "GOV102": (
        edited(".flake8", "max-line-length = 88", "max-line-length = 100"),
        ".flake8: flake8 max-line-length is 100, black's line-length is 88",
    ),
    "GOV103": (
        edited(".pre-commit-config.yaml", "      - id: governance\n", ""),
        ".pre-commit-config.yaml: pre-commit hook 'governance' is missing",
    ),
    "GOV104": (
        edited("pyproject.toml", '">=3.11"', '">=3.10"'),
        "pyproject.toml: requires-python is '>=3.10', expected '>=3.11'",
    ),
    "GOV105": (
        edited("env_specs/stage_train.yaml", '"3.11"', '"3.12"'),
        "env_specs/stage_train.yaml:2: stage Python 3.12, project Python 3.11",
    ),
    "GOV106": ({"uv.lock": None}, "uv.lock: uv.lock is missing or git-ignored"),
    "GOV107": (
        edited("pyproject.toml", "fail_under = 80", "fail_under = 50"),
        "pyproject.toml: [tool.coverage.report] fail_under is 50, at least 80",
    ),
    "GOV108": (
        edited("Jenkinsfile", "mlops('test')", "echo 'no tests'"),
        "Jenkinsfile: Jenkinsfile does not run the 'test' step",
    ),
    "GOV111": (
        edited("Jenkinsfile", "mlops('audit')", "echo 'no audit'"),
        "Jenkinsfile: Jenkinsfile does not run the 'audit' step",
    ),
    "GOV109": (
        edited("pyproject.toml", "[tool.bandit]", "[tool.nobandit]"),
        "pyproject.toml: pyproject.toml has no [tool.bandit] table",
    ),
    "GOV110": (
        {"src/governed_mlops/cli.py": "MIN_COVERAGE = 70\n"},
        "src/governed_mlops: a copy of the tools (1 files)",
    ),
    "GOV112": (
        # An update's conflict resolved for the old line: the old tools run.
        edited(".copier-answers.yml", "_commit: 1.2.0", "_commit: 1.3.0"),
        "pyproject.toml: governed-mlops-tools is pinned at 1.2.0, older than the "
        "project's policy version 1.3.0",
    ),
    "GOV201": (
        {"src/churn/deploy.py": "URL = 'https://ci:" + "hunter2@pypi.example.com'\n"},
        "src/churn/deploy.py:1: looks like a URL with a password",
    ),
    "GOV202": (
        {"README.md": "# Churn\n<<<<<<< before updating\n"},
        "README.md:2: conflict marker",
    ),
    "GOV301": (
        edited("env_specs/stage_train.yaml", "packages:", "pakages:"),
        "env_specs/stage_train.yaml: unknown key 'pakages' (did you mean 'packages'?)",
    ),
    "GOV302": (
        {
            "notebooks/train.ipynb": NOTEBOOK.replace(
                '"execution_count": null', '"execution_count": 3'
            )
        },
        "notebooks/train.ipynb: stored outputs or execution counts in cell(s) 1",
    ),
    "GOV401": (
        edited(".copier-answers.yml", "_commit: 1.2.0", "_commit: 0.9.0"),
        "template version 0.9.0 is older than the oldest supported policy version",
    ),
    "GOV404": (
        edited(".copier-answers.yml", "_commit: 1.2.0", "_commit: 1.2.0-3-gabc1234"),
        "_commit '1.2.0-3-gabc1234' is not a release: migrations will not run",
    ),
    "GOV402": (
        edited(".copier-answers.yml", "gh:acme/governed-mlops", "../governed-mlops"),
        "_src_path '../governed-mlops' is relative",
    ),
    "GOV403": (
        edited(
            ".copier-answers.yml", "gh:acme/governed-mlops", "/nowhere/governed-mlops"
        ),
        "_src_path '/nowhere/governed-mlops' is not a folder on this machine",
    ),
}


def test_every_rule_has_a_unit_test():
    assert set(VIOLATIONS) == {rule.id for rule in all_rules()}


@pytest.mark.parametrize("rule_id", sorted(VIOLATIONS))
def test_rule_finds_its_violation(rule_id):
    changes, expected = VIOLATIONS[rule_id]
    drop = [name for name, value in changes.items() if value is None]
    kept = {name: value for name, value in changes.items() if value is not None}
    found = findings(rule_id, kept, drop=drop, git=rule_id == "GOV106")
    assert any(expected in line for line in found), found


def test_a_secret_scanner_that_may_verify_what_it_finds_is_refused():
    """detect-secrets would send a secret it finds to its issuer to test it."""
    found = findings(
        "GOV103",
        edited(".pre-commit-config.yaml", "args: [--no-verify]", "args: []"),
    )
    assert found == [
        ".pre-commit-config.yaml: pre-commit hook 'detect-secrets' lacks the "
        "argument --no-verify"
    ]


def test_an_untracked_lock_file_is_not_committed(tmp_path):
    root = write_files(tmp_path, {k: v for k, v in PROJECT.items() if k != "uv.lock"})
    check_rule("GOV106", root, git=True)  # commits everything there is
    (root / "uv.lock").write_text("version = 1\n")
    found = check_rule("GOV106", root, today=TODAY)
    assert [f.message for f in found] == [
        "uv.lock exists but is not committed (git add uv.lock)"
    ]


def test_gov112_finds_the_tools_unpinned_or_missing():
    unpinned = edited(
        "pyproject.toml",
        '"governed-mlops-tools[pipeline]==1.2.0"',
        '"governed-mlops-tools[pipeline]"',
    )
    assert findings("GOV112", unpinned) == [
        "pyproject.toml: governed-mlops-tools is not pinned to a release"
    ]
    missing = edited(
        "pyproject.toml", '"governed-mlops-tools[pipeline]==1.2.0"', '"mlflow>=3.9"'
    )
    assert findings("GOV112", missing) == [
        "pyproject.toml: the dependency groups do not hold governed-mlops-tools: "
        "`mlops` (the policy check, the stage runner) is not installed at policy "
        "1.2.0"
    ]
    # A newer patch release of the tools (a Renovate pull request) is fine, as
    # is a git pin at the release tag.
    newer = edited("pyproject.toml", "==1.2.0", "==1.2.1")
    assert findings("GOV112", newer) == []
    git = edited(
        "pyproject.toml",
        "==1.2.0",
        " @ git+https://git.acme.com/governed-mlops.git@1.2.0"
        "#subdirectory=governed-mlops-tools",
    )
    assert findings("GOV112", git) == []
    # A login in the URL (copier.yml renders scp-like sources so) is no pin.
    ssh = edited(
        "pyproject.toml",
        "==1.2.0",
        " @ git+ssh://git@git.acme.com/org/governed-mlops.git@1.2.0"
        "#subdirectory=governed-mlops-tools",
    )
    assert findings("GOV112", ssh) == []
    old = edited("pyproject.toml", "==1.2.0", " @ git+ssh://git@h/gm.git@1.0.0")
    assert [f.split(": ")[0] for f in findings("GOV112", old)] == ["pyproject.toml"]


@pytest.mark.parametrize(
    ("addopts", "enabled"),
    [
        ('["--cov"]', True),
        ('["-ra", "--cov=churn", "--cov-report=term-missing"]', True),
        ('"-ra --cov --cov-report=xml"', True),
        # The template's addopts with the --cov line deleted: only a report.
        ('["-ra", "--cov-report=term-missing"]', False),
        ('["--cov-config=.coveragerc"]', False),
        ('["--cov", "--no-cov"]', False),
        ('"--covfefe"', False),
    ],
)
def test_gov107_wants_coverage_turned_on_not_an_option_named_like_it(addopts, enabled):
    changed = edited("pyproject.toml", 'addopts = ["--cov"]', f"addopts = {addopts}")
    expected = (
        []
        if enabled
        else [
            "pyproject.toml: [tool.pytest.ini_options] addopts does not enable "
            "coverage (--cov)"
        ]
    )
    assert findings("GOV107", changed) == expected


def test_hooks_in_a_file_that_does_not_parse_are_not_called_missing():
    """An update's conflict markers in .pre-commit-config.yaml: one finding
    saying the file does not parse, not every required hook "missing"."""
    config = PROJECT[".pre-commit-config.yaml"]
    broken = {
        ".pre-commit-config.yaml": config.replace(
            "repos:\n", "repos:\n<<<<<<< before updating\n=======\n>>>>>>> after\n", 1
        )
    }
    for rule_id in ("GOV102", "GOV103"):
        (finding,) = findings(rule_id, broken)
        assert finding.startswith(
            ".pre-commit-config.yaml: .pre-commit-config.yaml is not valid YAML ("
        )
        assert finding.endswith(
            "so no hook in it can be read: resolve the conflict markers an update "
            "left (GOV202) or fix the YAML"
        )


def test_rules_that_do_not_apply_say_why():
    with pytest.raises(NotApplicable, match="ci_provider is none"):
        findings("GOV108", edited(".copier-answers.yml", "jenkins", "none"))
    with pytest.raises(NotApplicable, match="not a release tag"):
        findings("GOV401", edited(".copier-answers.yml", "1.2.0", "4f3c2a1"))
    with pytest.raises(NotApplicable):
        findings("GOV403")  # a URL: nothing local to reach


def test_grace_period_rules_warn_until_their_date():
    rule = RULES["GOV106"]
    assert rule.grace_until is not None
    assert rule.severity_on(rule.grace_until) == "warning"
    assert rule.severity_on(rule.grace_until + dt.timedelta(days=1)) == "error"


def test_a_tightened_requirement_warns_alone_and_the_rules_older_checks_stay_errors(
    tmp_path,
):
    """A rule that gained a requirement in a release gives its findings a
    grace date: only those warn until then; the rule's other findings are
    errors as before (docs/maintainers.md, tightening a rule)."""
    from governed_mlops.policy.engine import _outcome
    from governed_mlops.policy.model import ERROR, WARNING, Finding, Rule
    from governed_mlops.policy.testing import facts_for

    until = dt.date(2027, 6, 30)
    older = Finding("no tests/test_*.py files", "tests")
    newer = Finding("fail_under is 80, at least 85", "pyproject.toml", None, until)
    found: list[Finding] = []
    tightened = Rule("ORG107", "t", ERROR, "1.4.0", "r", "f", lambda facts: found)
    before, after = facts_for(tmp_path, until), facts_for(
        tmp_path, until.replace(day=1, month=7)
    )

    found[:] = [newer]
    waiting = _outcome(tightened, before, None)
    assert (waiting.severity, waiting.status) == (WARNING, "failed")
    assert (
        waiting.note == "a new requirement: a warning until 2027-06-30, an error after"
    )
    assert _outcome(tightened, after, None).severity == ERROR

    found[:] = [older, newer]
    both = _outcome(tightened, before, None)
    assert both.severity == ERROR
    assert [f.message for f in both.findings] == [
        "no tests/test_*.py files",
        "fail_under is 80, at least 85 (a warning until 2027-06-30)",
    ]


def test_check_rule_names_unknown_rules():
    with pytest.raises(KeyError, match="no rule GOV999"):
        check_rule("GOV999", {})


def test_check_rule_takes_a_folder_as_it_is(tmp_path: Path):
    write_files(tmp_path, PROJECT)
    assert check_rule("GOV101", tmp_path) == []


def test_gov202_finds_the_update_guards_commented_markers():
    spec = (
        "name: train\n"
        "# <<<<<<< before updating (yours, kept)\n"
        "packages: [numpy]\n"
        "# ======= after updating (the template's, not applied)\n"
        "# packages: [numpy, pandas]\n"
        "# >>>>>>> after updating\n"
    )
    found = findings("GOV202", {"env_specs/stage_train.yaml": spec})
    assert found == [
        "env_specs/stage_train.yaml:2: commented conflict block of an update "
        "(the template's lines not applied)",
        "env_specs/stage_train.yaml:6: commented conflict block of an update "
        "(the template's lines not applied)",
    ]


def test_gov202_finds_markers_inside_notebook_cells():
    notebook = json.loads(NOTEBOOK)
    notebook["cells"].append(
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": ["<<<<<<< local\n", "a = 1\n", "=======\n", "a = 2\n"]
            + [">>>>>>> remote\n"],
        }
    )
    found = findings(
        "GOV202", {"notebooks/train.ipynb": json.dumps(notebook, indent=1)}
    )
    assert found == ["notebooks/train.ipynb: conflict marker in cell 2"]


def test_gov202_reads_a_notebook_broken_by_markers_as_text():
    broken = NOTEBOOK.replace('"source"', '\n<<<<<<< before updating\n"source"')
    assert findings("GOV202", {"notebooks/train.ipynb": broken}) == [
        "notebooks/train.ipynb:2: conflict marker"
    ]


def test_gov202_passes_a_clean_notebook():
    assert findings("GOV202", {"notebooks/train.ipynb": NOTEBOOK}) == []


def test_gov202_finds_a_file_git_still_holds_as_conflicted(tmp_path):
    """An update without nbdime keeps a conflicted notebook as the user had it,
    without markers: `git add` then dropped the template's changes to it, and
    nothing said so."""
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)

    root = write_files(tmp_path, PROJECT)
    git("init", "-q", "-b", "main")
    git(
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@x",
        "commit",
        "-qm",
        "v1",
        "--allow-empty",
    )
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "project")
    notebook, readme = root / "notebooks" / "train.ipynb", root / "README.md"
    git("checkout", "-qb", "template")
    notebook.write_text(NOTEBOOK.replace("seed", "random_state"))
    readme.write_text("# Churn, the template's\n")
    git("-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qam", "theirs")
    git("checkout", "-q", "main")
    notebook.write_text(NOTEBOOK.replace("seed", "user_seed"))
    readme.write_text("# Churn, the user's\n")
    git("-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qam", "ours")
    merged = subprocess.run(["git", "merge", "template"], cwd=root, capture_output=True)
    assert merged.returncode == 1  # both conflicted
    notebook.write_text(NOTEBOOK.replace("seed", "user_seed"))  # kept as it was
    found = [f"{f.where}: {f.message}" for f in check_rule("GOV202", root)]
    assert found == [
        "README.md:1: conflict marker",
        "README.md:5: conflict marker",
        "notebooks/train.ipynb: git still holds it as conflicted (unmerged), though "
        "it has no conflict marker: the template's changes to it are not in it",
    ]
    git("add", "-A")  # resolved, as far as git knows: the user's decision
    assert "notebooks/train.ipynb" not in str(check_rule("GOV202", root))


def test_file_names_from_git_are_utf8_whatever_the_locale(tmp_path):
    """git prints names in UTF-8; a Windows locale is cp1252, which turns
    ``ü.py`` into ``Ã¼.py`` (dropped from every rule) or fails to decode.
    Here an ASCII locale, without Python's UTF-8 mode, stands in for it."""
    import os
    import subprocess
    import sys

    (tmp_path / "ü.py").write_text("x = 1\n", encoding="utf-8")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "add", "-A"], check=True)
    code = (
        "import datetime as dt, pathlib, sys\n"
        "from governed_mlops.policy.facts import Facts\n"
        "facts = Facts(pathlib.Path(sys.argv[1]), dt.date(2027, 1, 1))\n"
        "import os\n"
        "print([os.fsencode(n) for n in facts.files + sorted(facts.tracked)])\n"
    )
    env = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.stdout == "[b'\\xc3\\xbc.py', b'\\xc3\\xbc.py']\n", done.stderr


@pytest.mark.parametrize(
    ("python", "expected"),
    [
        (
            "3.10",
            "env_specs/stage_train.yaml: python: Python 3.10 does not satisfy the "
            "project's requires-python '>=3.11' (pyproject.toml)",
        ),
        (
            "2.7",
            "env_specs/stage_train.yaml: python: Python 2.7 is not supported: give a "
            'Python 3 minor version such as "3.12"',
        ),
        (
            "3.11.7",
            "env_specs/stage_train.yaml: python: '3.11.7': give a minor version "
            'such as "3.12"',
        ),
    ],
)
def test_a_stage_python_every_stage_command_refuses_fails_gov301(python, expected):
    """The policy check saw only GOV105's warning (which a waiver silences)
    for specs that `stage create` and `stage run` refuse."""
    found = findings(
        "GOV301", edited("env_specs/stage_train.yaml", '"3.11"', f'"{python}"')
    )
    assert any(line.startswith(expected) for line in found), found


@pytest.mark.parametrize("python", ["3.11", "3.13", "/opt/python/bin/python3", "py"])
def test_stage_pythons_the_files_cannot_judge_pass_gov301(python):
    found = findings(
        "GOV301", edited("env_specs/stage_train.yaml", '"3.11"', f'"{python}"')
    )
    assert found == []
