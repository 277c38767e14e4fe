"""Pipeline runs logged straight into an MLflow store, tagged as the runner
tags them (docs/runner.md), for the report's tests and its benchmark: a
hundred pipelines in seconds, without running a notebook.

Only the standard library and mlflow are imported, so ``benchmarks/run.py``
runs this file with a generated project's interpreter.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Optional, Sequence

STAGES = ("data_prep", "feature_eng", "train", "eval")
LOCK = "ab" * 32
PYTHON = "3.11.9"


def stage_tags(
    stage: str, parent: str, number: int, kernel_prefix: str
) -> dict[str, str]:
    return {
        "mlflow.runName": stage,
        "mlflow.parentRunId": parent,
        "mlflow.source.git.commit": f"{number:040x}",
        "stage": stage,
        "stage.spec": f"env_specs/stage_{stage}.yaml",
        "kernel.name": f"{kernel_prefix}-{stage}",
        "kernel.python": f"/p/.venvs/{stage}/bin/python",
        "python.version": PYTHON,
        "notebook.path": f"notebooks/{stage}.ipynb",
        "env.fingerprint": "sha256:" + "0" * 64,
        "lock.sha256": LOCK,
        "cache.key": f"{stage}-{number}",
        "cache.reason": "parameters changed: seed" if number else "no cached run",
        "mlops.version": "test",
    }


def log_pipelines(
    client: Any,
    experiment_id: str,
    count: int,
    stages: Sequence[str] = STAGES,
    kernel_prefix: str = "proj",
    fail: Optional[tuple[str, str, str, str]] = None,
    cached: Sequence[str] = (),
    start_ms: Optional[int] = None,
) -> list[dict[str, str]]:
    """Log ``count`` pipeline runs, each with a child run per stage, a minute
    apart. The last one: ``cached`` stages reused from the run before, and
    with ``fail`` = (stage, cell, error, message) that stage FAILED and the
    later ones not run. Returns each pipeline's run ids by stage (and
    ``pipeline``)."""
    from mlflow.entities import Metric, Param

    start = start_ms or int(time.time() * 1000) - count * 60_000
    made: list[dict[str, str]] = []
    for number in range(count):
        last = number == count - 1
        began = start + number * 60_000
        parent = client.create_run(
            experiment_id,
            start_time=began,
            tags={
                "mlflow.runName": "pipeline",
                "pipeline.stages": ",".join(stages),
                "pipeline.smoke": "false",
                "mlops.version": "test",
            },
        ).info.run_id
        ids = {"pipeline": parent}
        ran, reused, skipped = [], [], []
        status = "FINISHED"
        tags: dict[str, str] = {}
        clock = began
        for stage in stages:
            if last and stage in cached and made:
                reused.append(stage)
                tags[f"cache.{stage}.reused"] = made[-1][stage]
                tags[f"cache.{stage}.reason"] = f"unchanged since run {made[-1][stage]}"
                ids[stage] = made[-1][stage]
                continue
            if status == "FAILED":
                skipped.append(stage)
                continue
            run = client.create_run(
                experiment_id,
                start_time=clock,
                tags=stage_tags(stage, parent, number, kernel_prefix),
            ).info.run_id
            ids[stage] = run
            ran.append(stage)
            clock += 1000 + 100 * (number % 7)
            metrics = [
                Metric("accuracy", 0.7 + 0.002 * number, clock, 0),
                Metric("rows", float(1000 + number), clock, 0),
            ]
            params = [Param("seed", json.dumps(number)), Param("label", '"tiny"')]
            client.log_batch(run, metrics=metrics, params=params)
            if last and fail and fail[0] == stage:
                _, cell, error, message = fail
                for key, value in (
                    ("failure.cell", cell),
                    ("failure.error", error),
                    ("failure.message", message),
                ):
                    client.set_tag(run, key, value)
                client.set_terminated(run, "FAILED", end_time=clock)
                status = "FAILED"
            else:
                client.set_terminated(run, "FINISHED", end_time=clock)
        tags.update(
            {
                "pipeline.ran": ",".join(ran),
                "pipeline.cached": ",".join(reused),
                "pipeline.skipped": ",".join(skipped),
            }
        )
        for key, value in tags.items():
            client.set_tag(parent, key, value)
        client.set_terminated(parent, status, end_time=clock)
        made.append(ids)
    return made


def main(argv: Sequence[str]) -> int:
    """``python report_runs.py TRACKING_URI EXPERIMENT COUNT``: log COUNT
    pipeline runs into that store (the benchmark's set-up)."""
    from mlflow.tracking import MlflowClient

    uri, experiment, count = argv[0], argv[1], int(argv[2])
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = (
        found.experiment_id if found else client.create_experiment(experiment)
    )
    log_pipelines(client, experiment_id, count)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
