"""The policy checker on a generated project: each rule catches its violation.

One project is generated (and `uv lock`ed) per module; each test plants a
violation in its own copy and checks it with the real checker, in process.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from sarif_pydantic import Sarif

from conftest import REPO, TOOLS, TOOLS_VERSION, UV, copy_project, git, run

from governed_mlops.policy import POLICY_VERSION, check
from governed_mlops.policy.engine import FAILED, SKIPPED, WAIVED
from governed_mlops.policy.model import RULES, all_rules

TODAY = dt.date(2026, 11, 23)


@pytest.fixture(scope="module")
def generated(template_dir, tmp_path_factory) -> Path:
    project = copy_project(template_dir, tmp_path_factory.mktemp("policy") / "p")
    run([UV, "lock", "--quiet"], cwd=project)
    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", "generated", cwd=project)
    return project


@pytest.fixture
def project(generated, tmp_path) -> Path:
    return Path(shutil.copytree(generated, tmp_path / "p", symlinks=True))


def failures(project: Path, today: dt.date = TODAY) -> dict[str, list[str]]:
    """Failed rules: id -> '<where>: <message>' of each finding."""
    report = check(project, today=today)
    return {
        o.rule.id: [f"{f.where}: {f.message}" for f in o.findings]
        for o in report.outcomes
        if o.status == FAILED
    }


def edit(project: Path, name: str, old: str, new: str) -> None:
    path = project / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def write(project: Path, name: str, text: str) -> None:
    path = project / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def notebook_with_output(project: Path) -> None:
    path = project / "notebooks" / "02-feature-eng.ipynb"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["cells"][2]["execution_count"] = 1
    path.write_text(json.dumps(data), encoding="utf-8")


def template_source(project: Path, source: str) -> None:
    path = project / ".copier-answers.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"(?m)^_src_path: .*$", f"_src_path: {source}", text))


def untag_parameters(project: Path) -> None:
    path = project / "notebooks" / "03-train.ipynb"
    data = json.loads(path.read_text(encoding="utf-8"))
    for cell in data["cells"]:
        cell.get("metadata", {}).pop("tags", None)
    path.write_text(json.dumps(data), encoding="utf-8")


WAIVER = "\n[[tool.governance.waivers]]\nrule = '{rule}'\nreason = '{reason}'\n"
# Split so that no scanner takes this file for a key or a password.
PRIVATE_KEY = "-----BEGIN OPENSSH " + "PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n"
# pragma: allowlist nextline secret
PASSWORD_URL = "https://deploy:" + "hunter2@pypi.example.com/simple/"

# rule id -> (what is planted, plant(project), expected finding text)
PLANTED = {
    "GOV001": (
        "an expired waiver",
        lambda p: (p / "pyproject.toml")
        .open("a")
        .write(
            WAIVER.format(rule="GOV105", reason="train needs 3.12")
            + "expires = 2026-01-31\n"
        ),
        "pyproject.toml: the waiver of GOV105 expired on 2026-01-31",
    ),
    "GOV101": (
        "a deleted MLproject",
        lambda p: (p / "MLproject").unlink(),
        "MLproject: MLproject is missing",
    ),
    "GOV102": (
        "flake8 line length not black's",
        lambda p: edit(p, ".flake8", "max-line-length = 88", "max-line-length = 100"),
        ".flake8: flake8 max-line-length is 100, black's line-length is 88",
    ),
    "GOV103": (
        "check-merge-conflict without --assume-in-merge",
        lambda p: edit(p, ".pre-commit-config.yaml", "args: [--assume-in-merge]", ""),
        "'check-merge-conflict' lacks the argument --assume-in-merge",
    ),
    "GOV104": (
        "a workflow on another Python",
        lambda p: write(
            p,
            ".github/workflows/extra.yml",
            "jobs:\n  a:\n    steps:\n      - with:\n          python-version: '3.9'\n",
        ),
        ".github/workflows/extra.yml:5: CI uses Python 3.9, the project 3.11",
    ),
    "GOV105": (
        "a stage on Python 3.12",
        lambda p: edit(
            p, "env_specs/stage_train.yaml", 'python: "3.11"', 'python: "3.12"'
        ),
        "env_specs/stage_train.yaml:5: stage Python 3.12, project Python 3.11",
    ),
    "GOV106": (
        "no uv.lock",
        lambda p: (p / "uv.lock").unlink(),
        "uv.lock: uv.lock is missing or git-ignored",
    ),
    "GOV107": (
        "a coverage floor of 50",
        lambda p: edit(p, "pyproject.toml", "fail_under = 80", "fail_under = 50"),
        "[tool.coverage.report] fail_under is 50, at least 80 is required",
    ),
    "GOV108": (
        "a Jenkinsfile without the test step",
        lambda p: edit(p, "Jenkinsfile", "mlops 'test'", "echo 'no tests'"),
        "Jenkinsfile: Jenkinsfile does not run the 'test' step",
    ),
    "GOV109": (
        "bandit not reading its settings",
        lambda p: edit(p, ".pre-commit-config.yaml", "args: [-c, pyproject.toml]", ""),
        "the bandit hook does not read pyproject.toml",
    ),
    "GOV110": (
        "a copy of the tools kept in the project",
        lambda p: write(p, "src/governed_mlops/policy/rules.py", "MIN_COVERAGE = 70\n"),
        "src/governed_mlops: a copy of the tools (1 files)",
    ),
    "GOV111": (
        "a Jenkinsfile without the dependency audit",
        lambda p: edit(p, "Jenkinsfile", "mlops 'audit'", "echo 'no audit'"),
        "Jenkinsfile: Jenkinsfile does not run the 'audit' step",
    ),
    "GOV112": (
        "the old tools pin kept by an update's conflict",
        lambda p: edit(p, "pyproject.toml", f"@{TOOLS_VERSION}#", "@1.2.0#"),
        f"pyproject.toml: governed-mlops-tools is pinned at 1.2.0, older than the "
        f"project's policy version {TOOLS_VERSION}",
    ),
    "GOV201": (
        "a password in a URL",
        lambda p: write(p, "src/deploy.py", f"INDEX = '{PASSWORD_URL}'\n"),
        "src/deploy.py:1: looks like a URL with a password",
    ),
    "GOV202": (
        "a conflict marker left by copier update",
        lambda p: edit(p, "README.md", "\n", "\n<<<<<<< before updating\n"),
        "README.md:2: conflict marker",
    ),
    "GOV301": (
        "a misspelt key in a stage spec",
        lambda p: edit(p, "env_specs/stage_eval.yaml", "packages:", "pakages:"),
        "env_specs/stage_eval.yaml: unknown key 'pakages' (did you mean 'packages'?)",
    ),
    "GOV302": (
        "a notebook with a stored output",
        notebook_with_output,
        "notebooks/02-feature-eng.ipynb: stored outputs or execution counts in "
        "cell(s) 3",
    ),
    "GOV401": (
        "a template version older than supported",
        lambda p: edit(
            p, ".copier-answers.yml", f"_commit: {TOOLS_VERSION}", "_commit: 0.9.0"
        ),
        "template version 0.9.0 is older than the oldest supported policy version",
    ),
    "GOV404": (
        "a copy of a commit between releases",
        lambda p: edit(
            p, ".copier-answers.yml", f"_commit: {TOOLS_VERSION}", "_commit: 4f3c2a1"
        ),
        "_commit '4f3c2a1' is not a release: migrations will not run until you",
    ),
    "GOV402": (
        "a relative template source (`copier copy . ../p`)",
        lambda p: template_source(p, "."),
        "_src_path '.' is relative",
    ),
    "GOV403": (
        "a template source on another machine",
        lambda p: template_source(p, "/home/alice/governed-mlops"),
        "_src_path '/home/alice/governed-mlops' is not a folder on this machine",
    ),
}


def test_every_rule_has_a_planted_violation():
    assert set(PLANTED) == {rule.id for rule in all_rules()}


def test_generated_project_passes_every_rule(generated):
    report = check(generated, today=TODAY)
    assert failures(generated) == {}
    assert report.exit_code == 0
    skipped = {o.rule.id for o in report.outcomes if o.status == SKIPPED}
    assert skipped == set()


@pytest.mark.parametrize("rule_id", sorted(PLANTED))
def test_rule_catches_its_violation(project, rule_id):
    _, plant, expected = PLANTED[rule_id]
    plant(project)
    found = failures(project)
    assert rule_id in found, f"{rule_id} missed {PLANTED[rule_id][0]}: {found}"
    assert any(expected in line for line in found[rule_id]), found[rule_id]
    # Each violation is one rule's business (a waiver is not a finding).
    assert set(found) == {rule_id}, found


def test_warning_rules_do_not_fail_the_check(project):
    edit(project, "env_specs/stage_train.yaml", 'python: "3.11"', 'python: "3.12"')
    report = check(project, today=TODAY)
    outcome = next(o for o in report.outcomes if o.rule.id == "GOV105")
    assert (outcome.status, outcome.severity) == (FAILED, "warning")
    assert report.exit_code == 0


def test_grace_period_turns_into_an_error(project):
    (project / "uv.lock").unlink()
    grace_end = RULES["GOV106"].grace_until
    during = check(project, today=grace_end)
    after = check(project, today=grace_end + dt.timedelta(days=1))
    assert during.exit_code == 0 and during.count("warning") == 1
    assert after.exit_code == 1 and after.count("error") == 1


def test_lock_file_must_be_committed_not_only_present(project):
    """GOV106: `uv lock` without `git add uv.lock` is not enough."""
    git("rm", "-q", "--cached", "uv.lock", cwd=project)
    assert (project / "uv.lock").is_file()
    assert failures(project) == {
        "GOV106": ["uv.lock: uv.lock exists but is not committed (git add uv.lock)"]
    }
    git("add", "uv.lock", cwd=project)  # staged counts: the hook runs then
    assert failures(project) == {}


def test_git_ignored_secrets_are_not_findings(project):
    write(project, ".env", "PACKAGE_INDEX_TOKEN=abc\n")
    write(project, "deploy/id_ed25519", PRIVATE_KEY)
    write(project, "src/ok.py", "URL = 'https://__token__:${TOKEN}@pypi.example.com'\n")
    found = failures(project)
    assert found == {
        "GOV201": [
            "deploy/id_ed25519: id_ed25519 files hold secrets "
            "and are never committed"
        ]
    }


def test_rej_files_are_findings(project):
    write(project, "pyproject.toml.rej", "@@ -1 +1 @@\n")
    assert failures(project) == {
        "GOV202": ["pyproject.toml.rej: rejected hunks of an update, not applied"]
    }


def test_stage_notebook_needs_a_parameters_cell(project):
    untag_parameters(project)
    assert failures(project) == {
        "GOV302": [
            "notebooks/03-train.ipynb: stage notebook without a cell tagged "
            "'parameters'"
        ]
    }


def test_ci_rule_does_not_apply_without_ci(project):
    edit(project, ".copier-answers.yml", "ci_provider: jenkins", "ci_provider: none")
    (project / "Jenkinsfile").unlink()
    report = check(project, today=TODAY)
    outcome = next(o for o in report.outcomes if o.rule.id == "GOV108")
    assert outcome.status == SKIPPED
    assert report.exit_code == 0


def test_untagged_template_commit_is_a_warning_not_an_error(project):
    # A copy of a template clone between releases (the template README's
    # copy from a clone of main): GOV401 has no version to judge, and
    # GOV404 warns that migrations wait for a release.
    edit(
        project, ".copier-answers.yml", f"_commit: {TOOLS_VERSION}", "_commit: 4f3c2a1"
    )
    report = check(project, today=TODAY)
    outcome = next(o for o in report.outcomes if o.rule.id == "GOV401")
    assert outcome.status == SKIPPED
    assert outcome.note == "_commit '4f3c2a1' is not a release tag of the template"
    assert set(failures(project)) == {"GOV404"}
    assert report.exit_code == 0


def test_valid_waiver_waives_the_rule(project):
    edit(project, "env_specs/stage_train.yaml", 'python: "3.11"', 'python: "3.12"')
    with (project / "pyproject.toml").open("a") as file:
        file.write(
            WAIVER.format(rule="GOV105", reason="train needs 3.12 (ML team, 2026-11)")
            + "expires = 2027-06-30\n"
        )
    report = check(project, today=TODAY)
    outcome = next(o for o in report.outcomes if o.rule.id == "GOV105")
    assert outcome.status == WAIVED
    assert (
        outcome.note == "waived until 2027-06-30: train needs 3.12 (ML team, 2026-11)"
    )
    assert failures(project) == {}


# Reports and the command line: `mlops policy check`, as the pre-commit hook
# runs it, from the tools' source.
TOOLS_ENV = {"PYTHONPATH": str(TOOLS / "src")}
POLICY_CHECK = [sys.executable, "-m", "governed_mlops", "policy", "check"]


def policy_check(project: Path, *args, check=False):
    return run([*POLICY_CHECK, *args], cwd=project, check=check, env=TOOLS_ENV)


@pytest.fixture
def violating(project) -> Path:
    """An error (GOV202), a warning (GOV105) and a waived rule (GOV302)."""
    edit(project, "README.md", "\n", "\n<<<<<<< before updating\n")
    edit(project, "env_specs/stage_train.yaml", 'python: "3.11"', 'python: "3.12"')
    notebook_with_output(project)
    with (project / "pyproject.toml").open("a") as file:
        file.write(
            WAIVER.format(rule="GOV302", reason="outputs kept for the 2026 audit")
            + "expires = 2099-12-31\n"
        )
    return project


def test_terminal_report_groups_findings_with_fixes(violating):
    result = policy_check(violating)
    assert result.returncode == 1
    out = result.stdout
    assert out.startswith(
        f"governed-mlops policy {POLICY_VERSION}: 1 error(s), 1 warning(s), 1 waived"
    )
    error, warning = out.index("ERROR GOV202"), out.index("WARNING GOV105")
    assert error < warning < out.index("waived GOV302")
    assert "  README.md:2: conflict marker\n  fix: Merge each conflict" in out
    assert "env_specs/stage_train.yaml:5: stage Python 3.12" in out
    assert "waived until 2099-12-31: outputs kept for the 2026 audit" in out


def test_json_report(violating, tmp_path):
    result = policy_check(
        violating, "--format", "json", "--output", tmp_path / "r.json"
    )
    assert result.returncode == 1
    assert "ERROR GOV202" in result.stdout  # the terminal report still shows
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["summary"] == {
        "errors": 1,
        "warnings": 1,
        "waived": 1,
        "passed": len(RULES) - 3,
        "not_applicable": 0,
    }
    assert data["exit_code"] == 1 and data["policy_version"] == POLICY_VERSION
    rules = {rule["id"]: rule for rule in data["rules"]}
    assert rules["GOV202"]["findings"] == [
        {"message": "conflict marker", "path": "README.md", "line": 2}
    ]
    assert rules["GOV202"]["fix"].startswith("Merge each conflict")
    assert rules["GOV105"]["effective_severity"] == "warning"
    assert rules["GOV302"]["status"] == "waived"


def test_junit_report_fails_only_error_rules(violating):
    result = policy_check(violating, "--format", "junit")
    suite = ET.fromstring(result.stdout).find("testsuite")
    assert suite.get("tests") == str(len(RULES))
    assert (suite.get("failures"), suite.get("skipped")) == ("1", "1")
    cases = {case.get("name").split()[0]: case for case in suite}
    failure = cases["GOV202"].find("failure")
    assert failure.get("type") == "GOV202"
    assert "README.md:2: conflict marker" in failure.text
    assert "fix: Merge each conflict" in failure.get("message")
    assert cases["GOV105"].find("failure") is None
    assert "stage Python 3.12" in cases["GOV105"].find("system-out").text
    assert cases["GOV302"].find("skipped") is not None
    assert list(cases["GOV101"]) == []  # passed


def test_sarif_report_for_code_scanning(violating):
    result = policy_check(violating, "--format", "sarif")
    log = Sarif.model_validate_json(result.stdout)
    assert log.version == "2.1.0"
    data = json.loads(result.stdout)
    run_ = data["runs"][0]
    driver = run_["tool"]["driver"]
    assert [r["id"] for r in driver["rules"]] == sorted(RULES)
    results = {r["ruleId"]: r for r in run_["results"]}
    assert set(results) == {"GOV202", "GOV105", "GOV302"}
    conflict = results["GOV202"]
    assert conflict["level"] == "error"
    assert driver["rules"][conflict["ruleIndex"]]["id"] == "GOV202"
    location = conflict["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "README.md"
    assert location["region"] == {"startLine": 2}
    assert results["GOV105"]["level"] == "warning"
    assert results["GOV302"]["suppressions"][0]["kind"] == "external"


def test_exit_zero_and_clean_exit(violating, generated):
    assert policy_check(violating, "--exit-zero").returncode == 0
    clean = policy_check(generated)
    assert clean.returncode == 0, clean.stdout
    assert "0 error(s), 0 warning(s)" in clean.stdout


@pytest.mark.parametrize(
    ("waiver", "message"),
    [
        (
            "rule = 'GOV105'\nexpires = 2027-01-31\n",
            "pyproject.toml: [tool.governance] waivers[0].reason: a waiver of "
            "GOV105 needs a reason",
        ),
        (
            "rule = 'GOV105'\nreason = 'r'\n",
            "waivers[0].expires: a waiver of GOV105 needs an expiry date",
        ),
        (
            "rule = 'GOV999'\nreason = 'r'\nexpires = 2027-01-31\n",
            "waivers[0].rule: 'GOV999' is not a policy rule",
        ),
        (
            "rule = 'GOV105'\nreason = 'r'\nexpires = 'soon'\n",
            "waivers[0].expires: 'soon' is not a date; write YYYY-MM-DD",
        ),
    ],
    ids=["no reason", "no expiry", "unknown rule", "bad date"],
)
def test_bad_waiver_is_refused(project, waiver, message):
    with (project / "pyproject.toml").open("a") as file:
        file.write("\n[[tool.governance.waivers]]\n" + waiver)
    result = policy_check(project)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_not_a_project_is_refused(tmp_path, generated):
    result = run([*POLICY_CHECK, tmp_path], cwd=tmp_path, check=False, env=TOOLS_ENV)
    assert result.returncode == 2
    assert "is not a governed-mlops project" in result.stderr


def test_help_documents_formats_and_exit_codes(generated):
    out = policy_check(generated, "--help", check=True).stdout
    assert "{json,junit,sarif,terminal}" in out
    assert "exit codes: 0 no errors" in out


def test_policy_docs_are_current():
    result = run(
        [sys.executable, "tools/policy_docs.py", "--check"], cwd=REPO, check=False
    )
    assert result.returncode == 0, result.stderr
    text = (REPO / "docs" / "policies.md").read_text()
    for rule in all_rules():
        assert f"### {rule.id}" in text and rule.fix in text


def test_mlops_policy_commands(project, capsys, monkeypatch):
    from governed_mlops.cli import main

    monkeypatch.chdir(project / "src")  # the project is found from a subfolder
    assert main(["policy", "check"]) == 0
    assert f"0 error(s), 0 warning(s), 0 waived, {len(RULES)} passed" in (
        capsys.readouterr().out
    )
    edit(project, "README.md", "\n", "\n>>>>>>> after updating\n")
    assert main(["policy", "check", "--format", "json"]) == 1
    assert json.loads(capsys.readouterr().out)["summary"]["errors"] == 1
    assert main(["policy", "rules"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == sorted(RULES)
    assert listed[0].split()[1:3] == ["E", RULES["GOV001"].since]


def test_versions_agree_with_the_changelog_and_migrations():
    from packaging.version import Version

    from governed_mlops.policy import OLDEST_SUPPORTED, POLICY_VERSION

    changelog = (REPO / "docs" / "changelog.md").read_text()
    versions = re.findall(r"(?m)^## (\S+)$", changelog)
    assert versions[0] == POLICY_VERSION, "newest changelog entry is the policy"
    assert [Version(v) for v in versions] == sorted(map(Version, versions))[::-1]
    assert OLDEST_SUPPORTED in versions
    copier = yaml.safe_load((REPO / "copier.yml").read_text().split("---\n", 1)[1])
    for migration in copier["_migrations"]:
        if "version" in migration:
            assert migration["version"] in versions, migration
            assert Version(migration["version"]) <= Version(POLICY_VERSION)
    for rule in all_rules():
        assert rule.since in versions, rule.id


def imports_pydantic(project: Path) -> bool:
    """Run the check as the hook does; True when it imported pydantic."""
    traced = run(
        [sys.executable, "-X", "importtime", *POLICY_CHECK[1:]],
        cwd=project,
        check=False,
        env=TOOLS_ENV,
    )
    assert traced.returncode in (0, 1), traced.stderr[-2000:]
    return bool(re.search(r"\| +pydantic$", traced.stderr, re.MULTILINE))


def test_valid_stage_specs_are_checked_without_pydantic(project):
    assert failures(project) == {}
    assert not imports_pydantic(project)  # plainly valid: vouched for without it
    edit(project, "env_specs/stage_eval.yaml", "packages:", "pakages:")
    assert imports_pydantic(project)  # the model words the problem
    assert "unknown key 'pakages'" in "".join(failures(project)["GOV301"])
    edit(project, "env_specs/stage_eval.yaml", "pakages:", "packages:")
    assert failures(project) == {}
    (project / "notebooks" / "04-eval.ipynb").unlink()
    assert "notebooks/04-eval.ipynb' does not exist" in "".join(
        failures(project)["GOV301"]
    )


def test_mlops_help_does_not_load_the_checker():
    from governed_mlops.policy import FORMATS
    from governed_mlops.policy.reports import RENDERERS

    assert set(RENDERERS) == set(FORMATS)
    code = "import sys; from governed_mlops.cli import build_parser; build_parser()"
    traced = run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=TOOLS / "src",
    )
    loaded = re.findall(r"\| +(governed_mlops\.policy\.\w+)$", traced.stderr, re.M)
    assert loaded == ["governed_mlops.policy.versions"]
