"""Benchmarks of governed-mlops, measured side by side in one run.

Each benchmark renders (once per run) a fresh project from this repository's
working tree, installs it with ``uv sync`` and times the generated ``mlops``
command against the way the original design did the same job; ``copy`` and
``fresh-project`` time copying it (and a new project's first green tests)
beside other Copier templates, cloned and given as ``--reference``. Results
go to stdout as a Markdown table and to ``benchmarks/results/<name>.json``
(git-ignored); ``docs/benchmarks.md`` holds the numbers of a reference run.

    python benchmarks/run.py stage-envs     # one benchmark
    python benchmarks/run.py all            # every benchmark
    python benchmarks/run.py copy --reference copier-uv=PATH --reference dls=PATH

Only the standard library is used here; copier, uv and the generated
project's tools are run as subprocesses. Progress lines go to stderr.
A new benchmark is a function ``bench_<name>(workspace, args) -> dict``
listed in ``BENCHMARKS``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Callable, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
WINDOWS = os.name == "nt"
SCRIPTS = "Scripts" if WINDOWS else "bin"
EXE = ".exe" if WINDOWS else ""
STARTED = time.perf_counter()
# The tools version: a release of the template is tagged with it, and projects
# copied from that tag pin the tools package at it (as tests/conftest.py reads
# it; with a regex here, since tomllib is Python 3.11+).
TOOLS_PYPROJECT = REPO / "governed-mlops-tools" / "pyproject.toml"
TOOLS_VERSION = re.findall(
    r'(?m)^version = "([^"]+)"', TOOLS_PYPROJECT.read_text(encoding="utf-8")
)[0]

# Targets: the original design's time divided by ours, and the no-op bound.
SPEEDUP_TARGET = 15.0
NOOP_TARGET_S = 1.0
POLICY_TARGET_S = 0.3

# Reads the stage specs in pipeline order with the project's own pyyaml;
# run by the project venv's python (run.py itself is stdlib only).
READ_SPECS = """
import json, sys
from pathlib import Path
import yaml
try:
    import tomllib
except ImportError:
    import tomli as tomllib
root = Path(sys.argv[1])
pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
order = pyproject["tool"]["governed-mlops"]["stages"]
specs = []
for name in order:
    path = root / "env_specs" / f"stage_{name}.yaml"
    specs.append(yaml.safe_load(path.read_text(encoding="utf-8")))
print(json.dumps(specs))
"""


# --- helpers ---------------------------------------------------------------


def log(message: str) -> None:
    """One progress line on stderr with the seconds since the run started."""
    elapsed = time.perf_counter() - STARTED
    print(f"[bench {elapsed:7.1f} s] {message}", file=sys.stderr, flush=True)


class StepFailed(RuntimeError):
    """A command the benchmark needs exited non-zero."""


def base_env(**extra: str) -> dict[str, str]:
    """The environment of every command: shared uv cache, no downloads."""
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    env.pop("UV_COMPILE_BYTECODE", None)  # measured explicitly, never inherited
    env.setdefault("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv"))
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["UV_NO_PROGRESS"] = "1"
    env.update(extra)
    return env


def sh(
    cmd: Sequence[object],
    cwd: Optional[Path] = None,
    env: Optional[dict[str, str]] = None,
    timeout: float = 1800,
    returncode: int = 0,
) -> str:
    """Run ``cmd``; return its stdout, or raise :class:`StepFailed` with its tail
    when it exits other than ``returncode``."""
    args = [str(part) for part in cmd]
    result = subprocess.run(
        args,
        cwd=cwd,
        env=env or base_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != returncode:
        tail = "\n".join((result.stderr or result.stdout).splitlines()[-25:])
        raise StepFailed(f"{' '.join(args)} exited {result.returncode}:\n{tail}")
    return result.stdout


def timed(
    cmd: Sequence[object],
    cwd: Optional[Path] = None,
    env: Optional[dict[str, str]] = None,
    returncode: int = 0,
) -> float:
    """Wall-clock seconds of one run of ``cmd`` that exits ``returncode``."""
    start = time.perf_counter()
    sh(cmd, cwd=cwd, env=env, returncode=returncode)
    return time.perf_counter() - start


def venv_exe(env_dir: Path, name: str) -> Path:
    return env_dir / SCRIPTS / f"{name}{EXE}"


def remove(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)


def find_uv() -> list[str]:
    """How to call uv: the binary of the ``uv`` package when it is installed
    (as a user types ``uv``: no Python start in front of it), else PATH."""
    probe = subprocess.run(
        [sys.executable, "-c", "from uv import find_uv_bin; print(find_uv_bin())"],
        capture_output=True,
        text=True,
    )
    if probe.returncode == 0 and Path(probe.stdout.strip()).is_file():
        return [probe.stdout.strip()]
    on_path = shutil.which("uv")
    if on_path:
        return [on_path]
    raise SystemExit("uv not found: python -m pip install uv")


def find_python(value: str) -> str:
    """A spec's ``python``: a version such as ``"3.11"`` (found) or a path."""
    if not value.replace(".", "").isdigit():
        return value
    if "%d.%d" % sys.version_info[:2] == value:
        return getattr(sys, "_base_executable", "") or sys.executable
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = sorted(pyenv.glob(f"{value}.*/bin/python{value}"), reverse=True)
    found += [Path(p) for p in [shutil.which(f"python{value}")] if p]
    for exe in found:
        if exe.is_file():
            return str(exe)
    raise SystemExit(f"no Python {value} on this machine")


def count_pyc(venv: Path) -> int:
    """Compiled files in the venv's site-packages (0: imports compile from source)."""
    lib = venv / ("Lib" if WINDOWS else "lib")
    return sum(1 for _ in lib.rglob("*.pyc")) if lib.is_dir() else 0


def git_state() -> dict:
    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True
        )
        return result.stdout.strip()

    return {
        "head": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--short", "--untracked-files=no")),
    }


def machine(uv: list[str]) -> dict:
    return {
        "uv": sh([*uv, "--version"]).strip(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


# Author and committer of the benchmark's commits.
GIT_WHO = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


# --- the generated project, shared by the benchmarks of one run -----------------


class Workspace:
    """A temp dir holding one project rendered from the working tree and synced."""

    def __init__(self, root: Path, python_version: str):
        self.root = root
        self.uv = find_uv()
        self.python_version = python_version
        self.project = root / "project"
        self.first_create_s = 0.0
        self.template_state: dict = {}
        self._template: Optional[Path] = None
        self._copier: Optional["DevCopier"] = None
        self._ready = False

    @property
    def venv(self) -> Path:
        return self.project / ".venv"

    @property
    def mlops(self) -> Path:
        return venv_exe(self.venv, "mlops")

    def snapshot(self) -> Path:
        """A committed git copy of the working tree (tracked and untracked files),
        made once per run and tagged with the tools version as a release is.

        Copier renders a git ref; committing a copy renders uncommitted work too.
        A project copied from the tag pins ``governed-mlops-tools`` at
        ``git+file://<snapshot>@<tools version>``, so its ``uv sync`` builds the
        tools from the snapshot (tests/conftest.py's snapshot_template).
        """
        if self._template is not None:
            return self._template
        dest = self.root / "template"
        self.template_state = git_state()
        listed = sh(["git", "ls-files", "-co", "--exclude-standard", "-z"], REPO)
        for name in filter(None, listed.split("\0")):
            source = REPO / name
            if source.is_file():
                target = dest / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        env = base_env(**GIT_WHO)
        sh(["git", "-c", "init.defaultBranch=main", "init", "-q"], dest, env)
        sh(["git", "add", "-A"], dest, env)
        sh(["git", "commit", "-q", "-m", "benchmark snapshot"], dest, env)
        # A release tag, as projects are copied from (policy rule GOV401).
        sh(["git", "tag", TOOLS_VERSION], dest, env)
        # Packed, as a clone of the template's repository is: copier's and uv's
        # `git clone --filter=blob:none` of loose objects packs them on every
        # clone (about twice the clone's time here).
        sh(["git", "repack", "-a", "-d", "-q"], dest, env)
        self._template = dest
        return dest

    def dev_copier(self, extensions: Sequence[str]) -> "DevCopier":
        """The dev-env copier with ``extensions`` on its path (made once per run)."""
        if self._copier is None:
            self._copier = DevCopier(self, sorted(set(extensions)))
        return self._copier

    def sync(self, **extra_env: str) -> float:
        cmd = [*self.uv, "sync", "--python", find_python(self.python_version)]
        if extra_env:
            cmd.append("--reinstall")
        return timed(cmd, self.project, base_env(**extra_env))

    def render(self) -> None:
        """Render the working tree and ``uv sync`` the project (once per run)."""
        if self.venv.is_dir():
            return
        log(f"snapshot of {REPO} into {self.root}")
        template = self.snapshot()
        log("copier copy --defaults (the rendered project)")
        sh(
            [*self.uv, "tool", "run", "copier", "copy", "--trust", "--defaults"]
            + ["--data", f"python_version={self.python_version}", "--quiet"]
            + ["--vcs-ref", "HEAD", template, self.project]
        )
        log("uv sync (the project venv, bytecode not compiled)")
        self.sync()

    def prepare(self) -> None:
        """Render, ``uv sync`` and build every stage once (warm cache, locks)."""
        if self._ready:
            return
        self.render()
        log("mlops stage create --all (locks the stages, warms the uv cache)")
        self.first_create_s = timed(
            [self.mlops, "stage", "create", "--all"], self.project
        )
        log(f"first create done in {self.first_create_s:.1f} s")
        # A user's project is a git repository: the runner records commit and diff.
        sh(["git", "add", "-A"], self.project, base_env(**GIT_WHO))
        commit = ["git", "commit", "-q", "--allow-empty", "-m", "project"]
        sh(commit, self.project, base_env(**GIT_WHO))
        self._ready = True

    def env_prefix(self) -> str:
        """The prefix of the project's settings variables (``MY_PROJECT_``)."""
        import tomllib

        data = tomllib.loads((self.project / "pyproject.toml").read_text("utf-8"))
        return data["tool"]["governed-mlops"]["package"].upper() + "_"

    def stage_specs(self) -> list[dict]:
        python = venv_exe(self.venv, "python")
        return json.loads(sh([python, "-c", READ_SPECS, self.project]))


# --- benchmark: stage environments --------------------------------------------


def original_pass(
    workspace: Workspace, specs: list[dict], where: Path, pip_args, steps=None
) -> float:
    """Build every stage the original design's way, sequentially; return seconds.

    Per stage: ``python -m venv``, upgrade pip, ``pip install -r`` the stage's
    lock (spec packages + ipykernel + project dependencies, same versions as
    ours), ``ipykernel install --prefix`` and ``pip freeze`` to a file.
    ``steps`` (a dict), when given, gets the seconds of each step summed.
    """
    remove(where)
    where.mkdir(parents=True)
    steps = {} if steps is None else steps

    def step(what: str, cmd: list) -> str:
        begin = time.perf_counter()
        out = sh(cmd)
        steps[what] = steps.get(what, 0.0) + time.perf_counter() - begin
        return out

    start = time.perf_counter()
    for spec in specs:
        name = spec["name"]
        env_dir = where / name
        python = venv_exe(env_dir, "python")
        lock = workspace.project / "env_specs" / "locks" / f"{name}.txt"
        log(f"  original {name}: venv, pip upgrade, install, kernel, freeze")
        step("venv", [find_python(str(spec["python"])), "-m", "venv", env_dir])
        step("pip upgrade", [python, "-m", "pip", "install", "-U", "pip", *pip_args])
        step("install lock", [python, "-m", "pip", "install", *pip_args, "-r", lock])
        step(
            "kernel",
            [python, "-m", "ipykernel", "install", "--prefix", where / "jupyter"]
            + ["--name", spec["kernel_name"]],
        )
        freeze = step("freeze", [python, "-m", "pip", "freeze"])
        (env_dir / "freeze.txt").write_text(freeze, encoding="utf-8")
    return time.perf_counter() - start


def noop_runs(workspace: Workspace, repeat: int) -> list[float]:
    cmd = [workspace.mlops, "stage", "create", "--all"]
    return [timed(cmd, workspace.project) for _ in range(repeat)]


def bench_stage_envs(workspace: Workspace, args: argparse.Namespace) -> dict:
    """The four stage envs: the original design's way vs ``mlops stage create``."""
    workspace.prepare()
    project = workspace.project
    specs = workspace.stage_specs()
    names = [spec["name"] for spec in specs]
    log(f"stages: {', '.join(names)}")
    mlops = [workspace.mlops, "stage", "create", "--all"]
    times: dict[str, object] = {"first_create_with_locking": workspace.first_create_s}

    original_dir = workspace.root / "original"
    log("original way, warm-up pass (untimed: fills pip's cache)")
    original_pass(workspace, specs, original_dir, [])
    log("original way, timed pass")
    steps: dict[str, float] = {}
    times["original"] = original_pass(workspace, specs, original_dir, [], steps)
    times["original_steps"] = {k: round(v, 2) for k, v in steps.items()}
    log(f"original way: {times['original']:.1f} s")
    if not args.quick:
        log("original way with pip --no-compile (informational, no .pyc written)")
        times["original_no_compile"] = original_pass(
            workspace, specs, original_dir, ["--no-compile"]
        )
    remove(original_dir)

    def fresh() -> None:
        remove(project / ".venvs")
        remove(project / ".mlops")

    log("ours: delete .venvs/ and .mlops/, then mlops stage create --all")
    fresh()
    times["ours_fresh"] = timed(mlops, project)
    log(f"ours, fresh envs: {times['ours_fresh']:.1f} s")
    times["ours_force"] = timed([*mlops, "--force"], project)
    log(f"ours, --force: {times['ours_force']:.1f} s")
    if not args.quick:
        log("ours with UV_COMPILE_BYTECODE=1 (informational, like pip's default)")
        fresh()
        times["ours_fresh_compiled"] = timed(
            mlops, project, base_env(UV_COMPILE_BYTECODE="1")
        )
        fresh()
        timed(mlops, project)  # back to the default build for the no-op runs

    pyc_plain = count_pyc(workspace.venv)
    log(f"no-op x{args.repeat} (project venv: {pyc_plain} .pyc files)")
    times["noop"] = noop_runs(workspace, args.repeat)

    log("uv sync --reinstall with UV_COMPILE_BYTECODE=1, compileall src/")
    workspace.sync(UV_COMPILE_BYTECODE="1")
    python = venv_exe(workspace.venv, "python")
    sh([python, "-m", "compileall", "-q", project / "src"], project)
    pyc_compiled = count_pyc(workspace.venv)
    log(f"no-op x{args.repeat} (project venv: {pyc_compiled} .pyc files)")
    times["noop_compiled"] = noop_runs(workspace, args.repeat)

    original = float(times["original"])  # type: ignore[arg-type]

    def row(what, seconds, target="", ok=None, ratio=True) -> dict:
        return {
            "what": what,
            "seconds": round(seconds, 3),
            "ratio": round(original / seconds, 1) if ratio else None,
            "target": target,
            "pass": ok,
        }

    def speed(what, seconds) -> dict:
        ok = original / seconds >= SPEEDUP_TARGET
        return row(what, seconds, f">= {SPEEDUP_TARGET:g}x", ok)

    def noop(what, runs) -> list[dict]:
        median, worst = statistics.median(runs), max(runs)
        n, limit = len(runs), NOOP_TARGET_S
        target = f"< {limit:g} s"
        return [
            row(f"{what}, median of {n}", median, target, median < limit, False),
            row(f"{what}, max of {n}", worst, target, worst < limit, False),
        ]

    stages = f"{len(names)} stages"
    rows = [row(f"original: venv + pip, sequential, {stages}", original)]
    if "original_no_compile" in times:
        rows.append(
            row(
                "original with `pip install --no-compile` (info)",
                float(times["original_no_compile"]),  # type: ignore[arg-type]
            )
        )
    rows += [
        speed(
            "`mlops stage create --all`, no envs, locks present", times["ours_fresh"]
        ),
        speed("`mlops stage create --all --force`, envs present", times["ours_force"]),
    ]
    if "ours_fresh_compiled" in times:
        rows.append(
            row(
                "`mlops stage create --all`, UV_COMPILE_BYTECODE=1 (info)",
                float(times["ours_fresh_compiled"]),  # type: ignore[arg-type]
            )
        )
    rows += noop("no-op, project venv without .pyc", times["noop"])
    rows += noop(
        "no-op, project venv synced with UV_COMPILE_BYTECODE=1", times["noop_compiled"]
    )
    rows.append(
        row(
            "first `mlops stage create --all`, locking (info)",
            workspace.first_create_s,
            ratio=False,
        )
    )
    return {
        "benchmark": "stage-envs",
        "stages": names,
        "python": specs[0].get("python") if specs else None,
        "jobs": min(4, os.cpu_count() or 1),
        "cache": "warm: uv cache used by the first create, pip cache by a warm-up pass",
        "project_venv_pyc": {"default": pyc_plain, "compiled": pyc_compiled},
        "bytecode_note": (
            "The main rows run with the project venv synced normally (uv does not "
            "compile bytecode) on a machine with PYTHONDONTWRITEBYTECODE=1, so every "
            "mlops start compiles its imports from source. The 'UV_COMPILE_BYTECODE=1' "
            "no-op rows are what a normal machine sees after the first run."
        ),
        "times_s": times,
        "rows": rows,
    }


# --- command line --------------------------------------------------------------

# --- benchmark: the notebook runner -------------------------------------------

RUNNER_OVERHEAD_TARGET_S = 1.0


def bare_papermill(workspace: Workspace, spec: dict) -> list[object]:
    """papermill's own command for one stage: its notebook, kernel and spec
    parameters, run in the notebooks folder, as ``mlops stage run`` does."""
    python = venv_exe(workspace.venv, "python")
    output = workspace.root / f"papermill-{spec['name']}.ipynb"
    parameters = json.dumps(spec.get("parameters") or {})
    return [python, "-m", "papermill", spec["notebook"], output] + [
        "-k",
        spec["kernel_name"],
        "--cwd",
        "notebooks",
        "-y",
        parameters,
    ]


def children_cpu() -> Optional[float]:
    """User + system CPU seconds of this process's finished descendants (None
    where the ``resource`` module is missing, as on Windows)."""
    try:
        import resource
    except ImportError:
        return None
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def executed_seconds(notebook: Path) -> float:
    """papermill's own ``duration`` of an executed notebook: kernel start,
    every cell, kernel shutdown."""
    metadata = json.loads(notebook.read_text(encoding="utf-8"))["metadata"]
    return float(metadata["papermill"]["duration"])


def runner_rounds(workspace, bare, ours, env, repeat, label, cpu, outside) -> tuple:
    """``repeat`` alternated rounds: bare papermill, then ``mlops stage run``.

    ``cpu`` gets each command tree's CPU seconds (kernel included); ``outside``
    each command's wall time minus papermill's execution of the notebook (the
    notebook's ``metadata.papermill.duration``): the process start, imports
    and everything around the execution, without the kernel's run-to-run
    variation of several seconds on a shared machine.
    """
    papermill_s, runner_s = [], []
    bare_output = Path(bare[4])
    for number in range(repeat):
        log(f"  round {number + 1}/{repeat} ({label}): papermill, mlops stage run")
        for times, cmd, side in ((papermill_s, bare, "bare"), (runner_s, ours, "ours")):
            before = children_cpu()
            start = time.perf_counter()
            stdout = sh(cmd, cwd=workspace.project, env=env)
            times.append(time.perf_counter() - start)
            after = children_cpu()
            if before is not None and after is not None:
                cpu.setdefault(side, []).append(after - before)
            executed = bare_output
            if side == "ours":  # the run's audit/ bundle; its id on the last line
                run_id = stdout.split()[-1]
                name = Path(bare[3]).name
                store = workspace.project / "mlruns" / "artifacts" / run_id
                executed = store / "artifacts" / "audit" / name
            outside.setdefault(side, []).append(times[-1] - executed_seconds(executed))
    return papermill_s, runner_s


def pipeline_overhead(workspace, specs, env, label, rounds: int = 1) -> dict:
    """Each stage by bare papermill, then ``mlops pipeline run`` of them all,
    ``rounds`` times: the median pipeline's wall time (and CPU seconds) minus
    the median sum of the bare runs', per stage."""
    cmds = {s["name"]: bare_papermill(workspace, s) for s in specs}
    # --force: the stage cache would skip every stage after the first run.
    cmds["pipeline"] = [workspace.mlops, "pipeline", "run", "--force"]
    walls: list[dict[str, float]] = []
    cpus: list[dict[str, Optional[float]]] = []
    for number in range(rounds):
        log(
            f"bare papermill of each stage, then mlops pipeline run ({label}, "
            f"round {number + 1}/{rounds})"
        )
        wall, cpu = {}, {}
        for name, cmd in cmds.items():
            before = children_cpu()
            wall[name] = timed(cmd, workspace.project, env)
            after = children_cpu()
            cpu[name] = None if before is None or after is None else after - before
        walls.append(wall)
        cpus.append(cpu)

    def bare_sum(values: dict) -> float:
        return sum(v for k, v in values.items() if k != "pipeline")

    pipeline_s = statistics.median(w["pipeline"] for w in walls)
    bare_s = statistics.median(bare_sum(w) for w in walls)
    # Paired: each round's pipeline against the bare runs just before it, so
    # that the machine's load, which drifts over minutes, cancels out.
    per_round = [(w["pipeline"] - bare_sum(w)) / len(specs) for w in walls]
    result = {
        "rounds": walls,
        "pipeline_s": pipeline_s,
        "bare_sum_s": bare_s,
        "overhead_per_stage_s": statistics.median(per_round),
        "per_round_overhead_per_stage_s": per_round,
        "cpu_rounds": cpus,
    }
    if all(value is not None for cpu in cpus for value in cpu.values()):
        extra = statistics.median(c["pipeline"] - bare_sum(c) for c in cpus)
        result["cpu_per_stage_s"] = extra / len(specs)
    return result


def compile_stage_envs(workspace: Workspace) -> None:
    """``compileall`` each stage env with its own interpreter: what a machine
    without PYTHONDONTWRITEBYTECODE has after a stage's first run (its
    kernel's and model logging's imports written as ``.pyc``)."""
    for env_dir in sorted((workspace.project / ".venvs").iterdir()):
        python = venv_exe(env_dir, "python")
        if python.is_file():
            sh([python, "-m", "compileall", "-q", "-j", "0", env_dir], workspace.root)


def bench_runner(workspace: Workspace, args: argparse.Namespace) -> dict:
    """``mlops stage run`` vs bare papermill on the same notebook and kernel.

    Both run the data_prep notebook in its stage kernel against the project's
    SQLite store, alternated ``--repeat`` times; the overhead is the difference
    of the medians. Then each stage by bare papermill and one whole
    ``mlops pipeline run``, ``--repeat`` rounds: the pipeline's overhead per
    stage, the median of the rounds'. All of it twice: with the venvs as uv
    leaves them (no .pyc on this machine), and with every venv compiled (``uv
    sync --reinstall`` with ``UV_COMPILE_BYTECODE=1``, ``compileall`` of the
    stage envs), as a machine without PYTHONDONTWRITEBYTECODE has them after
    their first run.
    """
    workspace.prepare()
    project = workspace.project
    specs = workspace.stage_specs()
    spec = next(s for s in specs if s["name"] == "data_prep")
    store = (project / "mlruns" / "mlflow.db").as_posix()
    env = base_env(
        JUPYTER_PATH=str(project / ".mlops" / "jupyter"),
        MLFLOW_TRACKING_URI=f"sqlite:///{store}",
    )
    bare = bare_papermill(workspace, spec)
    ours = [workspace.mlops, "stage", "run", "data_prep"]
    log("warm-up: one run of each (creates the store's tables)")
    timed(bare, project, env)
    first_s = timed(ours, project, env)  # MlflowClient: a new store
    cpu: dict[str, list[float]] = {}
    cpu_pyc: dict[str, list[float]] = {}
    outside: dict[str, list[float]] = {}
    outside_pyc: dict[str, list[float]] = {}
    papermill_s, runner_s = runner_rounds(
        workspace, bare, ours, env, args.repeat, "no .pyc", cpu, outside
    )
    pipeline = pipeline_overhead(workspace, specs, env, "no .pyc", args.repeat)
    log("again with every venv compiled (UV_COMPILE_BYTECODE=1, compileall)")
    workspace.sync(UV_COMPILE_BYTECODE="1")
    compile_stage_envs(workspace)
    papermill_pyc, runner_pyc = runner_rounds(
        workspace, bare, ours, env, args.repeat, ".pyc", cpu_pyc, outside_pyc
    )
    pipeline_pyc = pipeline_overhead(workspace, specs, env, ".pyc", args.repeat)

    def median(values: list[float]) -> float:
        return round(statistics.median(values), 3)

    def row(what, seconds, ratio=None, target=False, limit=None) -> dict:
        # The targets: per stage in a pipeline, < 0.5 s with the
        # project venv compiled, < 1 s without .pyc.
        bound = RUNNER_OVERHEAD_TARGET_S if limit is None else limit
        return {
            "what": what,
            "seconds": round(seconds, 3),
            "ratio": ratio,
            "target": f"< {bound:g} s" if target else "",
            "pass": seconds < bound if target else None,
        }

    rows = [row("first `mlops stage run` on a new store (MlflowClient, info)", first_s)]
    for label, bare_s, ours_s, pipe, used, out in (
        ("without .pyc", papermill_s, runner_s, pipeline, cpu, outside),
        ("with .pyc", papermill_pyc, runner_pyc, pipeline_pyc, cpu_pyc, outside_pyc),
    ):
        ratio = round(statistics.median(ours_s) / statistics.median(bare_s), 2)
        rows += [
            row(f"bare papermill, data_prep, median ({label})", median(bare_s), 1.0),
            row(
                f"`mlops stage run data_prep`, median ({label})", median(ours_s), ratio
            ),
            row(
                f"`mlops stage run` overhead, one stage on its own ({label}, info: "
                f"the target is per stage in a pipeline)",
                median(ours_s) - median(bare_s),
            ),
        ]
        rows += [
            row(
                f"bare papermill, outside the notebook's execution, median ({label})",
                median(out["bare"]),
            ),
            row(
                f"`mlops stage run`, outside the notebook's execution, median "
                f"({label})",
                median(out["ours"]),
            ),
            row(
                f"`mlops stage run` overhead outside the execution ({label}, info)",
                median(out["ours"]) - median(out["bare"]),
            ),
        ]
        if used:
            rows.append(
                row(
                    f"`mlops stage run` extra CPU seconds, difference of medians "
                    f"({label}, info)",
                    median(used["ours"]) - median(used["bare"]),
                )
            )
        rows += [
            row(
                f"`mlops pipeline run`, four stages, wall, median ({label}, info)",
                pipe["pipeline_s"],
            ),
            row(
                f"`mlops pipeline run` overhead per stage, median of "
                f"{len(pipe['rounds'])} ({label})",
                pipe["overhead_per_stage_s"],
                target=True,
                limit=0.5 if label == "with .pyc" else 1.0,
            ),
        ]
        if "cpu_per_stage_s" in pipe:
            rows.append(
                row(
                    f"`mlops pipeline run` extra CPU seconds per stage ({label}, info)",
                    pipe["cpu_per_stage_s"],
                )
            )
    return {
        "benchmark": "runner",
        "times_s": {
            "first_mlops_stage_run": first_s,
            "papermill": papermill_s,
            "mlops_stage_run": runner_s,
            "pipeline": pipeline,
            "papermill_pyc": papermill_pyc,
            "mlops_stage_run_pyc": runner_pyc,
            "pipeline_pyc": pipeline_pyc,
        },
        "cpu_s": {"without_pyc": cpu, "with_pyc": cpu_pyc},
        "outside_execution_s": {"without_pyc": outside, "with_pyc": outside_pyc},
        "bytecode_note": "Both sides start Python processes whose imports compile "
        "from source on this machine (PYTHONDONTWRITEBYTECODE=1) until the "
        "second pass, which compiles the project venv (UV_COMPILE_BYTECODE=1) "
        "and every stage env (compileall), for both sides.",
        "rows": rows,
    }


# --- benchmark: a fully cached pipeline, disk per stage run ------------------

CACHED_TARGET_S = 1.0
DISK_TARGET_RATIO = 1.1


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(uri: str, seconds: float = 240) -> None:
    """Wait until the MLflow server at ``uri`` answers /health (or time out:
    the first timed command then reports the failure)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(uri + "/health", timeout=2):
                return
        except OSError:
            time.sleep(0.5)


def cached_rounds(workspace: Workspace, env: dict, repeat: int, label: str) -> list:
    """``mlops pipeline run`` ``repeat`` times with every stage unchanged;
    each must skip all four stages."""
    log(f"fully cached mlops pipeline run x{repeat} ({label})")
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        out = sh([workspace.mlops, "pipeline", "run"], workspace.project, env)
        seconds.append(time.perf_counter() - started)
        rows = [line.split() for line in out.splitlines()[2:]]
        if [row[1] for row in rows] != ["CACHED"] * len(rows) or not rows:
            raise StepFailed(f"not every stage was skipped:\n{out}")
    return seconds


def disk_per_run(project: Path) -> list[dict]:
    """For each stage run of the store: the bytes of its audit bundle, of its
    executed notebook plus run.log, and any local bundle left over."""
    found = []
    artifacts = project / "mlruns" / "artifacts"
    for audit in sorted(artifacts.glob("*/artifacts/audit")):
        run_id = audit.parent.parent.name
        # What the runner stores (the notebook's own artifacts not counted).
        total = sum(p.stat().st_size for p in audit.rglob("*") if p.is_file())
        executed = [
            p for p in audit.glob("*.ipynb") if p.parent == audit  # not source/
        ]
        base = sum(p.stat().st_size for p in executed)
        base += (audit / "run.log").stat().st_size
        local = project / "artifacts" / run_id
        kept = sum(p.stat().st_size for p in local.rglob("*") if p.is_file())
        # The stage env's SBOM and freeze: kept by the env's first run only.
        env_files = [audit / "sbom.cdx.json", audit / "pip-freeze.txt"]
        found.append(
            {
                "run": run_id,
                "bytes": total,
                "base": base,
                "local": kept,
                "env": sum(p.stat().st_size for p in env_files if p.is_file()),
            }
        )
    return found


def bench_cached(workspace: Workspace, args: argparse.Namespace) -> dict:
    """A fully cached ``mlops pipeline run`` of the four sample stages, on the
    project's SQLite store (MlflowClient) and on `mlops tracking server`
    (MLflow's REST API), with the project venv as ``uv sync`` leaves it and
    compiled; and the disk a stage run takes."""
    workspace.prepare()
    project = workspace.project
    prefix = workspace.env_prefix()
    sqlite = {prefix + "MLFLOW_TRACKING_URI": ""}
    env = base_env(**sqlite)
    log("mlops pipeline run, every stage (fills the stage cache)")
    full_s = timed([workspace.mlops, "pipeline", "run"], project, env)
    disk = disk_per_run(project)
    results: dict[str, list[float]] = {}
    results["sqlite"] = cached_rounds(workspace, env, args.repeat, "SQLite store")
    port = free_port()
    server_env = base_env(**{prefix + "MLFLOW_PORT": str(port)})
    log(f"mlops tracking server on 127.0.0.1:{port}")
    server = subprocess.Popen(
        [workspace.mlops, "tracking", "server"],
        cwd=project,
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=not WINDOWS,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(uri)
        rest = base_env(**{prefix + "MLFLOW_TRACKING_URI": uri})
        log("mlops pipeline run on the server (no previous run there)")
        timed([workspace.mlops, "pipeline", "run"], project, rest)
        results["server"] = cached_rounds(workspace, rest, args.repeat, "server")
        log("again with the project venv compiled (UV_COMPILE_BYTECODE=1)")
        workspace.sync(UV_COMPILE_BYTECODE="1")
        results["sqlite_pyc"] = cached_rounds(
            workspace, env, args.repeat, "SQLite, .pyc"
        )
        results["server_pyc"] = cached_rounds(
            workspace, rest, args.repeat, "server, .pyc"
        )
    finally:
        server.terminate()
        server.wait(timeout=60)

    def row(what, seconds=None, ratio=None, target="", ok=None) -> dict:
        rounded = None if seconds is None else round(seconds, 3)
        return {
            "what": what,
            "seconds": rounded,
            "ratio": ratio,
            "target": target,
            "pass": ok,
        }

    rows = [row("`mlops pipeline run`, four stages run (info)", full_s)]
    for key, label in (
        ("sqlite", "SQLite store (MlflowClient), no .pyc"),
        ("server", "tracking server (REST), no .pyc"),
        ("sqlite_pyc", "SQLite store (MlflowClient), .pyc"),
        ("server_pyc", "tracking server (REST), .pyc"),
    ):
        median = statistics.median(results[key])
        rows.append(
            row(
                f"fully cached `mlops pipeline run`, {label}, median",
                median,
                target=f"< {CACHED_TARGET_S:g} s",
                ok=median < CACHED_TARGET_S,
            )
        )
    worst = max((d["bytes"] - d["env"]) / d["base"] for d in disk)
    rows.append(
        row(
            "disk per stage run / (executed notebook + run.log), worst, "
            "the env's SBOM and freeze apart",
            None,
            round(worst, 2),
            f"<= {DISK_TARGET_RATIO:g}x",
            worst <= DISK_TARGET_RATIO,
        )
    )
    kept_once = [d["env"] for d in disk if d["env"]]
    rows.append(
        row(
            "a stage env's SBOM and freeze, kept once by the env's first run, "
            "bytes, largest (info)",
            max(kept_once, default=0),
        )
    )
    rows.append(
        row(
            "local bundles left after upload, bytes (info)",
            sum(d["local"] for d in disk),
        )
    )
    return {
        "benchmark": "cached-pipeline",
        "times_s": {"full": full_s, **results},
        "disk": disk,
        "ratio_column": "ratio",
        "rows": rows,
    }


# --- benchmark: policy check ------------------------------------------------


def bench_policy(workspace: Workspace, args: argparse.Namespace) -> dict:
    """Whole-process time of the policy check on a freshly generated project.

    ``mlops policy check`` in the project venv (the governance hook runs the
    same command from the same pinned tools), alternated ``--repeat`` times
    with the bare interpreter start (``python -c pass``) as the reference:
    with nothing changed since the last check, and with one file changed (as
    at a commit: GOV201 runs detect-secrets on the files changed since its
    cache in ``.mlops/``, which a project has once ``mlops stage create`` ran);
    also with a misspelt key in a stage spec, where the pydantic model words
    the error (information, no target), and once on a fresh checkout with no
    cache (as CI, information). First without ``.pyc`` (this machine's
    default), then with the project venv compiled.
    """
    workspace.render()
    project = workspace.project
    python = venv_exe(workspace.venv, "python")
    check = [workspace.mlops, "policy", "check"]
    spec = project / "env_specs" / "stage_train.yaml"
    valid = spec.read_text(encoding="utf-8")
    readme = project / "README.md"
    readme_text = readme.read_text(encoding="utf-8")
    misspelt = "mlops policy check, a spec error"
    changed = "mlops policy check, a file changed"
    commands = {
        "python -c pass": [python, "-c", "pass"],
        "mlops policy check": check,
        changed: check,
        misspelt: check,
    }
    timed([*workspace.uv, "lock", "--quiet"], project)  # the policy wants it
    remove(project / ".mlops")
    (project / ".mlops").mkdir()
    fresh = timed(check, project)  # a checkout with no cache, as CI has
    edits = iter(range(10**6))

    def rounds(label: str, env: dict) -> dict[str, list[float]]:
        times: dict[str, list[float]] = {name: [] for name in commands}
        for number in range(args.repeat):
            log(f"  round {number + 1}/{args.repeat} ({label})")
            times["python -c pass"].append(
                timed(commands["python -c pass"], project, env)
            )
            # Text the cache has never seen, as at a commit.
            readme.write_text(f"{readme_text}\nEdit {next(edits)}.\n", "utf-8")
            times[changed].append(timed(check, project, env))
            readme.write_text(readme_text, encoding="utf-8")
            spec.write_text(valid.replace("packages:", "pakages:"), "utf-8")
            times[misspelt].append(timed(check, project, env, 1))  # 1: errors
            spec.write_text(valid, encoding="utf-8")
            timed(check, project, env)  # the cache learns the files back
            times["mlops policy check"].append(timed(check, project, env))
        return times

    plain = rounds("no .pyc", base_env())
    log("compile the project venv and its sources (what pip and a first run leave)")
    workspace.sync(UV_COMPILE_BYTECODE="1")
    compiled_env = {
        k: v for k, v in base_env().items() if k != "PYTHONDONTWRITEBYTECODE"
    }
    sh([python, "-m", "compileall", "-q", "src"], project, compiled_env)
    compiled = rounds(".pyc", compiled_env)
    rows = [
        ratio_row(
            "`mlops policy check`, a fresh checkout: no cache, no .pyc (info)", fresh
        )
    ]
    for label, times in (("no .pyc", plain), (".pyc", compiled)):
        start = statistics.median(times["python -c pass"])
        for name, values in times.items():
            median = statistics.median(values)
            is_check = name not in ("python -c pass", misspelt)
            rows.append(
                {
                    "what": f"`{name}`, {label}, median",
                    "seconds": round(median, 3),
                    "ratio": round(median / start, 2),
                    "target": f"< {POLICY_TARGET_S:g} s" if is_check else "",
                    "pass": median < POLICY_TARGET_S if is_check else None,
                }
            )
    return {
        "benchmark": "policy",
        "times_s": {"fresh": fresh, "no_pyc": plain, "pyc": compiled},
        "bytecode_note": "Ratios are against the bare interpreter start of the "
        "same venv in the same round.",
        "rows": rows,
    }


AUDIT_TARGET_S = 10.0

# An OSV service on 127.0.0.1 (the tests' own, serving the published records
# of governed-mlops-tools/tests/data/osv/), run by the project venv's python:
# prints its query URL, serves until its stdin closes.
OSV_SERVICE = """
import sys
sys.path.insert(0, sys.argv[1])
from osv_service import OsvService, RECORDS, load_records
with OsvService(load_records(RECORDS)) as service:
    print(service.url, flush=True)
    sys.stdin.read()
"""


def bench_audit(workspace: Workspace, args: argparse.Namespace) -> dict:
    """``mlops ci audit`` over the project's five locks (``uv.lock`` and the
    four stage locks) against a local OSV service: the first run (pip-audit's
    cache empty) and ``--repeat`` warm runs."""
    workspace.prepare()
    project = workspace.project
    timed([*workspace.uv, "lock", "--quiet"], project)
    locks = ["uv.lock"] + sorted(
        p.name for p in (project / "env_specs" / "locks").glob("*.txt")
    )
    python = venv_exe(workspace.venv, "python")
    service = subprocess.Popen(
        [python, "-c", OSV_SERVICE, REPO / "governed-mlops-tools" / "tests"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = service.stdout.readline().strip()
        remove(project / ".mlops" / "pip-audit")
        audit = [workspace.mlops, "ci", "audit", "--osv-url", url]
        log(f"mlops ci audit over {len(locks)} locks, pip-audit's cache empty")
        cold = timed(audit, project)
        warm = []
        for number in range(args.repeat):
            log(f"  warm round {number + 1}/{args.repeat}")
            warm.append(timed(audit, project))
    finally:
        service.stdin.close()
        service.wait(timeout=30)
    median = statistics.median(warm)
    what = f"`mlops ci audit`, {len(locks)} locks"
    return {
        "benchmark": "audit",
        "ratio_column": "ratio",
        "locks": locks,
        "times_s": {"cold": cold, "warm": warm},
        "rows": [
            ratio_row(f"{what}, pip-audit's cache empty (info)", cold),
            {
                "what": f"{what}, warm, median of {len(warm)}",
                "seconds": round(median, 2),
                "ratio": None,
                "target": f"< {AUDIT_TARGET_S:g} s",
                "pass": median < AUDIT_TARGET_S,
            },
            {
                "what": f"{what}, warm, max of {len(warm)}",
                "seconds": round(max(warm), 2),
                "ratio": None,
                "target": f"< {AUDIT_TARGET_S:g} s",
                "pass": max(warm) < AUDIT_TARGET_S,
            },
        ],
    }


TEAM_TARGET_S = 0.5  # per stage, over the SQLite case
TEAM_STAGES = ("s1", "s2", "s3", "s4")
TEAM_PROJECTS = ("benchteama", "benchteamb")
# A PostgreSQL server (pgserver, a dev dependency) for as long as stdin is open.
POSTGRES_SERVICE = """
import sys, pgserver
server = pgserver.get_server(sys.argv[1], cleanup_mode="stop")
print(server.get_uri(), flush=True)
sys.stdin.read()
server.cleanup()
"""


def dev_python() -> Path:
    """This repository's dev env: the tools (editable) with the postgres
    extra, and pgserver."""
    python = venv_exe(REPO / ".venv", "python")
    if not python.exists():
        raise StepFailed(f"{python} is missing: run `uv sync` in {REPO}")
    return python


def team_projects(root: Path, python: Path) -> dict[str, Path]:
    """Two tiny projects of four stages (the tools tests' tiny project),
    their stage envs built."""
    sys.path.insert(0, str(REPO / "governed-mlops-tools" / "tests"))
    from tiny_project import write_project

    projects = {}
    for package in TEAM_PROJECTS:
        folder = root / package
        folder.mkdir(parents=True)
        write_project(folder, package, TEAM_STAGES)
        log(f"{package}: mlops stage create --all")
        sh(
            [python, "-m", "governed_mlops", "stage", "create", "--all"],
            folder,
            team_env(folder),
        )
        projects[package] = folder
    return projects


def team_env(root: Path, **settings: str) -> dict[str, str]:
    """An `mlops` command's environment in tiny project ``root``."""
    prefix = root.name.upper() + "_"
    env = base_env(PYTHONPATH=str(root / "src"))
    for name in [n for n in env if n.startswith(("MLFLOW_", prefix))]:
        del env[name]
    env.update({prefix + key: value for key, value in settings.items()})
    return env


def concurrent_pipelines(
    python: Path, projects: dict[str, Path], settings: dict[str, str]
) -> list[float]:
    """Both projects' `mlops pipeline run --force` at once; each one's
    seconds per stage."""
    command = [str(python), "-m", "governed_mlops", "pipeline", "run", "--force"]
    started = time.perf_counter()
    running = {
        name: subprocess.Popen(
            command,
            cwd=root,
            env=team_env(root, **settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, root in projects.items()
    }
    per_stage = []
    for name, process in running.items():
        output = process.communicate(timeout=900)[0]
        if process.returncode != 0:
            raise StepFailed(f"{name}: pipeline run failed:\n{output[-2000:]}")
        per_stage.append((time.perf_counter() - started) / len(TEAM_STAGES))
    return per_stage


def rest(url: str, path: str, body: Optional[dict] = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{url}/api/2.0/mlflow/{path}",
        data=data,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def recorded_runs(url: str, experiment: str) -> dict[str, int]:
    """The runs of ``experiment`` on the server, counted by status."""
    found = rest(url, f"experiments/get-by-name?experiment_name={experiment}")
    ident = found["experiment"]["experiment_id"]
    counts: dict[str, int] = {}
    token = None
    while True:
        body = {"experiment_ids": [ident], "max_results": 1000}
        if token:
            body["page_token"] = token
        page = rest(url, "runs/search", body)
        for run in page.get("runs", []):
            status = run["info"]["status"]
            counts[status] = counts.get(status, 0) + 1
        token = page.get("next_page_token")
        if not token:
            return counts


def bench_team_server(workspace: Workspace, args: argparse.Namespace) -> dict:
    """Two projects recording four stage runs each at once (``mlops pipeline
    run``), into their own SQLite stores and into one `mlops tracking server`
    on PostgreSQL, rounds alternated; the runner's time per stage in each case
    (the notebooks are the same, so the difference is the store's) and every
    run of every round counted on the server."""
    python = dev_python()
    root = workspace.root / "team"
    projects = team_projects(root, python)
    postgres = subprocess.Popen(
        [python, "-c", POSTGRES_SERVICE, root / "pg"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    server = None
    try:
        backend = postgres.stdout.readline().strip()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log(f"mlops tracking server on PostgreSQL, port {port}")
        started = time.perf_counter()
        server = subprocess.Popen(
            [
                python,
                "-m",
                "governed_mlops",
                "tracking",
                "server",
                "--port",
                str(port),
                "--backend-store-uri",
                backend,
                "--artifacts-destination",
                str(root / "share"),
            ],
            cwd=projects[TEAM_PROJECTS[0]],
            env=team_env(projects[TEAM_PROJECTS[0]]),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for line in server.stdout:
            if " ready at " in line:
                break
        else:
            raise StepFailed("the tracking server did not start")
        start_s = time.perf_counter() - started
        remote = {"MLFLOW_TRACKING_URI": url}
        log("warm-up: one concurrent round of each")
        concurrent_pipelines(python, projects, {})
        concurrent_pipelines(python, projects, remote)
        sqlite: list[float] = []
        team: list[float] = []
        for number in range(args.repeat):
            log(f"  round {number + 1}/{args.repeat}: SQLite, then the server")
            sqlite += concurrent_pipelines(python, projects, {})
            team += concurrent_pipelines(python, projects, remote)
        expected = (args.repeat + 1) * (len(TEAM_STAGES) + 1)
        counts = {name: recorded_runs(url, name) for name in TEAM_PROJECTS}
        complete = all(c == {"FINISHED": expected} for c in counts.values())
    finally:
        if server is not None:
            server.terminate()  # mlops stops mlflow's whole group
            server.wait(timeout=60)
        postgres.stdin.close()
        postgres.wait(timeout=60)
    sqlite_s, team_s = statistics.median(sqlite), statistics.median(team)
    what = f"{len(TEAM_PROJECTS)} projects x {len(TEAM_STAGES)} stage runs at once"
    return {
        "benchmark": "team-server",
        "ratio_column": "ratio",
        "runs_recorded": counts,
        "times_s": {"sqlite": sqlite, "postgresql_server": team, "start": start_s},
        "rows": [
            ratio_row(
                "`mlops tracking server` on PostgreSQL, start to ready (info)", start_s
            ),
            ratio_row(f"{what}, own SQLite stores, per stage, median", sqlite_s),
            {
                "what": f"{what}, one PostgreSQL server, per stage, median",
                "seconds": round(team_s, 3),
                "ratio": round(team_s / sqlite_s, 2),
                "target": "",
                "pass": None,
            },
            {
                "what": "the server's time per stage over SQLite's",
                "seconds": round(team_s - sqlite_s, 3),
                "ratio": None,
                "target": f"< {TEAM_TARGET_S:g} s",
                "pass": team_s - sqlite_s < TEAM_TARGET_S,
            },
            {
                "what": f"runs recorded on the server, of {expected} per project",
                "seconds": None,
                "ratio": None,
                "target": "all FINISHED",
                "pass": complete,
            },
        ],
    }


REPORT_TARGET_S = 2.0
REPORT_PIPELINES = 100
# Times `build_site` in the project's venv once MLflow's client is open (its
# import alone takes seconds, whatever the report does): the report's own work.
REPORT_IN_PROCESS = """
import sys, time
from governed_mlops.project import find_project
from governed_mlops.report import build_site
from governed_mlops.runner import tracking
from governed_mlops.settings import load
project = find_project()
settings = load(project)
client = tracking.client(settings)
client.search_runs(["0"], max_results=1)
times = []
for _ in range(int(sys.argv[1])):
    start = time.perf_counter()
    build_site(project, settings, client=client)
    times.append(time.perf_counter() - start)
print(" ".join(f"{t:.4f}" for t in times))
"""


# Records one more pipeline run of 4 stages as `mlops pipeline run` does at
# the store: through the runner's store (the metrics as a notebook logs them,
# through MLflow's client), which at its end advances the report's copy of
# the runs (governed_mlops.runner.snapshot).
REPORT_APPEND = """
import sys
from governed_mlops.project import find_project
from governed_mlops.runner import store
from governed_mlops.settings import load
sys.path.insert(0, sys.argv[1])
from report_runs import STAGES, stage_tags
number = int(sys.argv[2])
project = find_project()
runs = store.open_store(load(project))
parent = runs.create_run(
    {"mlflow.runName": "pipeline", "pipeline.stages": ",".join(STAGES)}
)
runs.log_params(parent, {"seed": str(number)})
for stage in STAGES:
    run = runs.create_run(stage_tags(stage, parent, number, "proj"))
    runs.log_params(run, {"seed": str(number), "label": '"tiny"'})
    runs.client.log_metric(run, "accuracy", 0.9)
    runs.client.log_metric(run, "rows", 1000.0 + number)
    runs.set_terminated(run, "FINISHED", store.millis())
runs.set_tag(parent, "pipeline.ran", ",".join(STAGES))
runs.set_terminated(parent, "FINISHED", store.millis())
runs.finish(project.state_dir)
"""


def under_target(what: str, times: list[float]) -> dict:
    """A row of the median of ``times``, judged against the report's target."""
    median = statistics.median(times)
    return {
        "what": f"{what}, median of {len(times)}",
        "seconds": round(median, 2),
        "ratio": None,
        "target": f"< {REPORT_TARGET_S:g} s",
        "pass": median < REPORT_TARGET_S,
    }


def bench_report(workspace: Workspace, args: argparse.Namespace) -> dict:
    """``mlops report build`` over 100 pipeline runs of 4 stages (500 runs),
    logged into the project's SQLite store with the tags the runner writes
    (governed-mlops-tools/tests/report_runs.py, shared with the tests): the
    command's wall time, in one process with MLflow's client open the
    report's own time, and the command on `mlops tracking server` serving
    the same store (MLflow's REST API, no mlflow import)."""
    workspace.render()
    project = workspace.project
    python = venv_exe(workspace.venv, "python")
    helper = REPO / "governed-mlops-tools" / "tests" / "report_runs.py"
    remove(project / "mlruns")
    package = workspace.env_prefix()[:-1].lower()
    uri = "sqlite:///" + (project / "mlruns" / "mlflow.db").as_posix()
    (project / "mlruns").mkdir()
    log(f"logging {REPORT_PIPELINES} pipeline runs of 4 stages")
    sh([python, helper, uri, package, REPORT_PIPELINES], project)
    build = [workspace.mlops, "report", "build"]
    log("mlops report build, first (the runs were logged outside the tools)")
    first = timed(build, project)
    appended = [0]

    def after_a_pipeline(label: str) -> list[float]:
        """Each round: one more pipeline recorded by the runner's store, then
        `mlops report build`."""
        times = []
        for number in range(args.repeat):
            log(f"  {label}round {number + 1}/{args.repeat}")
            appended[0] += 1
            sh(
                [python, "-c", REPORT_APPEND, helper.parent, 1000 + appended[0]],
                project,
            )
            times.append(timed(build, project))
        return times

    commands = after_a_pipeline("")
    inside = [
        float(t)
        for t in sh([python, "-c", REPORT_IN_PROCESS, args.repeat], project).split()
    ]
    prefix = workspace.env_prefix()
    port = free_port()
    log(f"mlops tracking server on 127.0.0.1:{port} (the same store)")
    server = subprocess.Popen(
        [workspace.mlops, "tracking", "server"],
        cwd=project,
        # One worker and no job runner, as the tests start it: enough here.
        env=base_env(
            **{prefix + "MLFLOW_PORT": str(port)},
            MLFLOW_WORKERS="1",
            MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=not WINDOWS,
    )
    uri = f"http://127.0.0.1:{port}"
    served: list[float] = []
    compiled: list[float] = []
    try:
        wait_healthy(uri)
        rest = base_env(**{prefix + "MLFLOW_TRACKING_URI": uri})
        for number in range(args.repeat):
            log(f"  on the server, round {number + 1}/{args.repeat}")
            served.append(timed(build, project, rest))
        log("again with the project venv compiled (UV_COMPILE_BYTECODE=1)")
        workspace.sync(UV_COMPILE_BYTECODE="1")
        for number in range(args.repeat):
            log(f"  on the server, .pyc, round {number + 1}/{args.repeat}")
            compiled.append(timed(build, project, rest))
    finally:
        # The whole group: `mlops tracking server`, mlflow's and uvicorn's.
        if WINDOWS:
            server.terminate()
        else:
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    log("the SQLite store again, .pyc (a first build renews the copy)")
    sh(build, project)
    commands_pyc = after_a_pipeline(".pyc, ")
    what = f"`mlops report build`, {REPORT_PIPELINES} pipeline runs of 4 stages"
    on_server = statistics.median(served)
    return {
        "benchmark": "report",
        "ratio_column": "ratio",
        "times_s": {
            "first": first,
            "command": commands,
            "command_pyc": commands_pyc,
            "in_process": inside,
            "server": served,
            "server_pyc": compiled,
        },
        "rows": [
            ratio_row(
                f"{what}, on a tracking server (REST), the command, no .pyc, "
                f"median of {len(served)} (info)",
                on_server,
            ),
            under_target(f"{what}, on a tracking server (REST), the command", compiled),
            ratio_row(
                f"{what}, SQLite store written outside the tools, the command "
                f"(MlflowClient; info)",
                first,
            ),
            ratio_row(
                f"{what}, SQLite store, after a pipeline, the command, no .pyc, "
                f"median of {len(commands)} (info)",
                statistics.median(commands),
            ),
            under_target(
                f"{what}, SQLite store, after a pipeline, the command", commands_pyc
            ),
            under_target(
                f"{what}, SQLite store, the build with MLflow's client open", inside
            ),
        ],
    }


# --- benchmarks against reference templates ---------------------------------

REFERENCE_TARGET = 1.0  # our wall time / the reference's

# The reference templates: a local git clone of each is given on the command
# line (``--reference NAME=PATH``). ``data``: the answers of the questions that
# have no default (``copier copy --defaults`` stops at them), the fewest that
# render, with the lightest choices; ``extensions``: packages their copier.yml's
# ``_jinja_extensions`` import, put on copier's PYTHONPATH for every template;
# ``init`` and ``test``: how a new project of the template starts and runs its
# tests, from the template's own docs and CI (only a template with ``test`` is
# in ``fresh-project``).
REFERENCES: dict[str, dict] = {
    "copier-uv": {
        "repository": "pawamoy/copier-uv",
        "data": {
            "project_name": "Bench Project",
            "project_description": "A benchmark project.",
        },
        "extensions": ["copier-template-extensions"],
    },
    "dls": {
        "repository": "DiamondLightSource/python-copier-template",
        "data": {
            "package_name": "bench_project",
            "description": "A benchmark project.",
            "git_platform": "github.com",
            "author_name": "Bench",
            "author_email": "bench@example.com",
            "component_owner": "group:default/bench",
            "docker": "false",
            "docs_type": "README",
            "type_checker": "pyright",
            "pypi": "false",
        },
        # docs/tutorials/create-new.md: git init, then copier copy into it.
        "init": [["git", "init", "-q", "--initial-branch=main", "{dest}"]],
        # .github/workflows/_test.yml: `uv run --locked tox -e tests`.
        "test": ["run", "--locked", "tox", "-e", "tests"],
    },
}
# The reference each benchmark's ratios are to.
BASELINE = {"copy": "copier-uv", "fresh-project": "dls"}


class DevCopier:
    """The repository's dev-env copier, used for every template alike, and the
    folder of the Jinja extensions the references load."""

    def __init__(self, workspace: Workspace, extensions: Sequence[str]):
        uv = workspace.uv
        probe = "import sys; print(sys.prefix)"
        prefix = Path(sh([*uv, "run", "--frozen", "python", "-c", probe], REPO).strip())
        self.python = venv_exe(prefix, "python")
        self.exe = venv_exe(prefix, "copier")
        self.version = sh([self.exe, "--version"]).strip()
        self.pyc_files = count_pyc(prefix)
        self.extensions = workspace.root / "copier-extensions"
        self.extension_versions: list[str] = []
        if extensions:
            log(f"{', '.join(extensions)} into {self.extensions} (copier's PYTHONPATH)")
            target = ["--python", self.python, "--target", self.extensions]
            sh([*uv, "pip", "install", "--quiet", "--no-deps", *target, *extensions])
            found = self.extensions.glob("*.dist-info")
            self.extension_versions = sorted(
                p.name[: -len(".dist-info")] for p in found
            )

    def env(self, env: dict[str, str]) -> dict[str, str]:
        """``env`` with the extensions on PYTHONPATH (only copier sees them)."""
        return (
            {**env, "PYTHONPATH": str(self.extensions)}
            if self.extension_versions
            else env
        )

    def copy(self, source: Path, dest: Path, data: dict, *extra: str) -> list[object]:
        cmd: list[object] = [self.exe, "copy", "--trust", "--defaults"]
        cmd += ["--vcs-ref", "HEAD", "--quiet", *extra]
        for key, value in data.items():
            cmd += ["--data", f"{key}={value}"]
        return cmd + [source, dest]


def dev_copier(workspace: Workspace, args: argparse.Namespace) -> DevCopier:
    """The dev-env copier with the extensions of every given reference."""
    given = [name for name, _ in args.reference]
    extensions = [e for n in given for e in REFERENCES[n].get("extensions", [])]
    return workspace.dev_copier(extensions)


def references_of(args: argparse.Namespace, benchmark: str) -> dict[str, Path]:
    """The references given for ``benchmark``, its baseline first."""
    given = dict(args.reference)
    baseline = BASELINE[benchmark]
    if baseline not in given:
        raise SystemExit(
            f"{benchmark} needs --reference {baseline}=PATH, a git clone of "
            f"https://github.com/{REFERENCES[baseline]['repository']} "
            f"(docs/benchmarks.md)"
        )
    return {baseline: given.pop(baseline), **given}


def reference_state(path: Path) -> dict:
    def git(*args: str) -> str:
        return sh(["git", "-C", path, *args]).strip()

    return {
        "path": str(path),
        "head": git("rev-parse", "HEAD"),
        "describe": git("describe", "--tags", "--always"),
    }


def bytecode_envs(workspace: Workspace) -> dict[str, dict[str, str]]:
    """The environments of the two passes: Python without ``.pyc`` for what has
    none (this machine's PYTHONDONTWRITEBYTECODE=1: copier's dev env, every
    generated project), and with ``.pyc`` written and read under one
    PYTHONPYCACHEPREFIX (a normal machine: copier's imports compiled once, a
    new project's on its first run). Nothing is written into the dev env."""
    compiled = base_env(PYTHONPYCACHEPREFIX=str(workspace.root / "pycache"))
    compiled.pop("PYTHONDONTWRITEBYTECODE", None)
    return {"no .pyc": base_env(PYTHONDONTWRITEBYTECODE="1"), ".pyc": compiled}


def side_rounds(sides: dict, repeat: int, label: str, where: Path) -> dict:
    """An untimed warm-up round, then ``repeat`` rounds; each runs every side
    once into a new folder, the order rotated by one every round. A side is a
    function ``dest -> {step: seconds}``; returns ``{side: [steps, ...]}``."""
    names = list(sides)
    times: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for number in range(repeat + 1):
        turn = number % len(names)
        order = names[turn:] + names[:turn]
        what = f"round {number}/{repeat}" if number else "warm-up"
        log(f"  {what} ({label}): {', '.join(order)}")
        for name in order:
            dest = where / f"{name}-{number}"
            steps = sides[name](dest)
            if number:
                times[name].append(steps)
            remove(dest)
    return times


def measure(steps: dict, step: str, cmd, cwd: Path, env: dict) -> None:
    """Run ``cmd``: its wall seconds go to ``steps[step]`` and, where the
    ``resource`` module exists, its command tree's CPU seconds to
    ``steps[step + " cpu"]`` (less disturbed by other load on the machine)."""
    before = children_cpu()
    steps[step] = timed(cmd, cwd, env)
    after = children_cpu()
    if before is not None and after is not None:
        steps[f"{step} cpu"] = after - before


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {step: statistics.median(run[step] for run in runs) for step in runs[0]}


def ratio_row(what, seconds, baseline=None, target=False) -> dict:
    """A row of seconds, their ratio to ``baseline`` seconds and, with
    ``target``, whether the ratio is within :data:`REFERENCE_TARGET`."""
    ratio = seconds / baseline if baseline else None
    return {
        "what": what,
        "seconds": round(seconds, 3),
        "ratio": None if ratio is None else round(ratio, 2),
        "target": f"<= {REFERENCE_TARGET:g}x" if target else "",
        "pass": ratio <= REFERENCE_TARGET if target and ratio is not None else None,
    }


# --- benchmark: copier copy -------------------------------------------------------

# Our copy's tasks (copier.yml's _tasks), run one by one in the profile side.
TASKS = {
    "init_git": ["hooks/init_git.py"],
    "source_path": ["hooks/source_path.py", ".copier-answers.yml"],
    "policy_report": ["hooks/policy_report.py", "--patterns-only"],  # as after_copy
}


def copy_rows(times: dict, references: list[str], baseline: str) -> list[dict]:
    """The copy benchmark's rows: medians, ratios to the baseline's copy."""
    rows = []
    for label, runs in times.items():
        sides = {name: medians(runs[name]) for name in ["ours", *references]}
        base = sides[baseline]["copy"]
        rows.append(ratio_row(f"`copier copy` {baseline}, {label}, median", base, base))
        rows.append(
            ratio_row(
                f"`copier copy` ours (tasks, policy report), {label}, median",
                sides["ours"]["copy"],
                base,
                target=True,
            )
        )
        for name in references:
            if name != baseline:
                what = f"`copier copy` {name}, {label}, median (info)"
                rows.append(ratio_row(what, sides[name]["copy"], base))
                what = f"ours / {name}, {label} (info)"
                rows.append(ratio_row(what, sides["ours"]["copy"], sides[name]["copy"]))
        if "copy cpu" in sides["ours"]:
            base_cpu = sides[baseline]["copy cpu"]
            for name in sides:
                what = f"CPU seconds of `copier copy` {name}, {label}, median (info)"
                rows.append(ratio_row(what, sides[name]["copy cpu"], base_cpu))
        for step, seconds in medians(runs["ours, tasks one by one"]).items():
            if not step.endswith(" cpu"):
                what = f"ours, {step} alone, {label}, median (info)"
                rows.append(ratio_row(what, seconds, base))
    return rows


def bench_copy(workspace: Workspace, args: argparse.Namespace) -> dict:
    """``copier copy --defaults`` of this template (tasks and policy report
    included) side by side with the references', interleaved rounds, medians.

    Every template is copied by the same copier (the repository's dev env) with
    ``--trust --defaults --vcs-ref HEAD --quiet`` and each reference's minimal
    ``--data``. A fifth side profiles ours: the copy with ``--skip-tasks``
    (copier's own work), then each task's command alone in it, run from a new
    clone of the template as copier runs them. Twice: without and with ``.pyc``.
    """
    references = references_of(args, "copy")
    baseline = BASELINE["copy"]
    template = workspace.snapshot()
    copier = dev_copier(workspace, args)
    log(f"{copier.version} ({copier.exe}, {copier.pyc_files} .pyc files in its env)")

    def copy_side(source: Path, data: dict, env: dict) -> Callable:
        def run(dest: Path) -> dict[str, float]:
            steps: dict[str, float] = {}
            cmd = copier.copy(source, dest, data)
            measure(steps, "copy", cmd, workspace.root, copier.env(env))
            return steps

        return run

    def profile_side(env: dict) -> Callable:
        def run(dest: Path) -> dict[str, float]:
            steps: dict[str, float] = {}
            cmd = copier.copy(template, dest, {}, "--skip-tasks")
            measure(steps, "copy --skip-tasks", cmd, workspace.root, copier.env(env))
            clone = dest.with_name(dest.name + "-template")
            sh(["git", "clone", "-q", template, clone])  # as copier's checkout
            for name, task in TASKS.items():
                command = [copier.python, clone / task[0], *task[1:]]
                measure(steps, name, command, dest, copier.env(env))
            remove(clone)
            return steps

        return run

    times: dict[str, dict] = {}
    for label, env in bytecode_envs(workspace).items():
        sides = {"ours": copy_side(template, {}, env)}
        for name, path in references.items():
            sides[name] = copy_side(path, REFERENCES[name]["data"], env)
        sides["ours, tasks one by one"] = profile_side(env)
        where = workspace.root / "copies" / label.replace(" ", "-").strip(".")
        times[label] = side_rounds(sides, args.repeat, label, where)

    rows = copy_rows(times, list(references), baseline)
    return {
        "benchmark": "copy",
        "ratio_column": f"ratio to {baseline}",
        "copier": {
            "version": copier.version,
            "exe": str(copier.exe),
            "env_pyc_files": copier.pyc_files,
            "extensions": copier.extension_versions,
        },
        "references": {
            name: {**reference_state(path), "data": REFERENCES[name]["data"]}
            for name, path in references.items()
        },
        "options": "--trust --defaults --vcs-ref HEAD --quiet",
        "times_s": times,
        "bytecode_note": "'no .pyc': copier's dev env without .pyc, as on this "
        "machine (PYTHONDONTWRITEBYTECODE=1); '.pyc': written and read under one "
        "PYTHONPYCACHEPREFIX after the warm-up round, as on a normal machine. "
        "The templates' own hooks and extensions come from copier's new clone "
        "of the template on every copy, so they compile on every copy either way.",
        "rows": rows,
    }


# --- benchmark: a fresh project's first green tests --------------------------------


def site_packages_count(project: Path) -> int:
    """Distributions installed in the project's .venv."""
    lib = project / ".venv" / ("Lib" if WINDOWS else "lib")
    return sum(1 for _ in lib.glob("**/site-packages/*.dist-info"))


def fresh_rows(times: dict, references: list[str], baseline: str) -> list[dict]:
    """The fresh-project rows: totals and steps, ratios to the baseline's."""
    rows = []
    for label, runs in times.items():
        base = medians(runs[baseline])
        for name in [*references, "ours"]:
            steps = medians(runs[name])
            is_ours = name == "ours"
            what = f"{name}: copy, `uv sync`, tests, {label}, median"
            rows.append(ratio_row(what, steps["total"], base["total"], is_ours))
            for step, seconds in steps.items():
                if step != "total" and not step.endswith("cpu"):
                    what = f"{name}, {step}, {label}, median (info)"
                    rows.append(ratio_row(what, seconds, base.get(step)))
            if "total cpu" in steps:
                what = f"{name}, CPU seconds of all steps, {label}, median (info)"
                rows.append(ratio_row(what, steps["total cpu"], base["total cpu"]))
    return rows


def bench_fresh_project(workspace: Workspace, args: argparse.Namespace) -> dict:
    """A new project to green tests: ``copier copy --defaults``, ``uv sync``,
    the project's own test command; ours beside each reference that says how
    its projects run tests, in interleaved rounds after a warm-up round (the uv
    cache warm: our tools built from the snapshot's tag, every wheel cached).

    Ours: copy (tasks included), ``uv sync``, ``uv run pytest`` (the generated
    README). DLS: ``git init`` then copy (its docs), ``uv sync``, ``uv run
    --locked tox -e tests`` (its CI). The same copier, uv and Python for all.
    """
    references = references_of(args, "fresh-project")
    references = {n: p for n, p in references.items() if "test" in REFERENCES[n]}
    baseline = BASELINE["fresh-project"]
    template = workspace.snapshot()
    copier = dev_copier(workspace, args)
    uv = workspace.uv
    python = find_python(workspace.python_version)
    packages: dict[str, int] = {}

    def side(name: str, source: Path, env: dict) -> Callable:
        recipe = REFERENCES.get(name, {})
        test = [*uv, *recipe["test"]] if recipe else [*uv, "run", "pytest"]

        def run(dest: Path) -> dict[str, float]:
            steps: dict[str, float] = {}
            for init in recipe.get("init", []):
                cmd = [str(part).replace("{dest}", str(dest)) for part in init]
                measure(steps, " ".join(init[:2]), cmd, workspace.root, env)
            cmd = copier.copy(source, dest, recipe.get("data", {}))
            measure(steps, "copy", cmd, workspace.root, copier.env(env))
            measure(steps, "uv sync", [*uv, "sync", "--python", python], dest, env)
            packages[name] = site_packages_count(dest)
            measure(steps, "tests", test, dest, env)
            steps["total"] = sum(v for k, v in steps.items() if not k.endswith("cpu"))
            cpu = [v for k, v in steps.items() if k.endswith(" cpu")]
            if cpu:
                steps["total cpu"] = sum(cpu)
            return steps

        return run

    times: dict[str, dict] = {}
    for label, env in bytecode_envs(workspace).items():
        sides = {"ours": side("ours", template, env)}
        for name, path in references.items():
            sides[name] = side(name, path, env)
        where = workspace.root / "fresh" / label.replace(" ", "-").strip(".")
        times[label] = side_rounds(sides, args.repeat, label, where)
    log(f"distributions installed: {packages}")

    rows = fresh_rows(times, list(references), baseline)
    return {
        "benchmark": "fresh-project",
        "ratio_column": f"ratio to {baseline}",
        "copier": {"version": copier.version, "exe": str(copier.exe)},
        "python": python,
        "references": {
            name: {**reference_state(path), **REFERENCES[name]}
            for name, path in references.items()
        },
        "tests": {"ours": "uv run pytest"},
        "distributions_installed": packages,
        "times_s": times,
        "bytecode_note": "Every project is new, so its tests compile their imports "
        "from source on either pass (as a first run does anywhere); the passes "
        "differ in copier's own imports (copy step) and in whether the tests' "
        "imports write .pyc (under one PYTHONPYCACHEPREFIX).",
        "rows": rows,
    }


# --- benchmark: fleet ------------------------------------------------------------

FLEET_REPORT_TARGET_S = 30.0
FLEET_UPDATE_TARGET_S = 3.0
# Renovate's documentation: about 9 s a repository (a reference, not measured).
RENOVATE_S_PER_REPO = 9.0


def released_template(dest: Path) -> Path:
    """This repository with its history and release tags, plus the working tree
    as a commit tagged with the tools version (tests/conftest.py's
    released_template_repo): what projects of older releases update from."""
    env = base_env(**GIT_WHO)
    sh(["git", "clone", "-q", "--no-local", REPO, dest], REPO, env)
    for child in dest.iterdir():
        if child.is_dir() and child.name != ".git":
            remove(child)
        elif child.is_file():
            child.unlink()
    listed = sh(["git", "ls-files", "-co", "--exclude-standard", "-z"], REPO)
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    sh(["git", "add", "-A"], dest, env)
    sh(["git", "commit", "-q", "--allow-empty", "-m", "work tree"], dest, env)
    sh([sys.executable, dest / "tools" / "releases.py", "tags"], dest, env)
    sh(["git", "tag", "-f", "-a", TOOLS_VERSION, "-m", "work tree"], dest, env)
    return dest


def bench_fleet(workspace: Workspace, args: argparse.Namespace) -> dict:
    """``mlops fleet report`` over 100 local projects (clones of four generated
    at 1.0.0, 1.1.0, 1.2.0 and the work tree's version) with ``--jobs 2``; then
    ``mlops fleet update --to <tools version> --no-tests --jobs 2`` over
    projects of 1.1.0 and 1.2.0 (``--quick``: 4, else 10), seconds per project,
    with the seconds of each step summed over the projects (the state file's
    ``steps``): where the time goes."""
    python = dev_python()
    workspace.template_state = git_state()
    root = workspace.root / "fleet"
    remove(root)
    root.mkdir(parents=True)
    log("the template with its release tags")
    template = released_template(root / "governed-mlops")
    env = base_env(**GIT_WHO)
    bases = {}
    for version in ("1.0.0", "1.1.0", "1.2.0", TOOLS_VERSION):
        base = root / f"base-{version}"
        log(f"copier copy at {version}")
        sh(
            [python, "-m", "copier", "copy", "--trust", "--defaults", "--quiet"]
            + ["--vcs-ref", version, template, base],
            root,
            env,
        )
        sh([*workspace.uv, "lock", "--quiet"], base, env)  # committed (GOV106)
        sh(["git", "add", "-A"], base, env)
        sh(["git", "commit", "-q", "-m", "generated"], base, env)
        bases[version] = base
    projects = root / "projects"
    versions = list(bases)
    for number in range(100):
        base = bases[versions[number % len(versions)]]
        sh(["git", "clone", "-q", base, projects / f"p{number:03}"], root, env)
    fleet = [python, "-m", "governed_mlops", "fleet"]
    log("mlops fleet report over 100 projects, --jobs 2")
    report_s = timed(
        [*fleet, "report", "--under", projects, "--jobs", "2"] + ["--format", "json"],
        root,
        env,
    )
    count = 4 if args.quick else 10
    old = [bases["1.1.0"], bases["1.2.0"]]
    # Without .pyc (this machine's PYTHONDONTWRITEBYTECODE, if set), then with
    # them in one cache folder, as a platform team's machine runs: every
    # project starts copier, its migrations and uv anew.
    compiled = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    compiled["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    sides = {"no .pyc": {**env, "PYTHONDONTWRITEBYTECODE": "1"}, ".pyc": compiled}
    updates: dict[str, dict] = {}
    for label, side_env in sides.items():
        side = root / label.replace(" ", "-").replace(".", "")
        targets = [side / f"u{n:02}" for n in range(count)]
        for n, target in enumerate(targets):
            sh(["git", "clone", "-q", old[n % 2], target], root, env)
        # One project first: uv builds the pinned tools from the template once
        # (and, on the .pyc side, the imports are compiled).
        log(f"warm-up, {label}: one update")
        warm = side / "warm"
        sh(["git", "clone", "-q", old[1], warm], root, env)
        sh(
            [*fleet, "update", "--to", TOOLS_VERSION, "--no-tests"]
            + ["--workdir", side / "warm-work", warm],
            root,
            side_env,
            returncode=0,
        )
        log(f"mlops fleet update --no-tests over {count} projects, --jobs 2, {label}")
        work = side / "work"
        seconds = timed(
            [*fleet, "update", "--to", TOOLS_VERSION, "--no-tests"]
            + ["--jobs", "2", "--workdir", work, *targets],
            root,
            side_env,
        )
        state = json.loads((work / "fleet-state.json").read_text(encoding="utf-8"))
        steps: dict[str, float] = {}
        for record in state["projects"].values():
            for step, spent in record["evidence"].get("steps", {}).items():
                steps[step] = round(steps.get(step, 0.0) + spent, 2)
        updates[label] = {
            "total": seconds,
            "steps_summed": steps,
            "outcomes": [p["outcome"] for p in state["projects"].values()],
        }
    rows = [
        {
            "what": "`mlops fleet report`, 100 local projects, --jobs 2",
            "seconds": round(report_s, 2),
            "ratio": None,
            "target": f"< {FLEET_REPORT_TARGET_S:g} s",
            "pass": report_s < FLEET_REPORT_TARGET_S,
        },
    ]
    for label, measured in updates.items():
        per_project = measured["total"] / count
        rows.append(
            {
                "what": f"`mlops fleet update --no-tests --jobs 2`, {count} "
                f"projects, per project, {label}",
                "seconds": round(per_project, 2),
                "ratio": None,
                "target": f"< {FLEET_UPDATE_TARGET_S:g} s",
                "pass": per_project < FLEET_UPDATE_TARGET_S,
            }
        )
    rows.append(
        {
            "what": "Renovate, per repository (its docs; reference, not measured)",
            "seconds": RENOVATE_S_PER_REPO,
            "ratio": None,
            "target": "",
            "pass": None,
        }
    )
    return {
        "benchmark": "fleet",
        "ratio_column": "ratio",
        "times_s": {"report_100": report_s},
        "updates": updates,
        "rows": rows,
    }


BENCHMARKS: dict[str, Callable[[Workspace, argparse.Namespace], dict]] = {
    "stage-envs": bench_stage_envs,
    "runner": bench_runner,
    "cached-pipeline": bench_cached,
    "policy": bench_policy,
    "audit": bench_audit,
    "team-server": bench_team_server,
    "report": bench_report,
    "copy": bench_copy,
    "fresh-project": bench_fresh_project,
    "fleet": bench_fleet,
}


def table(result: dict) -> str:
    ratio_column = result.get("ratio_column", "ratio vs original")
    lines = [
        f"| what | seconds | {ratio_column} | target | pass |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    for row in result["rows"]:
        ratio = "" if row["ratio"] is None else f"{row['ratio']:g}x"
        ok = {True: "pass", False: "FAIL", None: ""}[row["pass"]]
        seconds = "" if row["seconds"] is None else f"{row['seconds']:.2f}"
        lines.append(
            f"| {row['what']} | {seconds} | {ratio} | {row['target']} | {ok} |"
        )
    return "\n".join(lines)


def reference_arg(value: str) -> tuple[str, Path]:
    name, _, path = value.partition("=")
    if name not in REFERENCES or not path:
        known = ", ".join(REFERENCES)
        raise argparse.ArgumentTypeError(f"not NAME=PATH with NAME one of {known}")
    folder = Path(path).expanduser().resolve()
    if not (folder / ".git").exists():
        raise argparse.ArgumentTypeError(f"{folder} is not a git clone")
    return name, folder


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure governed-mlops against the original design, side by "
        "side, on a project rendered from this working tree.",
    )
    parser.add_argument(
        "benchmark",
        choices=[*BENCHMARKS, "all"],
        help="which benchmark to run (all: every one, sharing one project)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="runs of each no-op measurement, rounds of the side-by-side "
        "benchmarks (default: %(default)s)",
    )
    parser.add_argument(
        "--python",
        default="3.11",
        help="python_version answer of the rendered project (default: %(default)s)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="skip the informational rows (pip --no-compile, UV_COMPILE_BYTECODE)",
    )
    parser.add_argument(
        "--reference",
        action="append",
        default=[],
        type=reference_arg,
        metavar="NAME=PATH",
        help=f"a git clone of a reference template ({', '.join(REFERENCES)}) for "
        "copy and fresh-project; repeatable",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temp dir (its path is logged)"
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS,
        help="folder of the JSON results (default: benchmarks/results/)",
    )
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    names = list(BENCHMARKS) if args.benchmark == "all" else [args.benchmark]
    given = {name for name, _ in args.reference}
    for name in [n for n in names if n in BASELINE and BASELINE[n] not in given]:
        if args.benchmark != "all":
            references_of(args, name)  # exits: how to get the reference
        log(f"skipping {name}: no --reference {BASELINE[name]}=PATH")
        names.remove(name)
    root = Path(tempfile.mkdtemp(prefix="governed-mlops-bench-"))
    workspace = Workspace(root, args.python)
    today = datetime.date.today().isoformat()
    try:
        for name in names:
            log(f"benchmark {name}")
            result = BENCHMARKS[name](workspace, args)
            result.update(date=today, machine=machine(workspace.uv))
            result.update(template=workspace.template_state)
            args.results.mkdir(parents=True, exist_ok=True)
            out = args.results / f"{name.replace('-', '_')}.json"
            out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
            print(f"## {name} ({today}, {os.cpu_count()} cores)\n")
            print(table(result))
            print(f"\n{result.get('bytecode_note', '')}\nJSON: {out}\n", flush=True)
    except StepFailed as error:
        log(f"failed: {error}")
        return 1
    finally:
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
