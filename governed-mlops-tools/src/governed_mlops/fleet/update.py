"""``mlops fleet update``: each project updated in its own clone, on a new
branch, classified, and (when clean) committed with a pull-request text."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from ..errors import CommandError
from ..files import remove_tree
from . import classify as outcomes, copier_worker
from .classify import Evidence, access_problem, classify, conflicted_files, tail
from ..gitcmd import GitError, GitMissing
from .clones import clone, git, identity_env
from .describe import changelog_entries, description, title
from ..policy.versions import is_release
from .inspect import PolicyResult, check_policy, read_answers
from .sources import Source, is_url, named, renamed
from .state import Record, State

SKIP_REPORT = {"GOVERNED_MLOPS_SKIP_POLICY_REPORT": "1"}
COPIER_FLAGS = ("--trust", "--defaults", "--skip-answered")
HOOK_PREFIX = "MLOPS_FLEET_"


@dataclass
class Options:
    version: str
    workdir: Path
    branch: str
    tests: bool = True
    test_command: Sequence[str] = ("uv", "run", "pytest", "-q")
    hook: Optional[str] = None
    jobs: int = 2
    retry: bool = False
    verbose: bool = False
    say: Callable[[str], None] = field(default=lambda line: None)


@dataclass
class PolicyAfter:
    errors: list[str]
    warnings: list[str]
    conflict_files: list[str]  # GOV202's
    checked_by: str


def uv_command() -> str:
    """The tools env's uv (its ``uv`` package), else the one on PATH."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("uv")
    if found is None:
        raise CommandError("uv is not installed (pip install uv)")
    return found


class Log:
    """A project's log file in the work folder: every command and its output."""

    def __init__(self, path: Path, options: Options, name: str):
        self.path, self.options, self.name = path, options, name
        path.write_text("", encoding="utf-8")

    def run(
        self,
        cmd: Sequence[str],
        cwd: Path,
        env: Optional[dict[str, str]] = None,
    ) -> subprocess.CompletedProcess[str]:
        shown = shlex.join(cmd)
        if self.options.verbose:
            self.options.say(f"{self.name}: $ {shown}")
        full_env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
        done = subprocess.run(
            list(cmd),
            cwd=cwd,
            env={**full_env, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        with self.path.open("a", encoding="utf-8") as log:
            log.write(f"$ {shown}  (exit {done.returncode})\n{done.stdout}\n")
        return done

    def copier_update(
        self, workers: Executor, project: Path, version: str
    ) -> subprocess.CompletedProcess[str]:
        """``copier update`` of ``project`` in one of the campaign's workers,
        logged as a command is."""
        cmd = ["copier", "update", *COPIER_FLAGS, "--vcs-ref", version]
        shown = shlex.join(cmd)
        if self.options.verbose:
            self.options.say(f"{self.name}: $ {shown}  (in a worker process)")
        with self.path.open("a", encoding="utf-8") as log:
            log.write(f"$ {shown}  (in a worker process)\n")
        start = self.path.stat().st_size
        code = workers.submit(
            copier_worker.update, str(project), version, str(self.path)
        ).result()
        with self.path.open("rb") as log:
            log.seek(start)
            output = log.read().decode("utf-8", "replace")
        with self.path.open("a", encoding="utf-8") as log:
            log.write(f"(exit {code})\n")
        return subprocess.CompletedProcess(cmd, code, output)


class Templates:
    """The template at the target version, cloned once per source URL: its
    policy checker and changelog."""

    def __init__(self, workdir: Path, version: str):
        self.root = workdir / ".template"
        self.version = version
        self._lock = threading.Lock()

    def checkout(self, src_path: str) -> Path:
        location = expand_source(src_path)
        key = hashlib.sha256(location.encode()).hexdigest()[:12]
        dest = self.root / f"{self.version}-{key}"
        with self._lock:
            if not (dest / ".git").exists():
                if not is_url(location):
                    location = Path(location).expanduser().as_uri()
                dest.parent.mkdir(parents=True, exist_ok=True)
                partial = dest.with_name(dest.name + ".partial")
                if partial.exists():
                    remove_tree(partial)
                git(
                    ["clone", "--quiet", "--depth", "1", "--branch", self.version]
                    + [location, str(partial)],
                    dest.parent,
                )
                if dest.exists():  # a folder left without its .git
                    remove_tree(dest)
                partial.rename(dest)
        return dest


class Locker:
    """``uv lock`` for the projects of one campaign.

    The first lock reads the index (uv revalidates every page it uses); the
    others resolve offline, from the pages uv has cached, which that first
    lock refreshed, and read the index only when something is missing. Either
    way a project gets a valid resolution of its own requirements; offline
    spares each project seconds of waiting on the index."""

    def __init__(self, uv: str):
        self.uv = uv
        self._claim = threading.Lock()
        self._claimed = False
        self._fresh = threading.Event()

    def lock(
        self, run: Callable[[list[str]], subprocess.CompletedProcess[str]]
    ) -> tuple[subprocess.CompletedProcess[str], str]:
        """``run``'s result for the lock command and how it resolved:
        ``online`` or ``offline``."""
        online = [self.uv, "lock", "--quiet"]
        with self._claim:
            first, self._claimed = not self._claimed, True
        if first:
            try:
                return run(online), "online"
            finally:
                self._fresh.set()
        self._fresh.wait()
        done = run(online + ["--offline"])
        if done.returncode == 0:
            return done, "offline"
        return run(online), "online"


def expand_source(src_path: str) -> str:
    """copier's ``gh:``/``gl:`` shortcuts as URLs."""
    for prefix, host in (
        ("gh:", "https://github.com/"),
        ("gl:", "https://gitlab.com/"),
    ):
        if src_path.startswith(prefix):
            return host + src_path[len(prefix) :]
    return src_path


def policy_after(project: Path, template: Path) -> PolicyAfter:
    """The target version's policy on the updated project: the checker of the
    tools in the template checkout, in process when they are these tools'
    version (the policy version is the tools' version)."""
    from .._toml import toml
    from ..policy import POLICY_VERSION

    tools = template / "governed-mlops-tools" / "pyproject.toml"
    target = toml.loads(tools.read_text(encoding="utf-8"))["project"]["version"]
    if target == POLICY_VERSION:
        result = check_policy(project, dt.date.today())
        gov202 = []
        if "GOV202" in result.error_rules():
            from ..policy import check

            report = check(project, plugins=False, write_cache=False)
            gov202 = [
                f.path
                for o in report.outcomes
                if o.rule.id == "GOV202"
                for f in o.findings
                if f.path
            ]
        return PolicyAfter(
            result.error_rules(),
            result.warning_rules(),
            gov202,
            POLICY_VERSION,
        )
    src = template / "governed-mlops-tools" / "src"
    done = subprocess.run(
        [sys.executable, "-m", "governed_mlops.policy", "--format", "json"]
        + ["--no-plugins", "--exit-zero", str(project)],
        env={**os.environ, "PYTHONPATH": str(src)},
        cwd=project,
        capture_output=True,
        text=True,
    )
    try:
        data = json.loads(done.stdout)
    except ValueError:
        raise CommandError(
            f"the policy check of {target} failed: {tail(done.stderr, 3)}"
        ) from None
    failed = [r for r in data["rules"] if r["status"] == "failed"]
    return PolicyAfter(
        [r["id"] for r in failed if r["effective_severity"] == "error"],
        [r["id"] for r in failed if r["effective_severity"] != "error"],
        [
            f["path"]
            for r in failed
            if r["id"] == "GOV202"
            for f in r["findings"]
            if f["path"]
        ],
        str(data["policy_version"]),
    )


@dataclass
class Campaign:
    """What the projects of one ``fleet update`` share."""

    options: Options
    templates: Templates
    locker: Locker
    state: State
    copier: Executor  # copier_worker's processes


def update_one(source: Source, campaign: Campaign) -> Record:
    """Update one project in ``<workdir>/<name>/``; never raises."""
    started = time.monotonic()
    state = campaign.state
    record = Record(source.name, source.location)
    state.save(record)
    steps: dict[str, float] = {}
    try:
        record.outcome = _update(source, campaign, record, steps)
    except Exception as error:  # one project must not stop the campaign
        record.outcome = outcomes.ERROR
        record.evidence["error"] = f"{type(error).__name__}: {error}"
    record.evidence["steps"] = {k: round(v, 2) for k, v in steps.items()}
    record.seconds = round(time.monotonic() - started, 2)
    state.save(record)
    return record


def _cannot_update(
    answers: Mapping[str, Any], old: str, version: str, templates: Templates
) -> str:
    """Why copier must not update this project to ``version`` (empty: it
    may), checked before the project's clone gets a branch: a template
    source copier would resolve from the wrong folder, a downgrade, a
    template without that release."""
    from packaging.version import Version

    from ..template_source import is_relative

    src = str(answers.get("_src_path") or "")
    if not src:
        return ".copier-answers.yml has no _src_path: copier cannot find the template"
    if is_relative(src):
        return (
            f".copier-answers.yml: _src_path {src!r} is a relative path, which "
            f"copier resolves from the folder it runs in (policy rule GOV402): "
            f"set it to the template's git URL or absolute path and commit"
        )
    if is_release(old) and Version(old) > Version(version):
        return (
            f"the project is at {old}, newer than {version}: a fleet update never "
            f"goes back; give --to {old} or later"
        )
    try:
        templates.checkout(src)
    except GitMissing:
        raise
    except GitError as error:
        return f"the template at {src} has no release {version}: {error}"
    return ""


def _timed(steps: dict[str, float], name: str, started: float) -> None:
    steps[name] = steps.get(name, 0.0) + time.monotonic() - started


def _update(
    source: Source,
    campaign: Campaign,
    record: Record,
    steps: dict[str, float],
) -> str:
    options, templates = campaign.options, campaign.templates
    workdir, version = options.workdir, options.version
    project = workdir / source.name
    (workdir / f"{source.name}.pr.md").unlink(missing_ok=True)  # an earlier run's
    t = time.monotonic()
    clone(source.location, project, shallow=False)
    _timed(steps, "clone", t)
    answers, why_not = read_answers(project)
    if answers is None:
        record.evidence["why"] = why_not
        return outcomes.NOT_GOVERNED
    record.old_version = old = str(answers.get("_commit", ""))
    if old == version:
        return outcomes.UP_TO_DATE
    problem = _cannot_update(answers, old, version, templates)
    if problem:
        record.evidence["error"] = problem
        return outcomes.ERROR
    log = Log(workdir / f"{source.name}.log", options, source.name)
    record.evidence["log"] = str(log.path)
    t = time.monotonic()
    before = check_policy(project, dt.date.today())
    _timed(steps, "policy", t)
    git(["checkout", "--quiet", "-b", options.branch], project)
    t = time.monotonic()
    copier = log.copier_update(campaign.copier, project, version)
    _timed(steps, "copier", t)
    evidence = Evidence(copier_ok=copier.returncode == 0)
    if not evidence.copier_ok:
        record.evidence["output"] = tail(copier.stdout)
        return classify(evidence)
    if not _lock_and_test(project, campaign, log, evidence, record, steps):
        return outcomes.ERROR
    template = templates.checkout(
        str((read_answers(project)[0] or answers).get("_src_path", ""))
    )
    t = time.monotonic()
    after = policy_after(project, template)
    _timed(steps, "policy", t)
    outcome = _classified(project, evidence, before, after, record)
    if outcome != outcomes.CLEAN:
        return outcome
    text = description(
        source.name,
        old,
        version,
        changelog_entries(
            (template / "docs" / "changelog.md").read_text(encoding="utf-8"),
            old,
            version,
        ),
        (before.error_rules(), before.warning_rules()),
        (after.errors, after.warnings),
        (before.checked_by, after.checked_by),
    )
    body = workdir / f"{source.name}.pr.md"
    body.write_text(text, encoding="utf-8")
    record.evidence["description"] = str(body)
    git(["add", "-A"], project)
    git(
        [
            "commit",
            "--quiet",
            "--no-verify",
            "-m",
            title(version),
            "-m",
            f"governed-mlops {old} -> {version}, by mlops fleet update.",
        ],
        project,
        env=identity_env(project),
    )
    if options.hook:
        t = time.monotonic()
        hooked = log.run(
            shell_command(options.hook), project, hook_env(source, options, old, body)
        )
        _timed(steps, "hook", t)
        record.evidence["hook"] = tail(hooked.stdout, 10)
        if hooked.returncode != 0:
            record.evidence["error"] = f"the hook exited {hooked.returncode}"
            return outcomes.ERROR
    return outcome


def _classified(
    project: Path,
    evidence: Evidence,
    before: PolicyResult,
    after: PolicyAfter,
    record: Record,
) -> str:
    """The outcome, with its evidence and the policy before and after in
    ``record``."""
    unmerged = git(["ls-files", "-u"], project)
    others = git(["ls-files", "-o", "--exclude-standard"], project)
    rejects = [n for n in others.splitlines() if n.endswith(".rej")]
    evidence.conflicts = conflicted_files(unmerged, rejects, after.conflict_files)
    evidence.policy_errors = after.errors
    outcome = classify(evidence)
    record.evidence["policy_before"] = {
        "errors": before.error_rules(),
        "warnings": before.warning_rules(),
        "checked_by": before.checked_by,
    }
    record.evidence["policy_after"] = {
        "errors": after.errors,
        "warnings": after.warnings,
        "checked_by": after.checked_by,
    }
    if outcome == outcomes.CONFLICTS:
        record.evidence["files"] = evidence.conflicts
    elif outcome == outcomes.TESTS_FAILED:
        record.evidence["output"] = evidence.tests_output
    elif outcome == outcomes.POLICY_FAILED:
        record.evidence["rules"] = after.errors
    return outcome


def _lock_and_test(
    project: Path,
    campaign: Campaign,
    log: Log,
    evidence: Evidence,
    record: Record,
    steps: dict[str, float],
) -> bool:
    """``uv lock``, then (``--tests``) ``uv sync`` and the tests, into
    ``evidence``; False when the package index refused or could not be
    reached (the record then says so)."""
    options, uv = campaign.options, campaign.locker.uv
    t = time.monotonic()
    locked, record.evidence["lock"] = campaign.locker.lock(
        lambda cmd: log.run(cmd, project)
    )
    _timed(steps, "lock", t)
    if locked.returncode != 0:
        if _no_index_access(record, "uv lock", locked.stdout, log):
            return False
        evidence.tests_ok = False
        evidence.tests_output = "uv lock failed:\n" + tail(locked.stdout)
        return True
    git(["add", "uv.lock"], project)  # staged, as the commit will have it (GOV106)
    if not options.tests:
        return True
    t = time.monotonic()
    tested = log.run([uv, "sync", "--quiet"], project)
    if tested.returncode != 0 and _no_index_access(
        record, "uv sync", tested.stdout, log
    ):
        return False
    if tested.returncode == 0:
        tested = log.run(list(options.test_command), project)
    _timed(steps, "tests", t)
    evidence.tests_ok = tested.returncode == 0
    evidence.tests_output = tail(tested.stdout)
    return True


def _no_index_access(record: Record, step: str, output: str, log: Log) -> bool:
    """Whether ``step`` failed because the package index refused or could
    not be reached: then the record says so, an ``error`` to fix and retry,
    not the project's tests failing."""
    line = access_problem(output)
    if line is None:
        return False
    record.evidence["error"] = (
        f"{step} could not use the package index: {line} (log: {log.path}); "
        f"fix the access (the index's token, UV_INDEX_* or the network), then "
        f"--retry"
    )
    return True


def shell_command(command: str) -> list[str]:
    """The platform team's ``--hook`` command line, run by the system's shell."""
    return ["cmd", "/c", command] if os.name == "nt" else ["/bin/sh", "-c", command]


def hook_env(source: Source, options: Options, old: str, body: Path) -> dict[str, str]:
    """What the hook is told; credentials come from the caller's environment."""
    values = {
        "BRANCH": options.branch,
        "VERSION": options.version,
        "FROM_VERSION": old,
        "TITLE": title(options.version),
        "BODY_FILE": str(body),
        "SOURCE": source.location,
        "PROJECT": source.name,
    }
    return {HOOK_PREFIX + k: v for k, v in values.items()}


def run(sources: Sequence[Source], options: Options) -> list[Record]:
    """The campaign: projects not yet settled are updated, ``jobs`` at a
    time; returns every project's record, in the order of ``sources``."""
    options.workdir.mkdir(parents=True, exist_ok=True)
    state = State(options.workdir, options.version)
    # Names as the work folder knows them: a project keeps its clone, log and
    # record when another of the same folder name joins the campaign.
    sources = named([s.location for s in sources], state.taken())
    to_do = state.to_do(sources, options.retry)
    kept = len(sources) - len(to_do)
    if kept:
        options.say(f"{kept} project(s) already classified for {options.version}")
    locker = Locker(uv_command())
    done = [0]
    with copier_worker.pool(options.jobs, SKIP_REPORT) as workers:
        campaign = Campaign(
            options,
            Templates(options.workdir, options.version),
            locker,
            state,
            workers,
        )

        def one(source: Source) -> Record:
            record = update_one(source, campaign)
            done[0] += 1
            options.say(
                f"[{done[0]}/{len(to_do)}] {source.name}: {record.outcome} "
                f"({record.seconds:.1f} s)"
            )
            return record

        with ThreadPoolExecutor(max(1, options.jobs)) as pool:
            list(pool.map(one, to_do))
    return [state.records[s.name] for s in sources]


def brief(record: Record) -> str:
    """The evidence in a few words, for the summary table."""
    ev = record.evidence
    if record.outcome == outcomes.CONFLICTS:
        return ", ".join(ev.get("files", []))
    if record.outcome == outcomes.POLICY_FAILED:
        return ", ".join(ev.get("rules", []))
    if record.outcome in (outcomes.TESTS_FAILED, outcomes.MIGRATION_FAILED):
        lines = str(ev.get("output", "")).splitlines()
        return (lines[-1] if lines else "") + f" (log: {ev.get('log', '')})"
    if record.outcome == outcomes.CLEAN:
        return str(ev.get("description", ""))
    return str(ev.get("error") or ev.get("why") or "")


def summary(records: Sequence[Record], version: str) -> str:
    """The campaign as a table; with a ``source`` column when two projects
    share a folder name (``churn``, ``churn-2``)."""
    located = renamed((r.name, r.source) for r in records)
    head = ["project", "from", "outcome", *(["source"] if located else [])]
    rows = [[*head, "evidence"]]
    rows += [
        [
            r.name,
            r.old_version or "-",
            r.outcome,
            *([r.source] if located else []),
            brief(r),
        ]
        for r in records
    ]
    fixed = len(head)
    widths = [max(len(row[i]) for row in rows) for i in range(fixed)]
    lines = [
        "  ".join(
            [*(c.ljust(w) for c, w in zip(row[:fixed], widths)), row[fixed]]
        ).rstrip()
        for row in rows
    ]
    counts: dict[str, int] = {}
    for r in records:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    lines.append(
        f"update to {version}: " + ", ".join(f"{n} {o}" for o, n in counts.items())
    )
    return "\n".join(lines) + "\n"


def to_json(records: Sequence[Record], version: str) -> str:
    from dataclasses import asdict

    return (
        json.dumps(
            {"version": version, "projects": [asdict(r) for r in records]}, indent=2
        )
        + "\n"
    )


def release_check(version: str) -> None:
    if not is_release(version):
        raise CommandError(
            f"--to {version!r}: give a release of the template (a tag such as 1.3.0)"
        )
