"""Run stage notebooks with papermill in their kernels, each run recorded in MLflow.

A stage run is one MLflow run (a child of the pipeline's run when it is part of
one) tagged with the audit fields of :func:`audit.run_tags`; its bundle (the
executed notebook, freeze, spec, diff, log) is written to
``artifacts/<run_id>/`` first and then logged to the run, so nothing is lost
when the tracking server is away.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import audit, notebook, store, tracking
from ..stages import kernels
from ..errors import CommandError, StageFailed
from .gitinfo import git_state
from .parameters import typed_values
from ..progress import Progress
from ..project import Project
from ..settings import env_prefix
from ..settings import load as load_settings
from ..stages.specs import Stage
from ..stages.env import drift, live_freeze, read_marker, require_env

DRIFT_TAG = "env.drift"
# Tags of the cells papermill adds: the parameters it injects, and the notes
# of a failure it writes into the executed notebook.
INJECTED_TAG = "injected-parameters"
# MLflow's limit on a param value (characters); longer values go to a file.
PARAM_LIMIT = 6000
PARAMETERS_FILE = "parameters.json"
ERROR_NOTE_TAG = "papermill-error-cell-tag"


@dataclass
class StageResult:
    stage: str
    status: str  # FINISHED, FAILED, KILLED or SKIPPED
    seconds: float = 0.0
    run_id: str = ""
    message: str = ""


class Runner:
    """Runs stages of one project against its MLflow store.

    A stage whose env differs from its lock is refused, unless ``allow_drift``:
    then its run records the differences (tag ``env.drift``) and a warning.
    """

    def __init__(self, project: Project, *, allow_drift: bool = False):
        self.project = project
        self.allow_drift = allow_drift
        self.drift: dict[str, list[str]] = {}  # by stage, found by prepare()
        # Stages whose notebook has no parameters cell but gets parameters:
        # papermill injects them as the first cell (found by prepare()).
        self.injected_at_top: set[str] = set()
        self.settings = load_settings(project)
        project.import_module("logs").configure_logging(self.settings)
        prefix = env_prefix(project)
        tracking.check_reachable(
            self.settings.mlflow_tracking_uri,
            f"Start it with `mlops tracking server` (scripts/mlflow_server.sh or "
            f".bat), or set {prefix}MLFLOW_TRACKING_URI to a reachable server or "
            f"leave it empty for the project's SQLite store.",
        )
        self.store = store.open_store(self.settings, project.state_dir)
        self.experiment_id = self.store.experiment_id

    def outer_run(self) -> str:
        """The run of `mlflow run` when it launched us (``MLFLOW_RUN_ID``), if it
        is in our store: stage and pipeline runs become its children."""
        run_id = os.environ.get("MLFLOW_RUN_ID", "")
        # Another store's run: do not nest under a run we cannot see.
        return run_id if run_id and self.store.has_run(run_id) else ""

    def prepare(self, stage: Stage, overrides: dict[str, Any]) -> dict[str, Any]:
        """Check the env, its packages and the parameters before anything runs."""
        require_env(stage)
        differences = drift(stage)
        if differences and not self.allow_drift:
            raise CommandError(
                f"stage {stage.name}: its env differs from its lock: "
                f"{', '.join(differences)}; rebuild it with `mlops stage create "
                f"{stage.name}`, or pass --allow-drift to run anyway (recorded on "
                f"the run as tag {DRIFT_TAG})"
            )
        self.drift[stage.name] = differences
        relative = stage.spec.notebook
        declarations = notebook.declarations(stage.notebook)
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

    def run_stage(
        self, stage: Stage, parameters: dict[str, Any], parent_run_id: str = ""
    ) -> StageResult:
        """Run one prepared stage; raise :class:`StageFailed` (with ``.result``)
        when its notebook fails."""
        from loguru import logger

        say = Progress(stage.name)
        started = time.perf_counter()
        git = git_state(self.project.root)
        freeze = live_freeze(stage)
        marker = read_marker(stage) or {}
        tags = audit.run_tags(stage, git, freeze, marker.get("python_version", ""))
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        differences = self.drift.get(stage.name, [])
        if differences:  # MLflow takes tag values up to 5000 characters
            tags[DRIFT_TAG] = "; ".join(differences)[:5000]
        run_id = self.store.create_run(tags)
        bundle = self.settings.artifacts_dir / run_id
        output = bundle / stage.notebook.name
        # From here on the run exists: whatever fails ends it FAILED (KILLED on
        # Ctrl-C) with what failed, never RUNNING.
        status, message = "FAILED", ""
        failure: dict[str, str] = {}
        sink = None
        try:
            audit.start_bundle(bundle, stage, git, freeze)
            sink = logger.add(bundle / audit.LOG_NAME, level="DEBUG", encoding="utf-8")
            self._warn(stage, parameters, differences)
            self._log_parameters(run_id, bundle, parameters)
            say(f"running {stage.spec.notebook} in {stage.kernel_name}, run {run_id}")
            self._execute(stage, parameters, output, run_id)
            status = "FINISHED"
        except KeyboardInterrupt:
            status, message = "KILLED", "interrupted"
            raise
        except Exception as error:  # the notebook, papermill, the kernel, the disk
            message, failure = describe_failure(error, stage, output)
            # For run.log: the terminal gets the message once, from the CLI.
            logger.debug("run failed: {}", message)
        finally:
            if sink is not None:
                logger.remove(sink)
            self._finish(run_id, bundle, status, failure)
            seconds = time.perf_counter() - started
            say(f"{status} in {seconds:.1f} s, bundle {bundle}")
        result = StageResult(stage.name, status, seconds, run_id, message)
        if status != "FINISHED":
            stopped = StageFailed(message)
            stopped.result = result
            raise stopped
        return result

    def _log_parameters(
        self, run_id: str, bundle: Path, parameters: dict[str, Any]
    ) -> None:
        """Each value as JSON; one over MLflow's limit is kept whole in the
        bundle's ``parameters.json`` instead, which its param and a tag name."""
        logged = {key: json.dumps(value) for key, value in parameters.items()}
        long = sorted(key for key, text in logged.items() if len(text) > PARAM_LIMIT)
        if long:
            whole = json.dumps(parameters, indent=1, ensure_ascii=False) + "\n"
            (bundle / PARAMETERS_FILE).write_text(whole, encoding="utf-8")
            where = f"audit/{PARAMETERS_FILE}"
            for key in long:
                logged[key] = f"({len(logged[key])} characters: in {where})"
            self.store.set_tag(run_id, "params.whole", where)
            self.store.set_tag(run_id, "params.long", ", ".join(long))
        self.store.log_params(run_id, logged)

    def _warn(
        self, stage: Stage, parameters: dict[str, Any], differences: list[str]
    ) -> None:
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
        if differences:
            logger.warning(
                "stage {} runs in an env that differs from its lock (--allow-drift, "
                "tag {}): {}",
                stage.name,
                DRIFT_TAG,
                ", ".join(differences),
            )

    def _execute(
        self, stage: Stage, parameters: dict[str, Any], output: Path, run_id: str
    ) -> None:
        import papermill

        # `!cmd` and subprocesses in the kernel find the stage env's programs
        # first, not those of the env that runs mlops.
        scripts = stage.python.parent
        env = {
            "PATH": os.pathsep.join([str(scripts), os.environ.get("PATH", "")]),
            "VIRTUAL_ENV": str(stage.env_dir),
            **kernels.jupyter_path_env(self.project),
            **tracking.credentials_env(self.settings),
            "MLFLOW_TRACKING_URI": self.settings.mlflow_tracking_uri,
            "MLFLOW_RUN_ID": run_id,
            "MLFLOW_EXPERIMENT_ID": self.experiment_id,
        }
        with tracking.environment(env):
            papermill.execute_notebook(
                str(stage.notebook),
                str(output),
                parameters=parameters,
                # The stage's kernel, whatever the notebook's metadata says
                # (none in a jupytext notebook, or another language's).
                kernel_name=stage.kernel_name,
                language="python",
                cwd=str(stage.notebook.parent),
                log_output=True,
                progress_bar=False,
                start_timeout=120,
            )

    def _finish(
        self, run_id: str, bundle: Path, status: str, failure: dict[str, str]
    ) -> None:
        """Tag the end and what failed, upload the bundle, set the status
        (FINISHED/FAILED/KILLED)."""
        from loguru import logger

        self.store.set_tag(run_id, "run.end", audit.now())
        for key, value in failure.items():  # MLflow takes tag values up to 5000
            self.store.set_tag(run_id, key, value[:5000])
        try:
            self.store.log_artifacts(run_id, bundle, artifact_path="audit")
        except Exception as error:  # keep the local bundle; say where it is
            logger.warning(
                "could not upload {}: {}; it stays in {}", run_id, error, bundle
            )
        self.store.set_terminated(run_id, status)


def describe_failure(
    error: Exception, stage: Stage, output: Path
) -> tuple[str, dict[str, str]]:
    """Which cell failed and where the executed notebook is, in one message;
    the same as the run's ``failure.*`` tags."""
    cell = getattr(error, "cell_index", None)
    where = f"{stage.spec.notebook}"
    tags: dict[str, str] = {}
    if cell is not None:
        number = source_cell_number(output, cell)
        where = f"cell {number} of {where}"
        kind = str(getattr(error, "ename", "") or type(error).__name__)
        text = str(getattr(error, "evalue", "") or "")
        tags["failure.cell"] = str(number)
    else:
        kind, text = type(error).__name__, str(error)
    tags.update({"failure.error": kind, "failure.message": text})
    message = (
        f"stage {stage.name} failed at {where}: {kind}: {text}".strip()
        + f"\n  executed notebook: {output}"
    )
    return message, tags


def source_cell_number(output: Path, index: int) -> int:
    """1-based number of the failing cell in the source notebook.

    papermill counts cells of the executed notebook, which has an extra
    ``injected-parameters`` cell; the output it writes on a failure also has
    its error notes (a cell at the top, one before the failing cell), which
    were not there when it counted.
    """
    try:
        cells = json.loads(output.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return index + 1
    tags = [cell.get("metadata", {}).get("tags", []) for cell in cells]
    executed = [cell_tags for cell_tags in tags if ERROR_NOTE_TAG not in cell_tags]
    injected = sum(1 for cell_tags in executed[:index] if INJECTED_TAG in cell_tags)
    return index + 1 - injected


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
            stage.name
            for stage in stages
            if key in notebook.declared_parameters(stage.notebook)
        ]
        if not takers:
            raise CommandError(
                f"no stage's notebook declares parameter {key!r}; write stage.{key}="
                f"... for one stage"
            )
        for stage_name in takers:
            per_stage[stage_name][key] = value
    return per_stage


def run_pipeline(
    runner: Runner, stages: list[Stage], values: dict[str, Any]
) -> tuple[str, list[StageResult]]:
    """Run ``stages`` in order under one parent run, stopping at the first failure."""
    per_stage = split_parameters(values, stages)
    prepared = {
        stage.name: runner.prepare(stage, per_stage[stage.name]) for stage in stages
    }
    outer = runner.outer_run()
    tags = {
        "mlflow.runName": "pipeline",
        "pipeline.stages": ",".join(stage.name for stage in stages),
        "mlflow.user": audit.user(),
    }
    if outer:
        tags["mlflow.parentRunId"] = outer
    parent = runner.store.create_run(tags)
    results: list[StageResult] = []
    status = "FAILED"
    try:
        for number, stage in enumerate(stages, 1):
            Progress("pipeline")(f"stage {number}/{len(stages)}: {stage.name}")
            try:
                results.append(
                    runner.run_stage(stage, prepared[stage.name], parent_run_id=parent)
                )
            except StageFailed as error:
                results.append(error.result)
                break
        else:
            status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        done = {result.stage for result in results}
        results += [
            StageResult(s.name, "SKIPPED") for s in stages if s.name not in done
        ]
        runner.store.set_terminated(parent, status)
    return parent, results
