"""``mlops ci``: the CI steps, defined once for developers, tests and CI systems.

Jenkins, GitHub Actions and ``scripts/ci.sh`` / ``scripts/ci.bat`` only call
``mlops ci <step>``; what a step runs lives in :data:`STEPS`. A step runs with
this interpreter's environment in the project root, streams its output and
exits with the command's exit code.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Sequence

from . import Subparsers
from ..errors import CommandError
from ..project import Project, find_project


@dataclass(frozen=True)
class Step:
    """A CI step: ``python -m <module> <args>``, and what known exit codes mean."""

    help: str
    module: str
    args: tuple[str, ...]
    meaning: dict[int, str] = field(default_factory=dict)

    def command(self, extra: Sequence[str] = ()) -> list[str]:
        return [sys.executable, "-m", self.module, *self.args, *extra]

    def shown(self, extra: Sequence[str] = ()) -> str:
        """The command as a developer would type it, with the extra arguments
        the step was given (the last of a repeated option wins)."""
        tool = {"governed_mlops": "mlops", "pre_commit": "pre-commit"}
        return shlex.join([tool.get(self.module, self.module), *self.args, *extra])


STEPS: dict[str, Step] = {
    "lint": Step(
        "every pre-commit hook on every file",
        "pre_commit",
        ("run", "--all-files", "--show-diff-on-failure"),
    ),
    "test": Step(
        "tests with coverage; JUnit XML and coverage XML in reports/",
        "pytest",
        ("--junitxml=reports/junit.xml", "--cov-report=xml:reports/coverage.xml"),
    ),
    "policy": Step(
        "governance policy check; JUnit XML in reports/ (GitHub: --format sarif)",
        "governed_mlops",
        ("policy", "check", "--format", "junit", "--output", "reports/policy.xml"),
        {1: "the project violates the governance policy: see the report above"},
    ),
    "audit": Step(
        "known vulnerabilities in uv.lock and every stage lock (pip-audit, fails "
        "closed); JUnit XML and SARIF in reports/",
        "governed_mlops",
        (
            "deps",
            "audit",
            "--junit",
            "reports/audit.xml",
            "--sarif",
            "reports/audit.sarif",
        ),
        {
            1: "a locked package has a known vulnerability: upgrade it or waive "
            "it (docs/ci.md, 'Dependency audit')",
        },
    ),
    "sbom": Step(
        "CycloneDX SBOMs of the project env and every stage env in reports/sbom/",
        "governed_mlops",
        ("deps", "sbom", "--output-dir", "reports/sbom"),
    ),
    "build": Step(
        "the project's wheel and sdist in dist/, checked by twine check --strict",
        "governed_mlops",
        ("dist", "build"),
    ),
    "publish": Step(
        "upload dist/ to the organisation's index (on a release tag; setting "
        "PUBLISH_URL, token PUBLISH_TOKEN from the CI's credentials)",
        "governed_mlops",
        ("dist", "publish"),
    ),
    "envs": Step(
        "create or update every stage env and kernel",
        "governed_mlops",
        ("stage", "create", "--all"),
    ),
    "pipeline": Step(
        "run every stage of the pipeline",
        "governed_mlops",
        ("pipeline", "run"),
    ),
    "smoke": Step(
        "run the pipeline on a quarter of the data",
        "governed_mlops",
        ("pipeline", "run", "--smoke", "-p", "data_prep.sample_fraction=0.25"),
    ),
    "report": Step(
        "the pipeline report pages (static HTML) in reports/site/",
        "governed_mlops",
        ("report", "build"),
    ),
    "template-update": Step(
        "fail when a newer version of the project's template exists",
        "copier",
        ("check-update", "--quiet"),
        {
            2: "a newer governed-mlops template version exists: run "
            "`uv run copier update --trust --skip-answered`, resolve conflicts, "
            "commit (README.md, "
            "'Updating to a new policy version')"
        },
    ),
}


# The settings' secrets a step's command needs; every other one (and an
# index's password as uv holds it) is left out of its environment.
SECRETS_NEEDED: dict[str, tuple[str, ...]] = {
    "envs": ("package_index_token",),
    "build": ("package_index_token",),
    "publish": ("publish_token",),
    "pipeline": ("mlflow_tracking_password",),
    "smoke": ("mlflow_tracking_password",),
    "report": ("mlflow_tracking_password",),
}


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "ci",
        help="run a CI step (the same steps in Jenkins, GitHub Actions and locally)",
        description="Run one CI step in the project root. With no step or "
        "--list, print the steps and the commands they run.",
    )
    parser.add_argument(
        "step", nargs="?", choices=sorted(STEPS), metavar="STEP", help="step to run"
    )
    parser.add_argument(
        "extra",
        nargs=argparse.REMAINDER,
        metavar="ARGS",
        help="more arguments for the step's command",
    )
    parser.add_argument("--list", action="store_true", help="print the steps")
    parser.set_defaults(handler=run, terminable=True)


def run(args: argparse.Namespace) -> int:
    if args.list or args.step is None:
        width = max(map(len, STEPS))
        for name, step in STEPS.items():
            print(f"{name:<{width}}  {step.shown()}")
            print(f"{'':<{width}}  ({step.help})")
        return 0
    return run_step(args.step, list(args.extra))


def run_step(name: str, extra: list[str]) -> int:
    """Run step ``name`` in the project root; returns its exit code."""
    import importlib.util

    step = STEPS[name]
    if importlib.util.find_spec(step.module) is None:
        raise CommandError(
            f"step {name}: Python module {step.module} is not installed in "
            f"{sys.prefix}: run `uv sync` (its dev group has the CI tools)"
        )
    project = find_project()
    settings = _settings(project)
    if name == "lint" and project.index_url:
        installed = _install_hooks(project, settings)
        if installed != 0:
            failed = CommandError(
                f"step lint: pre-commit could not install the hooks from "
                f"{project.index_url} (exit {installed}): if pip found no "
                f"version of a package, the index refused the login or lacks "
                f"it; check the CI secret PACKAGE_INDEX_TOKEN (Jenkins: "
                f"INDEX_CREDENTIALS_ID) and that the index proxies PyPI"
            )
            failed.exit_code = installed
            raise failed
    env = _step_env(project, settings, name)
    print(f"mlops ci {name}: {step.shown(extra)}", file=sys.stderr, flush=True)
    code = _run_to_its_end(step.command(extra), project.root, env)
    if code in step.meaning:
        message = f"step {name}: {step.meaning[code]}"
        if os.environ.get("GITHUB_ACTIONS") == "true":
            print(f"::error title=mlops ci {name}::{message}", flush=True)
        explained = CommandError(message)
        explained.exit_code = code  # the step's own code: 1 and 2 differ
        raise explained
    return code


def _run_to_its_end(command: list[str], cwd: Path, env: dict[str, str]) -> int:
    """Run a step's command; interrupted, let it end what it records. Ctrl-C
    reached it with us (the terminal's group, or the console on Windows);
    SIGTERM may not have (`kill` of this process alone), so it is passed on,
    except on Windows, where that would end the command unasked
    (TerminateProcess) and where Ctrl-Break reached it with us.
    subprocess.run would kill the command 0.25 s after the interrupt, its
    runs left RUNNING."""
    import signal
    import subprocess

    from ..termination import Terminated

    windows = sys.platform == "win32"
    process = subprocess.Popen(command, cwd=cwd, env=env)
    try:
        return _wait(process)
    except KeyboardInterrupt as interrupt:
        if isinstance(interrupt, Terminated) and not windows:
            process.send_signal(signal.SIGTERM)
        while process.poll() is None:
            try:
                _wait(process)
            except Terminated:  # SIGTERM after Ctrl-C: it ends its runs still
                if not windows:
                    process.send_signal(signal.SIGTERM)
            except KeyboardInterrupt:
                # Ctrl-C again: stop it now. Not on Windows, where every
                # Ctrl-C of the console reaches it too (Jenkins sends one per
                # process of a build it aborts) and it ends its runs first.
                if not windows:
                    process.kill()
                    process.wait()
        raise


def _wait(process: Any) -> int:
    """``process.wait()``, which Ctrl-C interrupts on Windows too: there a
    wait without a timeout does not return to Python until the child ends."""
    import subprocess

    while True:
        try:
            return int(process.wait(timeout=0.5 if sys.platform == "win32" else None))
        except subprocess.TimeoutExpired:
            continue


def _settings(project: Project) -> Any:
    """The project's settings, None where they cannot be read here (a project
    not installed in this environment: its step will say so)."""
    from ..settings import load

    try:
        return load(project)
    except Exception:  # noqa: BLE001 - see the docstring
        return None


def _install_hooks(project: Project, settings: Any) -> int:
    """pre-commit's hook environments from the project's package index (pip
    reads ``PIP_INDEX_URL``), with its token in a netrc file of their own:
    the hooks then run without it."""
    import subprocess

    from ..settings import index_token
    from ..stages.installers import IndexOptions

    # Without settings, index_token reads uv's variable alone.
    index = IndexOptions(index_url=project.index_url, token=index_token(settings))
    command = [sys.executable, "-m", "pre_commit", "install-hooks"]
    print(
        f"mlops ci lint: pre-commit install-hooks (from {project.index_url})",
        file=sys.stderr,
        flush=True,
    )
    with index.pip_env() as extra:  # pre-commit installs each hook with pip
        env = {**os.environ, **extra}
        return subprocess.run(command, cwd=project.root, env=env).returncode


def _step_env(project: Project, settings: Any, name: str) -> dict[str, str]:
    """This environment without the secrets step ``name`` does not need: the
    settings' (when there are settings) and an index's password."""
    from ..settings import env_prefix, secret_env_names

    prefix = env_prefix(project) if settings is not None else ""
    hidden = set(secret_env_names(settings, prefix, SECRETS_NEEDED.get(name, ())))
    return {k: v for k, v in os.environ.items() if k not in hidden}
