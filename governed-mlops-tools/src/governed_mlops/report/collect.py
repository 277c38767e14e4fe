"""What the report shows, read from the project and its MLflow store.

Runs are read through ``MlflowClient`` (MLflow's public API, for the SQLite
store and a tracking server alike) in bulk: ``search_runs`` pages of up to
1000 runs, newest first, whose tags, params and latest metric values are
everything the pages need; only the drift of a stage whose env changed
reads artifacts (the two freezes). The runner's tags are documented in
docs/runner.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from .. import __version__
from ..errors import CommandError
from ..project import Project
from ..runner.orphans import ENDED_BY_SYNC, ENDED_BY_TAG
from ..runner.tracking import is_http, shown_uri
from ..settings import ProjectSettings

# The most runs read: a page of search_runs holds at most 1000.
PAGE = 1000
DEFAULT_LIMIT = 2000
# Final states: a run in one of them never changes again.
DONE = frozenset({"FINISHED", "FAILED", "KILLED"})
ORPHANED = (
    "its mlops process is gone (killed): `mlops audit sync` on that machine "
    "ends it KILLED"
)
SAFE_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class StageRun:
    """One stage run, as the runner recorded it."""

    run_id: str
    stage: str
    status: str
    start_ms: int
    end_ms: Optional[int]
    tags: Mapping[str, str]
    params: Mapping[str, str]
    metrics: Mapping[str, float]

    @property
    def parent_id(self) -> str:
        return self.tags.get("mlflow.parentRunId", "")

    @property
    def ended_by_sync(self) -> bool:
        return self.tags.get(ENDED_BY_TAG) == ENDED_BY_SYNC

    @property
    def seconds(self) -> Optional[float]:
        """How long it ran; unknown for a run `audit sync` ended."""
        if self.end_ms is None or not self.start_ms or self.ended_by_sync:
            return None
        return max(0.0, (self.end_ms - self.start_ms) / 1000)

    @property
    def smoke(self) -> bool:
        return self.tags.get("pipeline.smoke") == "true"

    @property
    def stopped(self) -> str:
        """Why a KILLED run stopped (it did not fail: it was stopped)."""
        if self.status != "KILLED":
            return ""
        if self.ended_by_sync:
            return (
                "stopped: its mlops process was killed, and `mlops audit sync` "
                "ended it (how long it ran is not known)"
            )
        return self.tags.get("failure.error", "") or "stopped (Ctrl-C or SIGTERM)"

    @property
    def started(self) -> str:
        return timestamp(self.start_ms)

    @property
    def python(self) -> str:
        return self.tags.get("python.version", "")

    @property
    def kernel(self) -> str:
        return self.tags.get("kernel.name", "")

    @property
    def lock(self) -> str:
        return self.tags.get("lock.sha256", "")

    @property
    def reason(self) -> str:
        return self.tags.get("cache.reason", "")

    @property
    def failure(self) -> Optional["Failure"]:
        error = self.tags.get("failure.error", "")
        if self.status in ("FINISHED", "KILLED") or not (
            error or self.status != "RUNNING"
        ):
            return None  # a KILLED run was stopped: see stopped
        return Failure(
            self.tags.get("failure.cell", ""),
            error or self.status,
            self.tags.get("failure.message", ""),
        )

    @property
    def notebook(self) -> str:
        """The executed notebook's artifact path (``audit/<name>``)."""
        path = self.tags.get("notebook.path", "")
        return f"audit/{Path(path).name}" if path else ""


@dataclass(frozen=True)
class Failure:
    cell: str  # numbered as in the source notebook; empty outside a cell
    error: str
    message: str


@dataclass(frozen=True)
class PipelineRun:
    """A pipeline's parent run."""

    run_id: str
    status: str
    start_ms: int
    end_ms: Optional[int]
    tags: Mapping[str, str]
    params: Mapping[str, str]

    def names(self, tag: str) -> list[str]:
        return [name for name in self.tags.get(tag, "").split(",") if name]

    @property
    def started(self) -> str:
        return timestamp(self.start_ms)

    @property
    def smoke(self) -> bool:
        return self.tags.get("pipeline.smoke") == "true"


@dataclass
class StageView:
    """A stage as the report shows it: its latest state and its history."""

    name: str
    slug: str
    state: str  # a run's status, CACHED, SKIPPED or NOT RUN
    why: str = ""
    run: Optional[StageRun] = None  # the run shown (for CACHED, the reused one)
    run_id: str = ""  # its id, also when the run itself was not read
    spec_python: str = ""
    spec_kernel: str = ""
    problem: str = ""  # why its spec is not valid, if it is not
    history: list[StageRun] = field(default_factory=list)  # newest first
    in_pipeline: bool = True

    @property
    def python(self) -> str:
        return (self.run.python if self.run else "") or self.spec_python

    @property
    def kernel(self) -> str:
        return (self.run.kernel if self.run else "") or self.spec_kernel

    @property
    def metric_names(self) -> list[str]:
        return sorted({name for run in self.history for name in run.metrics})


@dataclass
class Drift:
    """How a stage env differed between two of its runs."""

    stage: str
    before: str  # run ids
    after: str
    changes: list[str]
    note: str = ""


@dataclass
class Policy:
    version: str
    exit_code: int
    summary: dict[str, int]
    failed: list[dict[str, Any]]
    problem: str = ""


@dataclass
class Report:
    project: str
    root: Path
    store: str
    mlflow_url: str
    experiment: str
    experiment_id: str
    built: str
    stages: list[StageView]
    others: list[StageView]
    pipelines: list[PipelineRun]
    versions: dict[str, str]
    total_runs: int = 0
    drift: list[Drift] = field(default_factory=list)
    policy: Optional[Policy] = None
    notebooks: set[str] = field(default_factory=set)  # runs with a notebook page
    # Runs whose end the runner keeps on this machine (the store went away):
    # still RUNNING in the store until `mlops audit sync`.
    kept: set[str] = field(default_factory=set)
    # RUNNING runs of this machine whose mlops process is gone (killed).
    orphaned: set[str] = field(default_factory=set)

    @property
    def pipeline(self) -> Optional[PipelineRun]:
        return self.pipelines[0] if self.pipelines else None

    @property
    def empty(self) -> bool:
        return self.total_runs == 0

    def run_url(self, run_id: str) -> str:
        """The run in the MLflow UI."""
        return f"{self.mlflow_url}/#/experiments/{self.experiment_id}/runs/{run_id}"

    def view(self, slug: str) -> Optional[StageView]:
        return next((v for v in self.stages + self.others if v.slug == slug), None)


def timestamp(ms: int) -> str:
    if not ms:
        return ""
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def slug(name: str) -> str:
    """A file name for a stage's page: the name itself when it is a valid
    stage name, else a digest (a recorded tag may hold anything)."""
    if SAFE_NAME.fullmatch(name):
        return name
    from ..hashes import text_sha

    return "stage-" + text_sha(name)[:12]


def mlflow_ui_url(settings: ProjectSettings, given: str = "") -> str:
    """Where the MLflow UI is: ``given``, else the setting ``mlflow_ui_url``
    (optional), else the tracking server the runs go to, else the address
    ``mlops tracking server`` serves."""
    configured = given or str(getattr(settings, "mlflow_ui_url", "") or "")
    if configured:
        return configured.rstrip("/")
    uri = settings.mlflow_tracking_uri
    if is_http(uri):
        return shown_uri(uri)  # a link holds no password
    return f"http://{settings.mlflow_host}:{settings.mlflow_port}"


# What a store that cannot be read means: for `report build` (the default),
# and for a page `report serve` answers.
NOT_WRITTEN = "no report was written"
NOT_SERVED = "the page was not made"


def store_problem(
    uri: str, error: BaseException, outcome: str = NOT_WRITTEN
) -> CommandError:
    return CommandError(
        f"the MLflow tracking store {uri} could not be read "
        f"({type(error).__name__}: {first_line(error)}); {outcome}"
    )


def first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""


def open_client(
    settings: ProjectSettings,
    state_dir: Optional[Path] = None,
    outcome: str = NOT_WRITTEN,
) -> Any:
    """A client of the project's store: MLflow's REST API for a plain
    tracking server (:mod:`.rest`), else ``MlflowClient``; None when the
    project's SQLite store does not exist yet (no run was ever recorded). A
    server that does not answer is a :class:`CommandError`. With the
    project's ``state_dir``, a SQLite store is read from the runs copy the
    runner keeps while it is current, and otherwise the copy is renewed
    (:mod:`.snapshot_client`)."""
    from ..runner import snapshot, tracking

    uri = settings.mlflow_tracking_uri
    db = snapshot.database(uri)
    if db is not None and not db.is_file():
        store = db.resolve()
        if store == (settings.mlflow_dir / "mlflow.db").resolve():
            return None  # the project's own store, before its first run
        raise CommandError(
            f"the MLflow store {store} (MLFLOW_TRACKING_URI) does not exist; "
            f"{outcome}. Point the settings at the store the runs went to"
        )
    tracking.check_reachable(
        uri,
        "Start it, or point the settings at the store the runs went to.",
        outcome,
        settings,
    )
    copies = state_dir if db is not None else None  # a SQLite store's runs copy
    if copies is not None:
        from .snapshot_client import SnapshotClient

        copy = snapshot.load(copies, uri, settings.mlflow_experiment)
        if copy is not None:
            return SnapshotClient(copy, settings)
    from .rest import rest_client

    try:
        found = rest_client(settings) or tracking.client(settings)
    except Exception as error:  # noqa: BLE001 - any store error is one line
        raise store_problem(shown_uri(uri), error, outcome) from None
    if copies is not None:
        from .snapshot_client import Keeping

        return Keeping(found, copies, settings)
    return found


def read_runs(
    client: Any, experiment_id: str, limit: int, page: int = PAGE
) -> list[Any]:
    """The experiment's newest ``limit`` runs, in pages of ``page``."""
    runs: list[Any] = []
    token = None
    while len(runs) < limit:
        found = client.search_runs(
            [experiment_id],
            order_by=["attributes.start_time DESC"],
            max_results=min(page, limit - len(runs)),
            page_token=token,
        )
        runs.extend(found)
        token = getattr(found, "token", None)
        if not token:
            break
    return runs


def stage_run(run: Any) -> StageRun:
    info, data = run.info, run.data
    return StageRun(
        run_id=str(info.run_id),
        stage=str(data.tags.get("stage", "")),
        status=str(info.status),
        start_ms=int(info.start_time or 0),
        end_ms=int(info.end_time) if info.end_time else None,
        tags=dict(data.tags),
        params=dict(data.params),
        metrics={k: float(v) for k, v in data.metrics.items()},
    )


def pipeline_run(run: Any) -> PipelineRun:
    info, data = run.info, run.data
    return PipelineRun(
        run_id=str(info.run_id),
        status=str(info.status),
        start_ms=int(info.start_time or 0),
        end_ms=int(info.end_time) if info.end_time else None,
        tags=dict(data.tags),
        params=dict(data.params),
    )


STOPPED = (
    "stopped when the tracking store went away; its end is kept on this "
    "machine until `mlops audit sync` records it"
)


def latest_state(
    name: str,
    pipeline: Optional[PipelineRun],
    children: dict[str, StageRun],
    history: list[StageRun],
    by_id: dict[str, StageRun],
    kept: frozenset[str] = frozenset(),
    orphaned: frozenset[str] = frozenset(),
) -> tuple[str, str, Optional[StageRun], str]:
    """(state, why, run, run id) of a stage: as the latest pipeline that
    asked for it left it, else its latest run that is no smoke run (a smoke
    run where it has no other). ``kept``: runs whose end is kept on this
    machine (:attr:`Report.kept`); ``orphaned``: RUNNING runs whose process
    is gone (:attr:`Report.orphaned`)."""
    if pipeline is not None and name in pipeline.names("pipeline.stages"):
        if name in children:
            return _shown(children[name], kept, orphaned)
        if name in pipeline.names("pipeline.cached"):
            reused = pipeline.tags.get(f"cache.{name}.reused", "")
            why = pipeline.tags.get(f"cache.{name}.reason", "") or "unchanged"
            return "CACHED", f"skipped: {why}", by_id.get(reused), reused
        return _not_reached(pipeline, children, kept, orphaned)
    full = [run for run in history if not run.smoke] or history
    if full:
        return _shown(full[0], kept, orphaned, "run on its own (`mlops stage run`)")
    return "NOT RUN", "no run recorded yet", None, ""


def _shown(
    run: StageRun,
    kept: frozenset[str],
    orphaned: frozenset[str],
    otherwise: str = "",
) -> tuple[str, str, Optional[StageRun], str]:
    """A stage's own run as the report shows it, with why it ran, or why it
    stopped."""
    why = run.reason or otherwise
    if run.status == "RUNNING" and run.run_id in kept:
        why = STOPPED
    elif run.status == "RUNNING" and run.run_id in orphaned:
        why = ORPHANED
    elif run.stopped:
        why = f"{run.stopped}; it ran: {why}" if why else run.stopped
    if run.smoke:
        why = f"a smoke run; {why}" if why else "a smoke run"
    return run.status, why, run, run.run_id


def _not_reached(
    pipeline: PipelineRun,
    children: dict[str, StageRun],
    kept: frozenset[str],
    orphaned: frozenset[str],
) -> tuple[str, str, Optional[StageRun], str]:
    """A stage of ``pipeline`` with no run of its own in it."""
    ended = [r for r in children.values() if r.status not in ("FINISHED", "RUNNING")]
    if ended:
        verb = "was stopped" if ended[0].status == "KILLED" else "failed"
        return "SKIPPED", f"not run: stage {ended[0].stage} {verb} before it", None, ""
    if pipeline.status == "RUNNING" and pipeline.run_id in kept:
        return (
            "SKIPPED",
            "not run: the pipeline stopped when the tracking store went away "
            "(`mlops audit sync` records its end)",
            None,
            "",
        )
    if pipeline.status == "RUNNING" and pipeline.run_id in orphaned:
        return "SKIPPED", f"not run: the pipeline's {ORPHANED}", None, ""
    if pipeline.status == "RUNNING":
        return "WAITING", "waiting: the pipeline is still running", None, ""
    return "SKIPPED", "not run: the pipeline stopped before it", None, ""


def collect(
    project: Project,
    settings: ProjectSettings,
    *,
    client: Any = None,
    mlflow_url: str = "",
    limit: int = DEFAULT_LIMIT,
    details: bool = True,
    outcome: str = NOT_WRITTEN,
) -> Report:
    """The report's data. ``details``: also the drift of each stage between
    its last two runs, and the policy check (the index page needs neither).
    ``outcome``: what a store that cannot be read means, for its message."""
    from ..stages.specs import survey

    found = survey(project, machine=False)
    report = Report(
        project=project.title,
        root=project.root,
        store=shown_uri(settings.mlflow_tracking_uri),
        mlflow_url=mlflow_ui_url(settings, mlflow_url),
        experiment=settings.mlflow_experiment,
        experiment_id="",
        built=timestamp(int(datetime.now(timezone.utc).timestamp() * 1000)),
        stages=[],
        others=[],
        pipelines=[],
        versions=versions(project),
    )
    client = client if client is not None else open_client(settings, outcome=outcome)
    from concurrent.futures import ThreadPoolExecutor

    from ..runner.journal import records
    from ..runner.orphans import orphans

    report.kept = {path.stem for path in records(project.state_dir)}
    report.orphaned = set(orphans(project.state_dir))

    # The policy check (CPU) runs while the store answers (waiting on I/O).
    with ThreadPoolExecutor(max_workers=1) as pool:
        policy = pool.submit(policy_status, project.root) if details else None
        runs = experiment_runs(client, report, settings, limit, outcome)
        report.total_runs = len(runs)
        stage_runs = [stage_run(r) for r in runs if r.data.tags.get("stage")]
        report.pipelines = [
            pipeline_run(r) for r in runs if "pipeline.stages" in r.data.tags
        ]
        stage_views(report, found, stage_runs)
        if details and client is not None:
            report.drift = [
                d for view in report.stages if (d := drift(client, view)) is not None
            ]
        if policy is not None:
            report.policy = policy.result()
    return report


def experiment_runs(
    client: Any,
    report: Report,
    settings: ProjectSettings,
    limit: int,
    outcome: str = NOT_WRITTEN,
) -> list[Any]:
    """The runs of the project's experiment (none without a store or
    experiment); sets ``report.experiment_id``."""
    if client is None:
        return []
    try:
        experiment = client.get_experiment_by_name(settings.mlflow_experiment)
        if experiment is None:
            return []
        report.experiment_id = str(experiment.experiment_id)
        runs = read_runs(client, report.experiment_id, limit)
    except CommandError:
        raise
    except Exception as error:  # noqa: BLE001 - any store error is one line
        import urllib.error

        from ..runner.tracking import login_refused

        uri = settings.mlflow_tracking_uri
        if isinstance(error, urllib.error.HTTPError) and error.code in (401, 403):
            raise login_refused(uri, error, outcome) from None
        raise store_problem(shown_uri(uri), error, outcome) from None
    keep = getattr(client, "keep", None)  # a store whose copy is renewed
    if keep is not None:
        keep(report.experiment_id, runs, len(runs) < limit)
    return runs


def stage_views(report: Report, found: Any, stage_runs: list[StageRun]) -> None:
    """Each stage of the pipeline (``found``: the specs' survey) as the
    latest pipeline left it, then the stages recorded but not listed."""
    by_id = {run.run_id: run for run in stage_runs}
    by_stage: dict[str, list[StageRun]] = {}
    for run in stage_runs:
        by_stage.setdefault(run.stage, []).append(run)
    pipeline = report.pipeline
    children: dict[str, StageRun] = {}
    for run in stage_runs:
        if pipeline is not None and run.parent_id == pipeline.run_id:
            children.setdefault(run.stage, run)
    invalid = found.invalid()
    for name in found.order:
        history = by_stage.get(name, [])
        state, why, shown, run_id = latest_state(
            name,
            pipeline,
            children,
            history,
            by_id,
            frozenset(report.kept),
            frozenset(report.orphaned),
        )
        stage = found.stages.get(name) or found.parsed.get(name)
        report.stages.append(
            StageView(
                name=name,
                slug=slug(name),
                state=state,
                why=why,
                run=shown,
                run_id=run_id,
                spec_python=str(stage.spec.python or "") if stage else "",
                spec_kernel=stage.kernel_name if stage else "",
                problem="; ".join(invalid.get(name, [])),
                history=history,
            )
        )
    for name in sorted(set(by_stage) - set(found.order)):
        history = by_stage[name]
        state, why, shown, run_id = latest_state(name, None, {}, history, by_id)
        report.others.append(
            StageView(
                name=name,
                slug=slug(name),
                state=state,
                why=why,
                run=shown,
                run_id=run_id,
                history=history,
                in_pipeline=False,
            )
        )


def versions(project: Project) -> dict[str, str]:
    """The tools', the policy's and the template's versions."""
    from ..policy.versions import POLICY_VERSION

    found = {"tools (governed-mlops-tools)": __version__, "policy": POLICY_VERSION}
    answers = project.root / ".copier-answers.yml"
    template = ""
    if answers.is_file():
        for line in answers.read_text(encoding="utf-8").splitlines():
            if line.startswith("_commit:"):
                template = line.partition(":")[2].strip().strip("'\"")
    found["template"] = template or "unknown (no .copier-answers.yml)"
    return found


def drift(client: Any, view: StageView) -> Optional[Drift]:
    """How the env of the stage's shown run differed from its previous
    successful run (what ``mlops audit drift`` compares): None with fewer
    than two runs."""
    run = view.run
    if run is None:
        return None
    earlier = [
        r for r in view.history if r.start_ms < run.start_ms and r.status == "FINISHED"
    ]
    if not earlier:
        return None
    before = earlier[0]
    then = before.tags.get("env.fingerprint", "")
    now = run.tags.get("env.fingerprint", "")
    if then == now:
        return Drift(view.name, before.run_id, run.run_id, [])
    from ..cli.audit import compare
    from ..runner.audit import FREEZE_NAME, freeze_run
    from ..stages import locks

    try:
        old, new = (
            read_text(client, freeze_run(r.run_id, r.tags), f"audit/{FREEZE_NAME}")
            for r in (before, run)
        )
    except Exception as error:  # noqa: BLE001 - shown on the page
        return Drift(
            view.name, before.run_id, run.run_id, [], f"freeze not readable: {error}"
        )
    changes = compare(locks.pins(old), locks.pins(new))
    old_commit = before.tags.get("mlflow.source.git.commit", "")
    new_commit = run.tags.get("mlflow.source.git.commit", "")
    if old_commit != new_commit:
        changes.append(f"commit     {old_commit[:12]} -> {new_commit[:12]}")
    return Drift(view.name, before.run_id, run.run_id, changes)


def read_text(client: Any, run_id: str, path: str) -> str:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        local = client.download_artifacts(run_id, path, folder)
        return Path(local).read_text(encoding="utf-8")


def policy_status(root: Path, check: Optional[Callable[..., Any]] = None) -> Policy:
    """``mlops policy check --format json``, in this process."""
    import json

    from ..policy import POLICY_VERSION
    from ..policy.engine import PolicyInputError
    from ..policy.engine import check as run_check
    from ..policy.model import PluginError
    from ..policy.reports import to_json

    try:
        data = json.loads(to_json((check or run_check)(root)))
    except (PolicyInputError, PluginError) as error:
        return Policy(POLICY_VERSION, 2, {}, [], str(error))
    failed = [rule for rule in data["rules"] if rule["status"] == "failed"]
    return Policy(data["policy_version"], data["exit_code"], data["summary"], failed)
