"""Projects install the pinned tools from where their answers say: the
organisation's package index (a real one on 127.0.0.1 here) or this
template's git repository at the release; the wheelhouse is tested with the
stage envs (test_stage_envs). Two projects share one environment."""

from __future__ import annotations

import sys
import tempfile
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import (
    TOOLS_VERSION,
    UV,
    git,
    install_project,
    python_for,
    run,
)


def locked_tools(project: Path) -> dict:
    lock = tomllib.loads((project / "uv.lock").read_text(encoding="utf-8"))
    (tools,) = [p for p in lock["package"] if p["name"] == "governed-mlops-tools"]
    return tools


def served(index, name: str) -> bool:
    """Whether the index served a file whose name contains ``name``."""
    log = (index.packages.parent / "access.log").read_text(encoding="utf-8")
    return any(f"/{name}" in line and '" 200 ' in line for line in log.splitlines())


@pytest.mark.slow
def test_index_source_with_uv(render, package_index):
    project = render(package_index_url=package_index.url)
    python = install_project(project, "3.11")
    tools = locked_tools(project)
    assert tools["version"] == TOOLS_VERSION
    assert tools["source"] == {"registry": package_index.url}
    assert served(package_index, f"governed_mlops_tools-{TOOLS_VERSION}")
    mlops = python.parent / "mlops"
    assert run([mlops, "--version"], cwd=project).stdout.strip() == (
        f"mlops {TOOLS_VERSION}"
    )
    tests = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project)
    assert "passed" in tests.stdout


@pytest.mark.slow
def test_index_source_with_poetry(render, package_index):
    """Poetry 2 reads the [[tool.poetry.source]] the template writes."""
    project = render(package_index_url=package_index.url)
    poetry = [UV, "tool", "run", "--from", "poetry>=2,<3", "poetry", "--no-interaction"]
    env = {"POETRY_VIRTUALENVS_IN_PROJECT": "true", "POETRY_NO_INTERACTION": "1"}
    # Poetry caches an index's metadata by the source's name ("private"): an
    # earlier run's index served another build of the same version.
    run([*poetry, "cache", "clear", "private", "--all"], cwd=project, env=env)
    run([*poetry, "install", "--with", "dev"], cwd=project, env=env)
    mlops = project / ".venv" / "bin" / "mlops"
    assert run([mlops, "--version"], cwd=project).stdout.strip() == (
        f"mlops {TOOLS_VERSION}"
    )
    assert "poetry.lock" in {p.name for p in project.iterdir()}
    lock = tomllib.loads((project / "poetry.lock").read_text(encoding="utf-8"))
    (tools,) = [p for p in lock["package"] if p["name"] == "governed-mlops-tools"]
    assert tools["source"]["url"].rstrip("/") == package_index.url.rstrip("/")


@pytest.mark.slow
def test_index_source_for_the_governance_hook_with_pip(render, package_index, tmp_path):
    """pre-commit installs the hook's pin with pip, from the index pip is told
    about (PIP_INDEX_URL, as the organisation configures pip)."""
    project = render(package_index_url=package_index.url)
    hooks = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    (governance,) = [
        h for r in hooks["repos"] for h in r["hooks"] if h["id"] == "governance"
    ]
    assert governance["additional_dependencies"] == [
        f"governed-mlops-tools=={TOOLS_VERSION}"
    ]
    git("add", "-A", cwd=project)
    env = {
        "PIP_INDEX_URL": package_index.url,
        "PIP_CONFIG_FILE": "/dev/null",
        # Its own hook home: the shared one may hold an env of another build.
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit"),
    }
    result = run(
        [sys.executable, "-m", "pre_commit", "run", "governance", "--all-files"],
        cwd=project,
        env=env,
        check=False,
    )
    assert "governance policy check" in result.stdout, result.stdout + result.stderr
    assert served(package_index, f"governed_mlops_tools-{TOOLS_VERSION}")
    # Only uv.lock is missing yet (a warning): the hook passes.
    assert result.returncode == 0, result.stdout


@pytest.mark.slow
def test_git_source_pins_the_release_tag(render, template_dir):
    project = render()
    install_project(project, "3.11")
    tools = locked_tools(project)
    assert tools["version"] == TOOLS_VERSION
    source = tools["source"]["git"]
    assert source.startswith(f"file://{template_dir}?subdirectory=governed-mlops-tools")
    assert f"&rev={TOOLS_VERSION}#" in source  # the release tag, then its commit


@pytest.mark.slow
def test_two_projects_share_one_environment(render, tmp_path):
    """Each project's wheel holds only its own package: both install into one
    venv, and `mlops` (the tools, installed once) serves each in its folder."""
    alpha = render(project_name="Alpha Model")
    beta = render(project_name="Beta Model")
    pin = tomllib.loads((alpha / "pyproject.toml").read_text())["dependency-groups"][
        "pipeline"
    ][0]
    venv = tmp_path / "shared"
    run([UV, "venv", "--quiet", "--python", python_for("3.11"), venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    run(
        [
            UV,
            "pip",
            "install",
            "--quiet",
            "--python",
            python,
            "-e",
            alpha,
            "-e",
            beta,
            pin.replace("[pipeline]", ""),
        ],
        cwd=tmp_path,
    )
    for project, package in ((alpha, "alpha_model"), (beta, "beta_model")):
        info = run([venv / "bin" / "mlops", "info"], cwd=project).stdout
        assert f"package      : {package}" in info
        assert f"project root : {project}" in info
    site = next((venv / "lib").glob("python3.*/site-packages"))
    owners = run(
        [UV, "pip", "show", "--python", python, "--files", "governed-mlops-tools"],
        cwd=tmp_path,
    ).stdout
    assert "governed_mlops/cli/__init__.py" in owners
    assert [p.name for p in site.glob("governed_mlops")] == ["governed_mlops"]
    both = "import alpha_model.config, beta_model.config"
    run([python, "-c", both], cwd=tmp_path)


@pytest.fixture
def private_index(package_index, tmp_path):
    """An index that answers no request without the token."""
    from package_index import serve

    with serve(package_index.packages, tmp_path, "download,list,update") as index:
        yield index


def test_the_index_token_reaches_installers_through_their_environment(
    private_index, tmp_path, monkeypatch
):
    """Never in argv, which any process listing shows: a real lock against an
    index that refuses requests without the token, every command recorded."""
    import subprocess

    from governed_mlops.stages import installers

    seen: list[tuple[str, dict]] = []
    real = subprocess.run

    def recorded(cmd, **kwargs):
        seen.append((" ".join(map(str, cmd)), dict(kwargs.get("env") or {})))
        return real(cmd, **kwargs)

    monkeypatch.setattr(installers.subprocess, "run", recorded)
    uv = installers.UvInstaller(UV)
    requirements = tmp_path / "requirements.in"
    requirements.write_text("governed-mlops-tools\n")
    lock = tmp_path / "lock.txt"
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "cache"))  # ask the index
    index = installers.IndexOptions(
        index_url=private_index.url, token=private_index.token
    )
    uv.lock(requirements, lock, "3.11", None, index, upgrade=False)
    assert f"governed-mlops-tools=={TOOLS_VERSION}" in lock.read_text()
    assert seen and all(private_index.token not in argv for argv, _ in seen)
    assert any(private_index.token in child["UV_DEFAULT_INDEX"] for _, child in seen)
    # Without the token the index refuses: it was needed, and never shown.
    with pytest.raises(installers.InstallError) as refused:
        uv.lock(
            requirements,
            lock,
            "3.11",
            None,
            installers.IndexOptions(index_url=private_index.url),
            upgrade=False,
        )
    assert private_index.token not in str(refused.value)


def test_pip_logs_in_from_a_netrc_never_from_argv(tmp_path, monkeypatch):
    """pip hands its index URLs to the process that installs an sdist's build
    requirements in argv, which `ps` shows to every user: the login goes to
    pip in a netrc file of its own. A real pip, building a real sdist from an
    index that refuses requests without the token; every Python it starts is
    recorded by the venv's python, a script that logs its arguments."""
    from package_index import serve

    from governed_mlops.stages import installers

    source = tmp_path / "spyproj"
    (source / "spyproj").mkdir(parents=True)
    (source / "spyproj" / "__init__.py").write_text("")
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\n'
        'build-backend = "setuptools.build_meta"\n'
        '[project]\nname = "spyproj"\nversion = "1.0"\n'
    )
    packages = tmp_path / "packages"
    run([UV, "build", "--quiet", "--sdist", "--out-dir", packages, source], tmp_path)
    venv = tmp_path / "venv"
    run(
        [UV, "venv", "--quiet", "--seed", "--python", python_for("3.11"), venv],
        tmp_path,
    )
    python = venv / "bin" / "python"
    real = python.resolve()
    python.unlink()
    log = tmp_path / "argv.log"
    python.write_text(f'#!/bin/bash\necho "$*" >> {log}\nexec -a "$0" {real} "$@"\n')
    python.chmod(0o755)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("spyproj\n")
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "pip-cache"))
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    with serve(packages, tmp_path, "download,list,update") as index:
        login = installers.IndexOptions(index_url=index.url, token=index.token)
        installers.PipInstaller().install_inputs(python, requirements, None, login)
    run([python, "-c", "import spyproj"], tmp_path)
    started = log.read_text().splitlines()
    build = [line for line in started if "--prefix" in line and " -i " in line]
    assert build and f"-i {index.url}" in build[0]  # the build's own pip
    assert not [line for line in started if index.token in line]
    assert not list(Path(tempfile.gettempdir()).glob("mlops-netrc-*"))


@pytest.mark.slow
def test_ci_setup_logs_in_to_a_private_index_with_the_ci_secret(
    render, private_index, tmp_path
):
    """`scripts/ci.sh setup` as Jenkins and GitHub run it, the token in the CI
    secret PACKAGE_INDEX_TOKEN: uv logs in to the index with it (the index
    refuses every request without it), and never shows it."""
    import os

    project = render(package_index_url=private_index.url)
    path = os.pathsep.join([str(Path(UV).parent), "/usr/bin", "/bin"])
    env = {"PATH": path, "PYTHON": python_for("3.11"), "UV_PYTHON_DOWNLOADS": "never"}
    refused = run(["sh", "scripts/ci.sh", "setup"], cwd=project, env=env, check=False)
    assert refused.returncode != 0
    assert "401 Unauthorized" in refused.stderr
    done = run(
        ["sh", "scripts/ci.sh", "setup"],
        cwd=project,
        env={**env, "PACKAGE_INDEX_TOKEN": private_index.token},
    )
    assert private_index.token not in done.stdout + done.stderr
    mlops = project / ".venv" / "bin" / "mlops"
    assert run([mlops, "--version"], cwd=project).stdout.strip() == (
        f"mlops {TOOLS_VERSION}"
    )
    log = (tmp_path / "access.log").read_text(encoding="utf-8")  # the fixture's
    assert f"/governed_mlops_tools-{TOOLS_VERSION}" in log


@pytest.mark.slow
def test_index_source_with_pip(render, package_index, tmp_path):
    """README, "Set up", pip row, for a project with a private index: pip
    takes the index from PIP_INDEX_URL, as the README says."""
    project = render(package_index_url=package_index.url)
    assert f"PIP_INDEX_URL={package_index.url}" in (project / "README.md").read_text()
    venv = tmp_path / "venv"
    run([python_for("3.11"), "-m", "venv", venv], cwd=tmp_path)
    pip = [venv / "bin" / "python", "-m", "pip"]
    env = {"PIP_INDEX_URL": package_index.url, "PIP_CONFIG_FILE": "/dev/null"}
    run([*pip, "install", "-q", "--upgrade", "pip>=25.1"], cwd=project, env=env)
    run([*pip, "install", "-q", "-e", ".", "--group", "pipeline"], cwd=project, env=env)
    assert served(package_index, f"governed_mlops_tools-{TOOLS_VERSION}")
    version = run([venv / "bin" / "mlops", "--version"], cwd=project).stdout
    assert version.strip() == f"mlops {TOOLS_VERSION}"
