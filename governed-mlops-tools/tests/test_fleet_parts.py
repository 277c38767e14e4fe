"""The fleet's parts without a fleet: sources, facts, classification, state,
descriptions and totals."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path, PureWindowsPath

import pytest

from governed_mlops.errors import CommandError
from governed_mlops.fleet import classify as c
from governed_mlops.fleet.describe import changelog_entries, description
from governed_mlops.fleet.inspect import (
    PolicyResult,
    ProjectFacts,
    RuleCount,
    WaiverFacts,
    read_answers,
    tools_pin,
)
from governed_mlops.fleet.report import terminal, totals, FleetReport
from governed_mlops.fleet.sources import Source, base_name, collect, named
from governed_mlops.policy.versions import is_release
from governed_mlops.fleet.state import RUNNING, Record, State


def work_tree(path: Path) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


def test_sources_from_arguments_file_and_folder(tmp_path):
    a = work_tree(tmp_path / "clones" / "churn")
    b = work_tree(tmp_path / "clones" / "team" / "churn")
    work_tree(tmp_path / "clones" / "churn" / "vendored")  # inside a: not listed
    listing = tmp_path / "fleet.txt"
    listing.write_text(
        "# platform fleet\n\nclones/churn   # relative to the file\n"
        "git@github.example.com:ml/fraud.git\n"
    )
    found = collect(
        ["https://bitbucket.example.com/scm/ml/churn.git"],
        listing,
        tmp_path / "clones",
    )
    assert [(s.name, s.location) for s in found] == [
        ("churn", "https://bitbucket.example.com/scm/ml/churn.git"),
        ("churn-2", str(a.resolve())),
        ("fraud", "git@github.example.com:ml/fraud.git"),
        ("churn-3", str(b.resolve())),
    ]
    assert found[2].is_url and not found[1].is_url


def test_bad_sources_name_the_line_and_what_is_allowed(tmp_path):
    listing = tmp_path / "fleet.txt"
    (tmp_path / "plain").mkdir()
    listing.write_text("# ok\nplain\n")
    with pytest.raises(CommandError, match=r"fleet.txt:2: 'plain' is not a git work"):
        collect([], listing)
    listing.write_text("a b\n")
    with pytest.raises(CommandError, match=r"fleet.txt:1: .* one a line"):
        collect([], listing)
    with pytest.raises(
        CommandError, match="argument 'nowhere': 'nowhere' is no folder"
    ):
        collect(["nowhere"])
    with pytest.raises(CommandError, match="no repositories"):
        collect([])


def test_names_are_unique_and_duplicates_dropped():
    found = named(["/a/x", "/b/x.git", "/a/x"])
    assert [s.name for s in found] == ["x", "x-2"]


@pytest.mark.parametrize(
    "location",
    [
        r"C:\repos\churn",
        "C:\\repos\\churn\\",
        r"\\fileserver\ml\churn.git",
        "git@github.com:org/churn.git",
        "https://git.example.org/org/churn/",
    ],
)
def test_a_name_is_one_folder_in_the_work_folder_whatever_the_platform(location):
    """A Windows path named the project \\repos\\churn: joined to the work
    folder that is the source itself, which the clone step deletes."""
    assert base_name(location) == "churn"
    work = PureWindowsPath("D:/fleet-work")
    assert (work / base_name(location)).parent == work
    assert base_name("/srv/..") == "project" and base_name("C:\\") == "project"


def test_names_are_folders_windows_keeps_as_named():
    """Windows drops a name's trailing dots and spaces (churn. is churn) and
    keeps aux, nul, com1... for devices."""
    assert base_name("https://git.example.org/b/churn..git") == "churn"
    assert base_name("/srv/churn. ") == "churn"
    found = named(["/a/churn", "https://git.example.org/b/churn..git"])
    assert [s.name for s in found] == ["churn", "churn-2"]
    assert base_name("git@host:org/aux.git") == "aux-project"
    assert base_name("/srv/NUL.txt") == "NUL.txt-project"
    assert base_name("/srv/auxiliary") == "auxiliary"


def test_names_differ_in_more_than_case():
    """Churn and churn are one folder on Windows' and macOS' file systems."""
    found = named([r"C:\a\Churn", r"D:\b\churn"], {"CHURN": "E:\\churn"})
    assert [s.name for s in found] == ["Churn-2", "churn-3"]
    # A name that is a path, recorded by an earlier version, is not reused.
    assert named([r"C:\a\churn"], {r"\a\churn": r"C:\a\churn"}) == [
        Source("churn", r"C:\a\churn")
    ]


@pytest.mark.parametrize(
    "commit, release",
    [
        ("1.2.0", True),
        ("v1.2.0", True),
        ("1.3.0rc1", True),
        ("1.2.0-3-gabc1234", False),
        ("095041896b094a5aad8dc2cb4e0d22808c3289e8", False),
        ("", False),
    ],
)
def test_release_detection(commit, release):
    assert is_release(commit) is release


def test_tools_pin_from_either_form():
    index = {
        "dependency-groups": {"pipeline": ["governed-mlops-tools[pipeline]==1.2.0"]}
    }
    git_pin = {
        "dependency-groups": {
            "dev": [{"include-group": "pipeline"}, "black>=24"],
            "pipeline": [
                "governed-mlops-tools[pipeline] @ git+https://git.example.com/gm.git"
                "@1.3.0#subdirectory=governed-mlops-tools"
            ],
        }
    }
    assert tools_pin(index) == "1.2.0"
    assert tools_pin(git_pin) == "1.3.0"
    assert (
        tools_pin({"dependency-groups": {"dev": ["governed-mlops-toolsx==1"]}}) is None
    )
    assert tools_pin({}) is None


def test_answers_of_another_template_are_not_governed(tmp_path):
    (tmp_path / ".copier-answers.yml").write_text("_commit: 2.0.0\nproject_name: x\n")
    assert read_answers(tmp_path) == (
        None,
        ".copier-answers.yml has not this " "template's questions",
    )


@pytest.mark.parametrize(
    "evidence, outcome",
    [
        (c.Evidence(copier_ok=False, conflicts=["a"]), c.MIGRATION_FAILED),
        (c.Evidence(copier_ok=True, conflicts=["a"], tests_ok=False), c.CONFLICTS),
        (
            c.Evidence(copier_ok=True, tests_ok=False, policy_errors=["GOV001"]),
            c.TESTS_FAILED,
        ),
        (c.Evidence(copier_ok=True, policy_errors=["GOV001"]), c.POLICY_FAILED),
        (c.Evidence(copier_ok=True, tests_ok=None), c.CLEAN),
    ],
)
def test_classification_order(evidence, outcome):
    assert c.classify(evidence) == outcome


def test_conflicts_are_the_union_of_three_signals():
    unmerged = "100644 aaa 1\tpyproject.toml\n100644 bbb 2\tpyproject.toml\n"
    assert c.conflicted_files(unmerged, ["README.md.rej"], ["notebooks/a.ipynb"]) == [
        "README.md.rej",
        "notebooks/a.ipynb",
        "pyproject.toml",
    ]


def test_state_resumes_and_retries(tmp_path):
    sources = [Source(n, f"/p/{n}") for n in ("clean", "broken", "cut", "new")]
    state = State(tmp_path, "1.4.0")
    state.save(Record("clean", "/p/clean", c.CLEAN))
    state.save(Record("broken", "/p/broken", c.TESTS_FAILED))
    state.save(Record("cut", "/p/cut", RUNNING))  # interrupted
    again = State(tmp_path, "1.4.0")
    assert [s.name for s in again.to_do(sources, retry=False)] == ["cut", "new"]
    assert [s.name for s in again.to_do(sources, retry=True)] == [
        "broken",
        "cut",
        "new",
    ]
    with pytest.raises(CommandError, match="state of the update to 1.4.0, not 1.5.0"):
        State(tmp_path, "1.5.0")


def test_description_names_versions_changes_and_policy():
    changelog = (
        "# Changelog\n\n## 1.4.0\n\nRenames.\n\n## 1.3.0\n\nAudit.\n\n"
        "## 1.2.0\n\nOld.\n"
    )
    entries = changelog_entries(changelog, "1.2.0", "1.4.0")
    assert entries == ["## 1.4.0\n\nRenames.", "## 1.3.0\n\nAudit."]
    text = description(
        "churn",
        "1.2.0",
        "1.4.0",
        entries,
        (["GOV106"], []),
        ([], ["GOV404"]),
        ("1.3.0", "1.4.0"),
    )
    assert text.startswith("Update to governed-mlops 1.4.0\n")
    assert "**1.2.0** to **1.4.0**" in text and "### 1.3.0\n\nAudit." in text
    # The project at 1.2.0 was checked by the tools running the update.
    assert "| before (1.2.0) | 1.3.0 | errors: GOV106 |" in text
    assert "| after (1.4.0) | 1.4.0 | warnings: GOV404 |" in text


@pytest.mark.parametrize(
    "output",
    [
        "error: Failed to fetch: `http://127.0.0.1:9/simple/x/`\n"
        "  Caused by: error sending request for url (http://127.0.0.1:9/simple/x/)\n"
        "  Caused by: tcp connect error: Connection refused (os error 111)",
        "  hint: An index URL (http://127.0.0.1:9/simple/) could not be queried "
        "due to a lack of valid authentication credentials (401 Unauthorized).",
        "  Caused by: HTTP status client error (403 Forbidden) for url (...)",
        "  Caused by: dns error: failed to lookup address information",
    ],
)
def test_an_index_refusing_or_away_is_an_access_problem(output):
    assert (
        c.access_problem("Resolving...\n" + output) == output.splitlines()[-1].strip()
    )


def test_a_project_that_cannot_resolve_is_no_access_problem():
    unsolvable = (
        "  x No solution found when resolving dependencies:\n"
        "  `-> Because churn depends on pandas>=9 and only pandas<=2.3 is "
        "available, we can conclude that your requirements are unsatisfiable."
    )
    assert c.access_problem(unsolvable) is None


def test_totals_count_versions_rules_and_expiring_waivers():
    today = dt.date(2027, 1, 1)

    def project(name, version, rules, waivers=()):
        policy = PolicyResult("1.3.0", failed=[RuleCount(r, "error", 1) for r in rules])
        return ProjectFacts(
            name, name, True, version=version, policy=policy, waivers=list(waivers)
        )

    projects = [
        project(
            "a",
            "1.2.0",
            ["GOV106", "GOV001"],
            [WaiverFacts("GOV105", "why", dt.date(2027, 1, 11))],
        ),
        project(
            "b",
            "1.2.0",
            ["GOV106"],
            [WaiverFacts("GOV404", "why", dt.date(2027, 3, 1))],
        ),
        project("c", "1.10.0", []),
        ProjectFacts("d", "d", False, why_not="no .copier-answers.yml"),
    ]
    sums = totals(projects, today)
    assert list(sums.versions.items()) == [
        ("1.10.0", 1),
        ("1.2.0", 2),
        ("not governed", 1),
    ]
    assert sums.rules == [("GOV106", 2), ("GOV001", 1)]
    assert [(w.project, w.rule, w.days_left) for w in sums.expiring] == [
        ("a", "GOV105", 10)
    ]
    text = terminal(FleetReport(today, "1.3.0", projects))
    assert "checked by governed-mlops policy 1.3.0" in text
    assert "waiver expiring in 10 days: a GOV105 on 2027-01-11" in text
    assert "source" not in text.splitlines()[2]  # every name is its folder's

    twins = [
        ProjectFacts("x", "/a/x", True, version="1.2.0"),
        ProjectFacts("x-2", "/b/x", False, why_not="no .copier-answers.yml"),
    ]
    rows = terminal(FleetReport(today, "1.3.0", twins)).splitlines()[2:5]
    assert rows[0].split()[-1] == "source"
    assert rows[1].startswith("x ") and rows[1].endswith("/a/x")
    assert rows[2].startswith("x-2 ") and rows[2].endswith("/b/x")


def test_a_fleet_check_writes_nothing_and_scans_shared_files_once(
    tmp_path, monkeypatch
):
    from governed_mlops.policy import check, secret_scan

    scanned: list[str] = []
    real = secret_scan._detect_secrets

    def spy(root, names):
        scanned.extend(names)
        return real(root, names)

    monkeypatch.setattr(secret_scan, "_detect_secrets", spy)
    monkeypatch.setattr(secret_scan, "_MEMO", {})
    projects = []
    for name in ("a", "b"):
        project = tmp_path / name
        (project / ".mlops").mkdir(parents=True)  # where the cache would go
        (project / "pyproject.toml").write_text('[project]\nname = "x"\n')
        (project / "settings.py").write_text('TOKEN = "ghp_' + "a1" * 18 + '"\n')
        projects.append(project)
    found = [
        [
            f.where
            for o in check(p, write_cache=False).outcomes
            for f in o.findings
            if o.rule.id == "GOV201"
        ]
        for p in projects
    ]
    assert found == [["settings.py:1"], ["settings.py:1"]]
    assert sorted(scanned) == ["pyproject.toml", "settings.py"]  # once, not twice
    assert [list((p / ".mlops").iterdir()) for p in projects] == [[], []]


def test_a_url_is_cloned_shallow_into_the_work_folder(tmp_path):
    from governed_mlops.fleet.report import gather, to_data

    repo = work_tree(tmp_path / "other")
    (repo / "pyproject.toml").write_text('[project]\nname = "other"\n')
    env = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), *env, "commit", "-qm", "x"], check=True)
    sources = collect([repo.as_uri()])
    report = gather(sources, tmp_path / "work", jobs=2)
    assert (tmp_path / "work" / "other" / "pyproject.toml").is_file()
    data = to_data(report)
    assert data["projects"][0]["why_not"] == "no .copier-answers.yml"
    assert data["totals"]["versions"] == {"not governed": 1}


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    from governed_mlops.cli import main

    assert main(["fleet", "report", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is no folder; give a git work tree" in err
    assert main(["fleet", "update", "--to", "latest", str(tmp_path)]) == 2
    assert "--to 'latest': give a release" in capsys.readouterr().err


def test_a_campaign_locks_online_once_then_offline_first():
    import threading

    from governed_mlops.fleet.update import Locker

    calls: list[list[str]] = []
    offline_fails = threading.Event()

    def uv(cmd: list[str]) -> subprocess.CompletedProcess[str]:
        calls.append(cmd[1:])
        failed = "--offline" in cmd and offline_fails.is_set()
        return subprocess.CompletedProcess(cmd, 1 if failed else 0, "", "")

    locker = Locker("uv")
    assert locker.lock(uv)[1] == "online"
    assert locker.lock(uv)[1] == "offline"
    offline_fails.set()  # a package the cache lacks: to the index after all
    done, how = locker.lock(uv)
    assert (done.returncode, how) == (0, "online")
    assert calls == [
        ["lock", "--quiet"],
        ["lock", "--quiet", "--offline"],
        ["lock", "--quiet", "--offline"],
        ["lock", "--quiet"],
    ]


def test_offline_locks_wait_for_the_campaigns_first():
    import threading

    from governed_mlops.fleet.update import Locker

    first_running, release = threading.Event(), threading.Event()
    order: list[str] = []

    def uv(cmd: list[str]) -> subprocess.CompletedProcess[str]:
        if "--offline" not in cmd:
            first_running.set()
            release.wait(5)
        order.append("offline" if "--offline" in cmd else "online")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    locker = Locker("uv")
    first = threading.Thread(target=locker.lock, args=(uv,))
    first.start()
    first_running.wait(5)
    second = threading.Thread(target=locker.lock, args=(uv,))
    second.start()
    second.join(0.2)
    assert second.is_alive()  # waiting for the pages the first one refreshes
    release.set()
    first.join(5)
    second.join(5)
    assert order == ["online", "offline"]


def test_names_stay_with_their_locations_across_runs():
    assert named(["/a/x"]) == [Source("x", "/a/x")]
    # A second project of the same folder name, given first, gets the new name.
    assert named(["/b/x", "/a/x"], {"x": "/a/x"}) == [
        Source("x-2", "/b/x"),
        Source("x", "/a/x"),
    ]
    # A recorded name stays reserved when its project is not in this run.
    assert named(["/c/x"], {"x": "/a/x", "x-2": "/b/x"}) == [Source("x-3", "/c/x")]


def _commit(repo: Path, *tags: str) -> None:
    env = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), *env, "commit", "-qm", "x"], check=True)
    for tag in tags:
        subprocess.run(["git", "-C", str(repo), "tag", tag], check=True)


def _governed(path: Path, src: str, version: str) -> Path:
    """A project of this template (its answers only) at ``version``."""
    repo = work_tree(path)
    answers = {q: path.name for q in ("project_name", "project_slug", "package_name")}
    answers.update(ci_provider="github", _commit=version, _src_path=src)
    (repo / ".copier-answers.yml").write_text(
        "".join(f"{k}: {v}\n" for k, v in answers.items())
    )
    _commit(repo)
    return repo


def test_an_update_that_cannot_be_made_is_refused_before_its_branch(tmp_path, capsys):
    from governed_mlops.cli import main

    template = work_tree(tmp_path / "template")
    (template / "copier.yml").write_text("_min_copier_version: '9.15'\n")
    _commit(template, "1.0.0", "1.1.0")
    relative = _governed(tmp_path / "a" / "proj", "template", "0.9.0")
    newer = _governed(tmp_path / "newer", str(template), "1.1.0")
    work = tmp_path / "work"

    def update(version: str, *projects: Path) -> dict[str, dict]:
        args = ["fleet", "update", "--to", version, "--no-tests", "--format", "json"]
        assert main([*args, "--workdir", str(work / version), *map(str, projects)]) == 1
        out = json.loads(capsys.readouterr().out)
        return {r["name"]: r for r in out["projects"]}

    found = update("1.0.0", relative, newer)
    assert {n: r["outcome"] for n, r in found.items()} == {
        "proj": "error",
        "newer": "error",
    }
    assert found["proj"]["evidence"]["error"].startswith(
        ".copier-answers.yml: _src_path 'template' is a relative path"
    )
    assert found["newer"]["evidence"]["error"] == (
        "the project is at 1.1.0, newer than 1.0.0: a fleet update never goes "
        "back; give --to 1.1.0 or later"
    )
    missing = update("9.9.9", newer)["newer"]["evidence"]["error"]
    assert missing.startswith(f"the template at {template} has no release 9.9.9")
    for clone in (work / "1.0.0" / "proj", work / "1.0.0" / "newer"):
        branches = subprocess.run(
            ["git", "-C", str(clone), "branch", "--list"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "governed-mlops/update" not in branches

    # Another project named proj joins the campaign, listed first: the first
    # keeps its name, clone and record; the table shows where each is.
    other = _governed(tmp_path / "b" / "proj", "template", "0.9.0")
    args = ["fleet", "update", "--to", "1.0.0", "--no-tests", "--retry"]
    assert main([*args, "--workdir", str(work / "1.0.0"), str(other), str(relative)])
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["project", "from", "outcome", "source", "evidence"]
    assert table[1].split()[:4] == ["proj-2", "0.9.0", "error", str(other)]
    assert table[2].split()[:4] == ["proj", "0.9.0", "error", str(relative)]


def test_a_machine_without_git_is_told_so_not_that_the_release_is_missing(
    tmp_path, monkeypatch
):
    from governed_mlops import gitcmd
    from governed_mlops.fleet.update import Templates, _cannot_update

    monkeypatch.setattr(gitcmd.shutil, "which", lambda name: None)
    answers = {"_src_path": str(tmp_path / "template"), "_commit": "1.0.0"}
    with pytest.raises(gitcmd.GitMissing, match="git is not installed"):
        _cannot_update(answers, "1.0.0", "1.1.0", Templates(tmp_path, "1.1.0"))


@pytest.mark.parametrize(
    ("jobs", "windows", "workers"),
    [(0, False, 1), (8, False, 8), (100, False, 100), (8, True, 8), (100, True, 61)],
)
def test_jobs_beyond_what_windows_allows_share_its_workers(jobs, windows, workers):
    """--jobs 100 on Windows: ProcessPoolExecutor raises ValueError over 61."""
    from governed_mlops.fleet.copier_worker import workers as count

    assert count(jobs, windows) == workers
