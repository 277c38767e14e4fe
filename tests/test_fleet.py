"""``mlops fleet report`` and ``mlops fleet update`` over a generated fleet.

One project is copied at each release (1.0.0 to NEXT_VERSION); variants are
clones of these with a team's edits, a planted conflict, a broken test, a
policy violation, an edited training notebook (NEXT_VERSION renames it) and
waivers; one repository is not from the template. The update targets
NEXT_VERSION: once with ``--no-tests`` over the fleet (with a push hook), once
with the tests where they decide the outcome.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import sys
from pathlib import Path

import pytest
import yaml

from conftest import NEXT_VERSION, TOOLS_VERSION, UV, free_port, git, run
from test_update import PACKAGE, commit, copy_at, make_user_changes, replace

VERSIONS = ["1.0.0", "1.1.0", "1.2.0", TOOLS_VERSION, NEXT_VERSION]
BRANCH = f"governed-mlops/update-{NEXT_VERSION}"
TODAY = dt.date.today()


def add_waiver(project: Path, rule: str, expires: dt.date) -> None:
    with (project / "pyproject.toml").open("a", encoding="utf-8") as f:
        f.write(
            f'\n[[tool.governance.waivers]]\nrule = "{rule}"\n'
            f'reason = "decided by the platform team"\nexpires = {expires}\n'
        )


def plant_conflict(project: Path) -> None:
    """NEXT_VERSION changes this line of the training stage's spec."""
    replace(
        project / "env_specs/stage_train.yaml",
        "notebook: notebooks/03-train.ipynb",
        "notebook: notebooks/03-train.ipynb  # ours, reviewed",
    )


def break_a_test(project: Path) -> None:
    (project / "tests/test_broken.py").write_text(
        "def test_broken():\n    assert 1 + 1 == 3, 'our broken test'\n"
    )


def edit_training_notebook(project: Path) -> None:
    notebook = project / "notebooks/03-train.ipynb"
    cells = json.loads(notebook.read_text(encoding="utf-8"))
    cells["cells"][0]["source"].append("\n\nTeam note: we tune on recall.")
    notebook.write_text(json.dumps(cells, indent=1) + "\n", encoding="utf-8")


def add_team_code(project: Path) -> None:
    """A module of the team's and its test: files the template does not have."""
    (project / f"src/{PACKAGE}/features.py").write_text(
        "def ratio(a, b):\n    return a / b if b else 0.0\n"
    )
    (project / "tests/test_features.py").write_text(
        f"from {PACKAGE}.features import ratio\n\n\n"
        "def test_ratio():\n    assert ratio(1, 2) == 0.5\n"
        "    assert ratio(1, 0) == 0.0\n"
    )


# name: (version, edits)
VARIANTS = {
    "edited-1.0.0": ("1.0.0", [make_user_changes]),
    "edited-1.1.0": ("1.1.0", [make_user_changes]),
    "edited-1.2.0": ("1.2.0", [make_user_changes]),
    "code-1.1.0": ("1.1.0", [add_team_code]),
    "code-1.2.0": ("1.2.0", [add_team_code]),
    "conflict-1.2.0": ("1.2.0", [plant_conflict]),
    "conflict-now": (TOOLS_VERSION, [plant_conflict]),
    "broken-test": (TOOLS_VERSION, [break_a_test]),
    "expired-waiver": (
        TOOLS_VERSION,
        [lambda p: add_waiver(p, "GOV105", dt.date(2020, 1, 31))],
    ),
    "waiver-soon": (
        TOOLS_VERSION,
        [lambda p: add_waiver(p, "GOV404", TODAY + dt.timedelta(days=10))],
    ),
    "waiver-later": (
        "1.2.0",
        [lambda p: add_waiver(p, "GOV105", TODAY + dt.timedelta(days=200))],
    ),
    "edited-notebook": (TOOLS_VERSION, [edit_training_notebook]),
    "code-now": (TOOLS_VERSION, [add_team_code]),
    "code-next": (NEXT_VERSION, [add_team_code]),
}


def not_governed(root: Path) -> Path:
    root.mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "other"\nversion = "1"\n')
    git("init", "-q", cwd=root)
    commit(root, "Not from the template")
    return root


def git_state(project: Path) -> tuple[str, ...]:
    return tuple(
        git(*args, cwd=project).stdout
        for args in (
            ("rev-parse", "HEAD"),
            ("symbolic-ref", "HEAD"),
            ("branch", "--list"),
            ("status", "--porcelain", "--ignored"),
        )
    )


@pytest.fixture(scope="module")
def fleet(next_template, tmp_path_factory) -> dict[str, Path]:
    """The fleet's projects by name (each folder named so)."""
    root = tmp_path_factory.mktemp("fleet")
    projects = {}
    for version in VERSIONS:
        base = root / f"at-{version}"
        copy_at(next_template, base, version)
        run([UV, "lock", "--quiet"], cwd=base)  # a team commits it (GOV106)
        commit(base, "Generated")
        projects[base.name] = base
    for name, (version, edits) in VARIANTS.items():
        project = root / name
        git("clone", "-q", root / f"at-{version}", project, cwd=root)
        for edit in edits:
            edit(project)
        commit(project, "Our changes")
        projects[name] = project
    projects["other"] = not_governed(root / "other")
    assert len(projects) >= 20
    return projects


def mlops(*args, cwd: Path, env=None, check=True):
    return run(
        [sys.executable, "-m", "governed_mlops", "fleet", *args],
        cwd=cwd,
        env=env,
        check=check,
        timeout=1200,
    )


@pytest.fixture(scope="module")
def states(fleet) -> dict[str, tuple[str, ...]]:
    return {name: git_state(p) for name, p in fleet.items()}


@pytest.fixture(scope="module")
def report(fleet, states, tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("report")
    listing = work / "fleet.txt"
    listing.write_text(
        "# the fleet\n" + "\n".join(str(p) for p in fleet.values()) + "\n"
    )
    done = mlops("report", "--from-file", listing, "--format", "json", cwd=work)
    page = work / "fleet.html"
    mlops(
        "report", "--from-file", listing, "--format", "html", "--output", page, cwd=work
    )
    return {"data": json.loads(done.stdout), "html": page.read_text()}


def test_report_lists_versions_pins_and_policy(report):
    data = report["data"]
    assert data["checked_by_policy"] == TOOLS_VERSION
    projects = {p["name"]: p for p in data["projects"]}
    assert len(projects) == 20
    for version in VERSIONS:
        at = projects[f"at-{version}"]
        assert at["governed"] and at["version"] == version and at["release"]
    assert projects["at-1.0.0"]["tools_pin"] is None
    assert projects["at-1.0.0"]["tools_copy"] is True
    assert projects["at-1.2.0"]["tools_pin"] == "1.2.0"
    assert projects[f"at-{TOOLS_VERSION}"]["tools_pin"] == TOOLS_VERSION
    # NEXT_VERSION's tools are unreleased (still TOOLS_VERSION): a commit pin.
    assert len(projects[f"at-{NEXT_VERSION}"]["tools_pin"]) == 40
    assert projects["other"] == {**projects["other"], "governed": False}
    assert "no .copier-answers.yml" in projects["other"]["why_not"]
    totals = data["totals"]
    assert totals["versions"]["1.2.0"] == 5 and totals["versions"]["not governed"] == 1
    assert totals["versions"][TOOLS_VERSION] == 7
    rules = {r["rule"]: r["projects"] for r in totals["rules"]}
    assert "GOV106" not in rules  # every project committed its uv.lock
    # The tools copy of the projects before 1.2.0 (GOV110, since 1.2.0).
    assert rules["GOV110"] == 5
    assert rules["GOV001"] == 1
    expired = projects["expired-waiver"]["policy"]
    assert "GOV001" in [r["rule"] for r in expired["failed"]]
    soon = [
        (w["project"], w["rule"], w["days_left"]) for w in totals["expiring_waivers"]
    ]
    assert soon == [
        ("expired-waiver", "GOV105", (dt.date(2020, 1, 31) - TODAY).days),
        ("waiver-soon", "GOV404", 10),
    ]
    assert projects["waiver-later"]["waivers"][0]["rule"] == "GOV105"


def test_report_page_shows_the_same(report):
    page = report["html"]
    assert page.startswith("<!doctype html>") and "<script" not in page
    assert f"checked by governed-mlops policy\n{TOOLS_VERSION}" in page
    assert "waiver-soon" in page and "GOV404" in page
    assert "not governed: no .copier-answers.yml" in page


@pytest.fixture(scope="module")
def hook(tmp_path_factory) -> dict[str, str]:
    """A bare remote and a stand-in ``gh`` that records its arguments."""
    root = tmp_path_factory.mktemp("hook")
    bare = root / "remote.git"
    git("init", "-q", "--bare", bare, cwd=root)
    bin_dir = root / "bin"
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    gh.write_text(
        '#!/bin/sh\necho "$MLOPS_FLEET_PROJECT $*" >> "$GH_LOG"\n'
        'test -s "$4" || exit 3\n'
    )
    gh.chmod(gh.stat().st_mode | stat.S_IEXEC)
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FLEET_REMOTE": str(bare),
        "GH_LOG": str(root / "gh.log"),
    }


HOOK = (
    'git push -q "$FLEET_REMOTE" "HEAD:refs/heads/$MLOPS_FLEET_PROJECT/'
    '$MLOPS_FLEET_BRANCH" && gh pr create --body-file "$MLOPS_FLEET_BODY_FILE" '
    '--title "$MLOPS_FLEET_TITLE" --head "$MLOPS_FLEET_BRANCH"'
)


@pytest.fixture(scope="module")
def campaign(fleet, states, report, hook, tmp_path_factory) -> dict:
    """The update without tests over the fleet, twice (the second resumes),
    and with tests over the projects whose tests decide."""
    work = tmp_path_factory.mktemp("campaign")
    names = [n for n in fleet if n != "broken-test"]
    args = ["update", "--to", NEXT_VERSION, "--no-tests", "--jobs", "2"]
    args += ["--workdir", work / "no-tests", "--hook", HOOK, "--format", "json"]
    first = mlops(*args, *(fleet[n] for n in names), cwd=work, env=hook, check=False)
    second = mlops(*args, *(fleet[n] for n in names), cwd=work, env=hook, check=False)
    tested = mlops(
        "update",
        "--to",
        NEXT_VERSION,
        "--jobs",
        "2",
        "--workdir",
        work / "tests",
        "--format",
        "json",
        fleet["broken-test"],
        fleet["code-now"],
        cwd=work,
        check=False,
    )
    # The package index down: the campaign's access to fix, not the project.
    down = f"http://127.0.0.1:{free_port()}/simple/"
    unreachable = mlops(
        "update",
        "--to",
        NEXT_VERSION,
        "--workdir",
        work / "index-down",
        "--format",
        "json",
        fleet["code-1.2.0"],
        cwd=work,
        env={"UV_DEFAULT_INDEX": down, "UV_INDEX_URL": down},
        check=False,
    )
    return {
        "work": work,
        "first": first,
        "second": second,
        "unreachable": json.loads(unreachable.stdout)["projects"][0],
        "records": {r["name"]: r for r in json.loads(first.stdout)["projects"]},
        "tested": {r["name"]: r for r in json.loads(tested.stdout)["projects"]},
        "gh": Path(hook["GH_LOG"]),
        "remote": Path(hook["FLEET_REMOTE"]),
    }


EXPECTED = {
    **{f"at-{v}": "updated clean" for v in VERSIONS[:-1]},
    f"at-{NEXT_VERSION}": "up to date",
    "edited-1.0.0": "updated clean",
    "edited-1.1.0": "updated clean",
    "edited-1.2.0": "updated clean",
    "code-1.1.0": "updated clean",
    "code-1.2.0": "updated clean",
    "conflict-1.2.0": "conflicts",
    "conflict-now": "conflicts",
    "expired-waiver": "policy failed",
    "waiver-soon": "updated clean",
    "waiver-later": "updated clean",
    "code-now": "updated clean",
    "code-next": "up to date",
    "other": "not governed",
}


def test_update_classifies_every_project(campaign):
    found = {name: r["outcome"] for name, r in campaign["records"].items()}
    assert {n: found[n] for n in EXPECTED} == EXPECTED
    assert campaign["first"].returncode == 1  # conflicts need a human


def test_update_gives_the_evidence(campaign):
    records = campaign["records"]
    for name in ("conflict-1.2.0", "conflict-now"):
        assert records[name]["evidence"]["files"] == ["env_specs/stage_train.yaml"]
    assert records["expired-waiver"]["evidence"]["rules"] == ["GOV001"]
    after = records["expired-waiver"]["evidence"]["policy_after"]
    # The target's own checker (NEXT_VERSION's tools are still TOOLS_VERSION).
    assert after["checked_by"] == TOOLS_VERSION
    assert records["other"]["evidence"]["why"] == "no .copier-answers.yml"
    # The campaign's first lock reads the index; the others resolve offline.
    locks = [r["evidence"]["lock"] for r in records.values() if "lock" in r["evidence"]]
    assert len(locks) > 2 and locks.count("online") == 1


def test_clean_update_is_committed_with_its_description(campaign):
    work = campaign["work"] / "no-tests"
    clone = work / "edited-1.1.0"
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=clone).stdout.strip() == BRANCH
    assert git("status", "--porcelain", cwd=clone).stdout == ""
    answers = yaml.safe_load((clone / ".copier-answers.yml").read_text())
    assert answers["_commit"] == NEXT_VERSION
    assert "Field(90, ge=1)" in (clone / f"src/{PACKAGE}/config.py").read_text()
    assert (clone / "uv.lock").is_file()
    text = (work / "edited-1.1.0.pr.md").read_text()
    assert f"from governed-mlops **1.1.0** to **{NEXT_VERSION}**" in text
    for version in ("1.2.0", TOOLS_VERSION):
        assert f"### {version}" in text
    assert "### 1.1.0" not in text
    # Before: the tools copy (GOV110) and rules newer than 1.1.0.
    assert (
        f"| before (1.1.0) | {TOOLS_VERSION} | errors: GOV103, GOV110, GOV111" in text
    )
    assert f"| after ({NEXT_VERSION}) | {TOOLS_VERSION} | no failed rule |" in text


def test_hook_pushes_clean_branches_and_opens_requests(campaign):
    clean = sorted(
        n for n, r in campaign["records"].items() if r["outcome"] == "updated clean"
    )
    pushed = git("branch", "--list", cwd=campaign["remote"]).stdout.split()
    assert sorted(pushed) == sorted(f"{n}/{BRANCH}" for n in clean)
    calls = campaign["gh"].read_text().splitlines()
    assert sorted(c.split()[0] for c in calls) == clean
    assert all(f"--head {BRANCH}" in c for c in calls)


def test_second_run_resumes(campaign):
    second = campaign["second"]
    assert f"{len(campaign['records'])} project(s) already classified" in second.stderr
    assert "[1/" not in second.stderr
    again = {r["name"]: r for r in json.loads(second.stdout)["projects"]}
    assert again == campaign["records"]


def test_tests_decide_where_they_fail(campaign):
    tested = campaign["tested"]
    assert tested["broken-test"]["outcome"] == "tests failed"
    assert "our broken test" in tested["broken-test"]["evidence"]["output"]
    assert tested["code-now"]["outcome"] == "updated clean"


def test_an_index_that_cannot_be_reached_is_an_error_to_retry(campaign):
    """docs/fleet.md: `tests failed` hands the update to the project's team;
    an index down or refusing the token is for the campaign to fix."""
    record = campaign["unreachable"]
    assert record["outcome"] == "error"
    error = record["evidence"]["error"]
    assert error.startswith("uv lock could not use the package index: ")
    assert "Connection refused" in error and error.endswith(", then --retry")


def test_projects_are_left_as_they_were(fleet, states, campaign):
    assert {name: git_state(p) for name, p in fleet.items()} == states


def test_edited_renamed_notebook_survives_under_its_new_name(campaign):
    record = campaign["records"]["edited-notebook"]
    assert record["outcome"] == "updated clean"
    clone = campaign["work"] / "no-tests" / "edited-notebook"
    text = (clone / "notebooks/03-training.ipynb").read_text()
    assert "Team note: we tune on recall." in text
