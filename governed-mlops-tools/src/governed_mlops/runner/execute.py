"""Run stage notebooks with papermill in their kernels, each run recorded in MLflow.

A stage run is one MLflow run (a child of the pipeline's run when it is part of
one) tagged with the audit fields of :func:`audit.run_tags`; its bundle (the
executed notebook, freeze, spec, diff, log) is written to
``artifacts/<run_id>/`` first and then logged to the run, so nothing is lost
when the tracking server is away.
"""

from __future__ import annotations

import ast
import json
import os
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable

from . import audit, cache, journal, models, notebook, orphans, output
from . import shared_cache, store
from . import tracking
from .. import __version__
from ..files import copy_atomic
from ..hashes import file_sha
from ..stages import kernels
from ..errors import CommandError, StageFailed
from .gitinfo import GitState, git_state
from .parameters import Declared, Text, typed_values
from ..progress import Progress
from ..project import Project
from ..settings import env_prefix, index_token, secret_env_names
from ..stages.installers import redact
from ..settings import load as load_settings
from ..stages.specs import Stage
from ..termination import deferred, kept_handlers, raise_pending
from ..stages.env import current_sbom, write_stage_sbom
from ..stages.env import drift, live_freeze, read_marker, require_env, spec_changes

DRIFT_TAG = "env.drift"
# In a stage's kernel: the project's settings leave their secrets out (the
# template's config.py reads it; MLflow gets its login from its own variables).
KERNEL_VARIABLE = "GOVERNED_MLOPS_KERNEL"
# Tags of the cells papermill adds: the parameters it injects, and the notes
# of a failure it writes into the executed notebook.
INJECTED_TAG = "injected-parameters"
# MLflow's limit on a param value (characters); longer values go to a file.
PARAM_LIMIT = 6000
# MLflow's limit on a tag value (characters).
TAG_LIMIT = 5000
PARAMETERS_FILE = "parameters.json"
ERROR_NOTE_TAG = "papermill-error-cell-tag"
# On a stage run of a pipeline: why the stage ran (the cache's decision).
REASON_TAG = "cache.reason"


@dataclass
class StageResult:
    stage: str
    status: str  # FINISHED, FAILED, KILLED, CACHED (run_id: the run reused) or SKIPPED
    seconds: float = 0.0
    run_id: str = ""
    message: str = ""
    # The declared models it logged: path -> models:/<id>.
    models: dict[str, str] = field(default_factory=dict)


class Runner:
    """Runs stages of one project against its MLflow store.

    A stage whose env differs from its lock is refused, unless ``allow_drift``:
    then its run records the differences (tag ``env.drift``) and a warning.
    ``verbose`` streams what goes to each run's ``run.log`` to stderr too.
    ``warm_store`` gets the store's client ready in the background at once
    (a pipeline waits until a stage is to run: a fully cached one needs none).
    """

    def __init__(
        self,
        project: Project,
        *,
        allow_drift: bool = False,
        verbose: bool = False,
        warm_store: bool = True,
    ):
        self.project = project
        self.allow_drift = allow_drift
        self.verbose = verbose
        self.drift: dict[str, list[str]] = {}  # by stage, found by prepare()
        # Stages whose notebook has no parameters cell but gets parameters:
        # papermill injects them as the first cell (found by prepare()).
        self.injected_at_top: set[str] = set()
        # Why the tracking store stopped answering during this command, if it did.
        self.offline = ""
        # A smoke pipeline (run_pipeline): its stage runs are tagged so, and
        # their models logged but never registered as versions of the real ones.
        self.smoke = False
        self.settings = load_settings(project)
        project.import_module("logs").configure_logging(self.settings)
        prefix = env_prefix(project)
        # The project's secrets in this environment, which the stage's kernel
        # and model logging do not inherit: they get the MLflow credentials
        # they need (kernel_env), not the index or publish token.
        self.hidden_env = secret_env_names(
            self.settings, prefix, keep=("mlflow_tracking_password",)
        )
        # Masked in what a run records of a failure and in its run.log: a
        # notebook may print or raise one.
        self.secrets = [*self.settings.secret_values(), index_token(self.settings)]
        tracking.check_reachable(
            self.settings.mlflow_tracking_uri,
            f"Start it with `{tracking.server_command(self.settings)}` "
            f"(scripts/mlflow_server.sh or .bat), or set "
            f"{prefix}MLFLOW_TRACKING_URI to a reachable server or leave it empty "
            f"for the project's SQLite store.",
            settings=self.settings,
        )
        self.store = store.open_store(self.settings)
        if warm_store:
            self.store.warm()
        self.pending = project.state_dir / journal.PENDING_DIR
        if journal.records(project.state_dir):  # kept while the store was away
            journal.sync(self.store, project.state_dir, Progress("audit sync"))

    def finish(self) -> None:
        """At the command's end, after every store call (see ``Store.finish``)."""
        self.store.finish(self.project.state_dir)

    def stage_cache(self) -> cache.Cache:
        """The project's stage cache, for runs of this store; shared through
        the store's artifacts when the setting ``stage_cache`` is ``mlflow``."""
        mode = str(getattr(self.settings, "stage_cache", "local"))
        if mode not in shared_cache.MODES:
            raise CommandError(
                f"setting {env_prefix(self.project)}STAGE_CACHE={mode}: use "
                f"{' or '.join(shared_cache.MODES)}"
            )
        shared = shared_cache.SharedCache(self.store) if mode == "mlflow" else None
        return cache.Cache(
            self.project.state_dir, self.project.root, self.store.uri, shared
        )

    def recorder(self, run_id: str) -> journal.Journal:
        """The store calls of a run; straight to pending once the store is away."""
        return journal.Journal(self.store, run_id, self.pending, problem=self.offline)

    def outer_run(self) -> str:
        """The run of `mlflow run` when it launched us (``MLFLOW_RUN_ID``), if it
        is in our store and experiment: stage and pipeline runs become its
        children."""
        run_id = os.environ.get("MLFLOW_RUN_ID", "")
        # Another store's run: do not nest under a run we cannot see.
        if not run_id or not self.store.has_run(run_id):
            return ""
        outer = os.environ.get("MLFLOW_EXPERIMENT_ID", "")
        if outer and outer != self.store.experiment_id:
            # MLflow shows a parent and its children in one experiment only.
            from loguru import logger

            logger.warning(
                "the run {} of `mlflow run` is in experiment {}, the project's runs "
                "go to experiment {}: they are not nested under it (give mlflow run "
                "--experiment-name {})",
                run_id,
                outer,
                self.store.experiment_id,
                self.settings.mlflow_experiment,
            )
            return ""
        return run_id

    def prepare(self, stage: Stage, overrides: dict[str, Any]) -> dict[str, Any]:
        """Check the env, its packages and the parameters before anything runs."""
        require_env(stage)
        # A spec changed since `stage create` (another Python, a new package)
        # would run in an env it does not describe.
        differences = spec_changes(stage) + drift(stage)
        if differences and not self.allow_drift:
            raise CommandError(
                f"stage {stage.name}: its env differs from its lock: "
                f"{', '.join(differences)}; rebuild it with `mlops stage create "
                f"{stage.name}`, or pass --allow-drift to run anyway (recorded on "
                f"the run as tag {DRIFT_TAG})"
            )
        self.drift[stage.name] = differences
        relative = stage.spec.notebook
        declarations = notebook.stage_declarations(stage)
        if notebook.has_parameters_cell(stage.notebook):
            names = frozenset(declarations)
            notebook.check_parameters(
                stage.spec.parameters, names, stage.name, relative + " (spec defaults)"
            )
            notebook.check_parameters(overrides, names, stage.name, relative)
        elif stage.spec.parameters or overrides:
            self.injected_at_top.add(stage.name)
        spec = f"{stage.relative_source} parameter"
        return {
            **typed_values(stage.spec.parameters, declarations, stage.name, spec),
            **typed_values(overrides, declarations, stage.name, "-p"),
        }

    def run_tags(
        self, stage: Stage, parent_run_id: str
    ) -> tuple[dict[str, str], GitState, str]:
        """The tags a stage run is created with, and the git state and freeze
        they were taken from."""
        git = git_state(self.project.root)
        freeze = live_freeze(stage)
        marker = read_marker(stage) or {}
        tags = audit.run_tags(stage, git, freeze, marker.get("python_version", ""))
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        differences = self.drift.get(stage.name, [])
        if differences:
            tags[DRIFT_TAG] = "; ".join(differences)[:TAG_LIMIT]
        if self.smoke:
            tags[SMOKE_TAG] = "true"
        return tags, git, freeze

    def run_stage(
        self,
        stage: Stage,
        parameters: dict[str, Any],
        parent_run_id: str = "",
        position: str = "",
        decision: cache.Decision | None = None,
        ended: Callable[[StageResult], None] | None = None,
    ) -> StageResult:
        """Run one prepared stage; raise :class:`StageFailed` (with ``.result``)
        when its notebook fails or its record could not be completed.
        ``position`` (``2/4``) and why it runs (``decision``) are shown on its
        first line within a pipeline; its cache key is tagged ``cache.key``.
        ``ended`` is given the result as the run ends, whatever its status,
        before a SIGTERM held back meanwhile is raised."""
        say = Progress(stage.name)
        started = time.perf_counter()
        tags, git, freeze = self.run_tags(stage, parent_run_id)
        sbom, env_ref = self.env_files(stage, tags[audit.FREEZE_TAG])
        tags.update(env_ref_tags(env_ref))
        if decision is not None:
            tags["cache.key"] = decision.key
            # Why it ran (the pipeline's line), for the report.
            tags[REASON_TAG] = decision.reason[:TAG_LIMIT]
            tags.update(lineage_tags(decision.producers, decision.models))
        # A run made must be claimed, or none ends it; a signal meanwhile is
        # raised in the try below, which ends the run.
        with deferred(reraise=False):
            run_id = self.store.create_run(tags)
            bundle = self.settings.artifacts_dir / run_id
            claimed = orphans.claim(
                self.project.state_dir, run_id, self.store.uri, str(bundle)
            )
            record = self.recorder(run_id)
        executed = bundle / stage.notebook.name
        # From here on the run exists: whatever fails ends it FAILED (KILLED on
        # Ctrl-C) with what failed, never RUNNING.
        status, message = "FAILED", ""
        failure: dict[str, str] = {}
        committed: dict[str, dict[str, str]] = {}
        logged: dict[str, str] = {}
        try:
            try:
                raise_pending()
                keeps = not env_ref["run_id"]  # this run keeps the env's files
                committed.update(
                    audit.start_bundle(bundle, stage, git, freeze if keeps else None)
                )
                if keeps:
                    copy_atomic(sbom, bundle / audit.SBOM_NAME)
                with output.RunLog(
                    bundle / audit.LOG_NAME, say, self.verbose, secrets=self.secrets
                ) as log:
                    self._warn(stage, parameters)
                    self._log_parameters(record, bundle, stage, parameters)
                    if record.offline:
                        raise store.StoreUnavailable(record.problem)
                    where = f"stage {position}: " if position else ""
                    why = f": {decision.reason}" if position and decision else ""
                    say(
                        f"{where}running {stage.spec.notebook} in kernel "
                        f"{stage.kernel_name}, run {run_id}{why}"
                    )
                    env = self.kernel_env(stage, run_id)
                    with models.Logger(stage, env, self.hidden_env) as model_logger:
                        self._execute(stage, parameters, executed, run_id, log)
                        found, logged = model_logger.log(log, not self.smoke)
                    record.set_tags(found)
                status = "FINISHED"
            except KeyboardInterrupt:
                status, message = "KILLED", "interrupted"
                raise
            except Exception as error:  # notebook, papermill, kernel, disk
                message, failure = describe_failure(error, stage, executed)
                message = redact(message, self.secrets)
                failure = {
                    key: redact(text, self.secrets) for key, text in failure.items()
                }
                output.append_line(bundle / audit.LOG_NAME, "ERROR", message)
                if record.offline:  # the store's failure, tagged by _finish
                    failure = {}
        finally:
            # A SIGTERM now must not leave the run RUNNING, nor its result
            # unknown to the pipeline (its tags, the stage cache).
            with deferred():
                output.mask_notebook(executed, self.secrets)
                sealed = self._seal(
                    stage, bundle, parameters, decision, status, committed, env_ref
                )
                status = self._finish(record, bundle, status, {**failure, **sealed})
                claimed.release()
                seconds = time.perf_counter() - started
                say(f"{status}, run {run_id}")
                if record.offline:
                    self.offline = record.problem
                    message = self.kept_message(stage, run_id, bundle)
                elif failure:
                    stored = self._stored(run_id, executed.name)
                    message += f"\n  executed notebook: {stored}"
                result = StageResult(
                    stage.name, status, seconds, run_id, message, logged
                )
                if ended is not None:
                    ended(result)
        if status != "FINISHED":
            stopped = StageFailed(message)
            stopped.result = result
            raise stopped
        return result

    def _seal(
        self,
        stage: Stage,
        bundle: Path,
        parameters: dict[str, Any],
        decision: cache.Decision | None,
        status: str,
        committed: dict[str, dict[str, str]],
        env_ref: dict[str, str],
    ) -> dict[str, str]:
        """Write the bundle's manifest (``mlops audit verify`` checks it);
        its hash as a tag. A bundle that could not be written has none."""
        from loguru import logger

        if not bundle.is_dir():
            return {}
        parts = decision.parts if decision else {}
        prefix = cache.INPUT_PREFIX
        inputs = {k[len(prefix) :]: v for k, v in parts.items() if k.startswith(prefix)}
        root = self.project.root
        outputs = {}
        if status == "FINISHED":
            for name in cache.matched(root, stage.spec.outputs):
                outputs[name] = file_sha(root / name)
        try:
            lineage = decision.producers if decision else {}
            held = held_env_files(env_ref)
            sha = audit.write_manifest(
                bundle, stage, parameters, inputs, outputs, lineage, committed, held
            )
        except OSError as error:  # the record goes on without it
            logger.warning(
                "stage {}: no manifest for its bundle: {}", stage.name, error
            )
            return {}
        return {audit.MANIFEST_TAG: sha}

    def env_files(self, stage: Stage, freeze_sha: str) -> tuple[Path, dict[str, str]]:
        """The stage env's SBOM (written now if the env changed since it was
        built) and, when a finished run of this stage in the store keeps the
        same SBOM and freeze, that run:
        ``{"sha256", "freeze_sha256", "run_id"}`` (run_id empty: none)."""
        path = current_sbom(stage) or write_stage_sbom(stage)
        sha = file_sha(path)
        try:
            holder = self.store.last_run(
                {
                    "stage": stage.name,
                    audit.SBOM_TAG: sha,
                    audit.FREEZE_TAG: freeze_sha,
                    audit.SBOM_KEPT_TAG: "true",
                },
                "FINISHED",
            )
        except Exception:  # noqa: BLE001 - unknown: this run keeps a copy
            holder = None
        run_id = holder.run_id if holder else ""
        return path, {"sha256": sha, "freeze_sha256": freeze_sha, "run_id": run_id}

    def kept_message(self, stage: Stage, run_id: str, bundle: Path) -> str:
        """What was kept where when the store went away during a run."""
        return (
            f"the MLflow tracking store {self.store.uri} stopped answering during "
            f"stage {stage.name} ({self.offline}). Kept on this machine: run "
            f"{run_id}, its bundle in {bundle} and its remaining record in "
            f"{self.pending}. Once the store is back, `mlops audit sync` (or the "
            f"next run) uploads the bundle and ends the run FAILED"
        )

    def _stored(self, run_id: str, name: str) -> str:
        """Where the run's uploaded file ``audit/<name>`` is now."""
        try:
            root = self.store.artifact_location(run_id)
        except Exception:  # only for a message: the run itself is recorded
            return f"audit/{name} of run {run_id}"
        local = store.file_uri_path(root)
        return str(Path(local, "audit", name)) if local else f"{root}/audit/{name}"

    def _log_parameters(
        self,
        record: journal.Journal,
        bundle: Path,
        stage: Stage,
        parameters: dict[str, Any],
    ) -> None:
        """Every parameter the notebook runs with: the values injected, as JSON,
        and the other declared defaults, as written. A value over MLflow's limit
        is kept whole in the bundle's ``parameters.json`` instead, which its
        param and a tag name."""
        declared = notebook.stage_declarations(stage)
        logged = {
            name: default_text(found)
            for name, found in declared.items()
            if name not in parameters
        }
        logged.update({key: json.dumps(value) for key, value in parameters.items()})
        tags = {}
        if parameters:
            tags["params.injected"] = ", ".join(sorted(parameters))[:TAG_LIMIT]
        long = sorted(key for key, text in logged.items() if len(text) > PARAM_LIMIT)
        if long:
            whole = json.dumps(parameters, indent=1, ensure_ascii=False) + "\n"
            (bundle / PARAMETERS_FILE).write_bytes(whole.encode("utf-8"))
            where = f"audit/{PARAMETERS_FILE}"
            for key in long:
                logged[key] = f"({len(logged[key])} characters: in {where})"
            tags["params.whole"] = where
            tags["params.long"] = ", ".join(long)[:TAG_LIMIT]
        record.set_tags(tags)
        record.log_params(logged)

    def _warn(self, stage: Stage, parameters: dict[str, Any]) -> None:
        """The run's warnings, on the terminal and in its ``run.log``."""
        from loguru import logger

        if stage.name in self.injected_at_top:
            logger.warning(
                "stage {}: {} has no cell tagged 'parameters', so its parameters "
                "({}) are injected as its first cell; tag the cell that holds its "
                "defaults 'parameters' to have them injected after it",
                stage.name,
                stage.spec.notebook,
                ", ".join(sorted(parameters)),
            )
        differences = self.drift.get(stage.name, [])
        if differences:
            logger.warning(
                "stage {} runs in an env that differs from its lock (--allow-drift, "
                "tag {}): {}",
                stage.name,
                DRIFT_TAG,
                ", ".join(differences),
            )

    def kernel_env(self, stage: Stage, run_id: str) -> dict[str, str]:
        """What the stage's processes (its kernel, its model logging) get on
        top of ours: the stage env first on PATH, so `!cmd` and subprocesses
        find its programs, not those of the env that runs mlops; the run to
        record in, and the store's credentials and retry settings."""
        scripts = stage.python.parent
        return {
            "PATH": os.pathsep.join([str(scripts), os.environ.get("PATH", "")]),
            "VIRTUAL_ENV": str(stage.env_dir),
            **kernels.jupyter_path_env(self.project),
            **tracking.retry_env(),
            **tracking.client_env(self.settings),
            "MLFLOW_RUN_ID": run_id,
            "MLFLOW_EXPERIMENT_ID": self.store.experiment_id,
            # The project's get_settings() leaves its secrets out (config.py).
            KERNEL_VARIABLE: "1",
        }

    def _execute(
        self,
        stage: Stage,
        parameters: dict[str, Any],
        executed: Path,
        run_id: str,
        log: output.RunLog,
    ) -> None:
        import papermill

        env = self.kernel_env(stage, run_id)
        with tracking.environment(env, drop=self.hidden_env), kept_handlers():
            papermill.execute_notebook(
                str(stage.notebook),
                str(executed),
                parameters=parameters,
                # The stage's kernel, whatever the notebook's metadata says
                # (none in a jupytext notebook, or another language's).
                kernel_name=stage.kernel_name,
                language="python",
                cwd=str(stage.notebook.parent),
                log_output=True,
                progress_bar=False,
                start_timeout=120,
                # The kernel's own output goes to run.log, not the terminal.
                kernel_manager_class=output.kernel_manager_class(log),
            )

    def _finish(
        self,
        record: journal.Journal,
        bundle: Path,
        status: str,
        failure: dict[str, str],
    ) -> str:
        """Tag the end and what failed, upload the bundle (then remove the local
        copy), set the status; kept in pending if the store is away, and then
        the run ends FAILED (KILLED on Ctrl-C): its record is incomplete.
        Returns the status it ends with."""
        tags = {"run.end": audit.now()}
        tags.update({key: value[:TAG_LIMIT] for key, value in failure.items()})
        record.set_tags(tags)
        record.upload(bundle, "audit")
        if record.offline:
            status = "KILLED" if status == "KILLED" else "FAILED"
            lost = {"failure.store": record.problem[:TAG_LIMIT]}
            if "failure.error" not in failure:
                lost["failure.error"] = journal.UNAVAILABLE
            record.set_tags(lost)
        record.end(status)
        return status


def env_ref_tags(env_ref: dict[str, str]) -> dict[str, str]:
    """A stage run's SBOM tags: its hash, and which run keeps the env's SBOM
    and freeze (their hashes are tagged ``audit.sbom`` and ``audit.freeze``)."""
    tags = {audit.SBOM_TAG: env_ref["sha256"]}
    if env_ref["run_id"]:
        tags[audit.SBOM_RUN_TAG] = env_ref["run_id"]
    else:
        tags[audit.SBOM_KEPT_TAG] = "true"
    return tags


def held_env_files(env_ref: dict[str, str]) -> dict[str, dict[str, str]] | None:
    """The manifest's note of the env files another run keeps (None: this
    run keeps them)."""
    holder = env_ref["run_id"]
    if not holder:
        return None
    return {
        "sbom": {"sha256": env_ref["sha256"], "run_id": holder},
        "freeze": {"sha256": env_ref["freeze_sha256"], "run_id": holder},
    }


def lineage_tags(
    producers: dict[str, str], logged: dict[str, str] | None = None
) -> dict[str, str]:
    """Which runs wrote the stage's inputs: ``lineage.runs`` (the run ids)
    and ``lineage.inputs`` (``path=run_id`` each); and ``lineage.models``
    (``path=models:/<id>``) for inputs their run logged as an MLflow model."""
    if not producers:
        return {}
    runs = sorted(set(producers.values()))
    pairs = "; ".join(f"{path}={run}" for path, run in sorted(producers.items()))
    tags = {
        "lineage.runs": ",".join(runs)[:TAG_LIMIT],
        "lineage.inputs": pairs[:TAG_LIMIT],
    }
    if logged:
        uris = "; ".join(f"{path}={uri}" for path, uri in sorted(logged.items()))
        tags["lineage.models"] = uris[:TAG_LIMIT]
    return tags


def default_text(found: Declared) -> str:
    """A declared default as a logged param: JSON for a literal, like the
    injected values, else its source text (``a * 2``)."""
    try:
        return json.dumps(ast.literal_eval(found.default))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return found.default


def describe_failure(
    error: Exception, stage: Stage, executed: Path
) -> tuple[str, dict[str, str]]:
    """Which cell failed and how, in one message; the same as the run's
    ``failure.*`` tags. Read before the bundle is uploaded."""
    index = getattr(error, "cell_index", None)
    where = f"{stage.spec.notebook}"
    tags: dict[str, str] = {}
    if index is not None:
        number, cell = failing_cell(executed, index, stage.notebook)
        where = f"cell {number} of {where}"
        kind = str(getattr(error, "ename", "") or type(error).__name__)
        text = str(getattr(error, "evalue", "") or "")
        if not text:  # a magic's error is printed, not raised (IPython UsageError)
            kind, text = printed_error(cell) or (kind, text)
        tags["failure.cell"] = str(number)
    else:
        kind, text = type(error).__name__, str(error)
    tags.update({"failure.error": kind, "failure.message": text})
    message = f"stage {stage.name} failed at {where}: {kind}: {text}".strip()
    return message, tags


def failing_cell(
    executed: Path, index: int, source: Path | None = None
) -> tuple[int, dict[str, Any]]:
    """The 1-based number in the source notebook of the cell papermill calls
    ``index``, and that cell of the executed notebook.

    papermill counts the cells it executes: the source's cells without its
    error notes (a notebook committed after a failed papermill run still has
    them; papermill drops them before it runs), plus its
    ``injected-parameters`` cell. The executed notebook it writes on a failure
    has new error notes, which were not there when it counted.
    """
    try:
        cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return index + 1, {}
    counted = [cell for cell in cells if not _tagged(cell, ERROR_NOTE_TAG)]
    injected = sum(1 for cell in counted[:index] if _tagged(cell, INJECTED_TAG))
    cell = counted[index] if index < len(counted) else {}
    position = index - injected  # among the source's cells papermill ran
    if source is None:
        return position + 1, cell
    try:
        original = json.loads(source.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return position + 1, cell
    ran = [n for n, found in enumerate(original) if not _tagged(found, ERROR_NOTE_TAG)]
    return (ran[position] + 1 if position < len(ran) else position + 1), cell


def _tagged(cell: dict[str, Any], tag: str) -> bool:
    return tag in cell.get("metadata", {}).get("tags", [])


def printed_error(cell: dict[str, Any]) -> tuple[str, str] | None:
    """``(kind, text)`` of the last ``Kind: text`` line the cell printed to
    stderr, as IPython prints a failing magic."""
    lines = [
        line.strip()
        for found in cell.get("outputs", [])
        if found.get("output_type") == "stream" and found.get("name") == "stderr"
        for line in "".join(found.get("text", "")).splitlines()
        if line.strip()
    ]
    for line in reversed(lines):
        kind, colon, text = line.partition(":")
        if colon and kind.isidentifier():
            return kind, text.strip()
    return ("CellExecutionError", lines[-1]) if lines else None


def split_parameters(
    values: dict[str, Any], stages: list[Stage]
) -> dict[str, dict[str, Any]]:
    """Pipeline parameters: ``stage.key`` for one stage, ``key`` for every stage
    whose notebook declares it."""
    names = {stage.name for stage in stages}
    per_stage: dict[str, dict[str, Any]] = {name: {} for name in names}
    for key, value in values.items():
        stage_name, dot, name = key.partition(".")
        if dot:
            if stage_name not in names:
                raise CommandError(
                    f"parameter {key!r} names stage {stage_name!r}, which is not "
                    f"run; stages: {', '.join(s.name for s in stages)}"
                )
            per_stage[stage_name][name] = value
            continue
        takers = [
            stage.name for stage in stages if key in notebook.stage_declarations(stage)
        ]
        if not takers:
            raise CommandError(
                f"no stage's notebook declares parameter {key!r}; write stage.{key}="
                f"... for one stage"
            )
        for stage_name in takers:
            per_stage[stage_name][key] = value
    return per_stage


SMOKE_TAG = "pipeline.smoke"


def pipeline_tags(runner: Runner, stages: list[Stage], smoke: bool) -> dict[str, str]:
    """The parent run's record: who, which commit, the stages and parameters."""
    git = git_state(runner.project.root)
    tags = {
        "mlflow.runName": "pipeline",
        "mlflow.user": audit.user(),
        "mlflow.source.git.commit": git.commit or "none (not a git repository)",
        "mlflow.source.git.branch": git.branch,
        "git.dirty": str(git.dirty).lower(),
        "pipeline.stages": ",".join(stage.name for stage in stages),
        SMOKE_TAG: str(smoke).lower(),
        "mlops.version": __version__,
        "run.start": audit.now(),
    }
    if git.repo_url:
        tags["mlflow.source.git.repoURL"] = git.repo_url
    return tags


class PipelineRun:
    """The pipeline's parent run, created when its first stage is to run: a
    pipeline whose every stage is reused records nothing (a no-op)."""

    def __init__(
        self, runner: Runner, stages: list[Stage], values: dict[str, Any], smoke: bool
    ):
        self.runner = runner
        self.stages = stages
        self.values = values
        self.smoke = smoke
        self.run_id = ""
        self.record: journal.Journal | None = None
        self.claimed: orphans.Claim | None = None

    def open(self, results: list[StageResult]) -> str:
        """The parent run's id, the run made at the first call; ``results``:
        the stages decided so far (the reused ones are tagged at once)."""
        if not self.run_id:
            tags = pipeline_tags(self.runner, self.stages, self.smoke)
            outer = self.runner.outer_run()
            if outer:
                tags["mlflow.parentRunId"] = outer
            with deferred():
                self.run_id = self.runner.store.create_run(tags)
                state = self.runner.project.state_dir
                self.claimed = orphans.claim(state, self.run_id, self.runner.store.uri)
                self.record = self.runner.recorder(self.run_id)
            self.record.log_params(pipeline_params(self.values))
            self.note_cached(results)
        return self.run_id

    def note_cached(self, results: list[StageResult]) -> None:
        """Tag the stages reused so far as they are decided, not only at the
        end: a report built while the pipeline runs, or after its process
        was killed, shows them skipped (cached), not waiting."""
        if self.record is not None and any(r.status == "CACHED" for r in results):
            self.record.set_tags(cached_tags(results))

    def close(self, status: str, results: list[StageResult]) -> None:
        if self.record is None:
            return
        self.record.problem = self.record.problem or self.runner.offline
        self.record.set_tags(finished_tags(results))
        self.record.end(status)
        if self.claimed is not None:
            self.claimed.release()

    @property
    def offline(self) -> bool:
        return self.record is not None and self.record.offline


def run_pipeline(
    runner: Runner,
    stages: list[Stage],
    values: dict[str, Any],
    smoke: bool = False,
    force: frozenset[str] | None = None,
) -> tuple[str, list[StageResult]]:
    """Run ``stages`` in order under one parent run, stopping at the first
    failure; a stage whose key matches its last successful run is skipped
    (``cache``) unless named in ``force`` (empty: every stage); ``smoke``
    marks a smoke run (tag ``pipeline.smoke``). Returns the parent run's id,
    empty when every stage was reused and so nothing was recorded."""
    per_stage = split_parameters(values, stages)
    prepared = {
        stage.name: runner.prepare(stage, per_stage[stage.name]) for stage in stages
    }
    stored = runner.stage_cache()
    runner.smoke = smoke
    parent = PipelineRun(runner, stages, values, smoke)
    results: list[StageResult] = []
    status = "FAILED"
    try:
        for number, stage in enumerate(stages, 1):
            forced = force is not None and (not force or stage.name in force)
            decision = stored.decide(stage, prepared[stage.name], forced, smoke=smoke)
            position = f"{number}/{len(stages)}"
            if not decision.run:
                Progress(stage.name)(f"stage {position}: skipped, {decision.reason}")
                results.append(
                    StageResult(
                        stage.name, "CACHED", 0.0, decision.reused, decision.reason
                    )
                )
                parent.note_cached(results)
                continue
            runner.store.warm()
            try:
                runner.run_stage(
                    stage,
                    prepared[stage.name],
                    parent_run_id=parent.open(results),
                    position=position,
                    decision=decision,
                    ended=partial(record_ended, stored, stage, decision, results),
                )
            except StageFailed:
                break
            except store.StoreUnavailable as error:  # before the stage's run
                runner.offline = str(error)
                results.append(StageResult(stage.name, "FAILED", message=str(error)))
                break
        else:
            status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        with deferred():
            stored.save()
            done = {result.stage for result in results}
            results += [
                StageResult(s.name, "SKIPPED") for s in stages if s.name not in done
            ]
            parent.close(status, results)
    failed = next((r for r in results if r.status == "FAILED"), None)
    if parent.offline and failed is not None:
        failed.message += f"; the pipeline's run {parent.run_id} is kept there too"
    return parent.run_id, results


def record_ended(
    stored: cache.Cache,
    stage: Stage,
    decision: cache.Decision,
    results: list[StageResult] | None,
    result: StageResult,
) -> None:
    """A stage's run has ended (``Runner.run_stage``'s ``ended``): a finished
    one is reused next time, even when the command is stopped right after,
    and a pipeline's ``results`` (its tags) count it."""
    if results is not None:
        results.append(result)
    if result.status == "FINISHED":
        stored.record(stage, decision, result.run_id, result.models)


def finished_tags(results: list[StageResult]) -> dict[str, str]:
    """The parent run's tags at its end: what ran, what was reused from which
    run (and why), what was not run after a failure."""
    return {
        "pipeline.ran": ",".join(
            r.stage for r in results if r.status not in ("CACHED", "SKIPPED")
        ),
        **cached_tags(results),
        "pipeline.skipped": ",".join(r.stage for r in results if r.status == "SKIPPED"),
        "run.end": audit.now(),
    }


def cached_tags(results: list[StageResult]) -> dict[str, str]:
    """The stages reused, each with the run it reuses and why."""
    tags = {
        "pipeline.cached": ",".join(r.stage for r in results if r.status == "CACHED")
    }
    for result in results:
        if result.status == "CACHED":
            tags[f"cache.{result.stage}.reused"] = result.run_id
            tags[f"cache.{result.stage}.reason"] = result.message[:TAG_LIMIT]
    return tags


def pipeline_params(values: dict[str, Any]) -> dict[str, str]:
    """The pipeline's parameters as given (``stage.key`` or ``key``), as text;
    a value over MLflow's limit is left to the stage runs that record it whole."""
    logged = {}
    for key, value in values.items():
        text = value.raw if isinstance(value, Text) else json.dumps(value)
        if len(text) > PARAM_LIMIT:
            text = f"({len(text)} characters: in the stage runs' {PARAMETERS_FILE})"
        logged[key] = text
    return logged
